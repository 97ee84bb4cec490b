// Per-cell oneDNN 2.6 plumbing for rnn_stack: memory descriptors of one group of layers, the three
// primitive descriptors (forward training, forward inference, backward), and copies between a
// padded oneDNN weight layout and the dense user layout.
// Not here: buffers, state handling, dropout (rnn_stack.cpp).
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include "charlm/model_config.hpp"

namespace charlm::nn {

// Descriptors of one group of Lg layers at (T, N); D = 1 (left to right).
struct rnn_mds {
    dnnl::memory::desc src_layer;             // (T, N, Ig) tnc; also diff_src_layer
    dnnl::memory::desc src_iter, src_iter_c;  // (Lg, 1, N, H) ldnc; _c empty unless LSTM; also diffs
    dnnl::memory::desc w_x, w_h;              // forward: (Lg, 1, Ig, G, H), (Lg, 1, H, G, H)
    dnnl::memory::desc bias;                  // (Lg, 1, Gb, H) ldgo; also diff_bias
    dnnl::memory::desc dst_layer;             // (T, N, H) tnc; also diff_dst_layer
    dnnl::memory::desc dst_iter, dst_iter_c;  // as src_iter
    dnnl::memory::desc bwd_w_x, bwd_w_h;      // backward weights (ldgoi family)
    dnnl::memory::desc diff_w_x, diff_w_h;    // gradients (ldigo family)
    // The gradients of the layer data and h: f32 always (oneDNN 2.6's bf16 backward takes no other).
    dnnl::memory::desc diff_src_layer, diff_src_iter, diff_dst_layer, diff_dst_iter;
};

// Fills everything but the six weight descriptors, which the caller chooses. `data`: the type of
// the layer data and h (f32, or bf16 for bf16 training); bias, LSTM c and every diff stay f32.
rnn_mds make_rnn_mds(cell_type cell, int layers, int input, int hidden, int steps, int batch,
                     dnnl::memory::data_type data = dnnl::memory::data_type::f32);

struct rnn_pds {
    dnnl::rnn_primitive_desc_base train, infer, bwd;
};
// Aborts with oneDNN's message if a descriptor is refused: every shape here is valid by
// construction, so a refusal is an internal error.
rnn_pds make_rnn_pds(const dnnl::engine& eng, cell_type cell, const rnn_mds& m);
// The forward-inference descriptor alone, for weights m.w_x, m.w_h (format `any` lets oneDNN
// choose its inference layout, which may differ from training's and may depend on (T, N)).
dnnl::rnn_primitive_desc_base make_rnn_infer_pd(const dnnl::engine& eng, cell_type cell, const rnn_mds& m);

// Copies sub-tensor k (outermost dimension) of a plain strided tensor `buf` with descriptor `d`
// to or from a dense row-major array of the remaining dimensions, minus the D = 1 dimension.
// (Lg, 1, A, G, H) <-> (A, G, H); (Lg, 1, Gb, H) <-> (Gb, H).
// True for a strided layout without inner blocks (ldigo, ldgoi, padded or not).
bool is_plain(const dnnl::memory::desc& d);
enum class layer_copy { to_dense, from_dense };
void copy_layer(const dnnl::memory::desc& d, float* buf, int k, float* dense, layer_copy dir);

}  // namespace charlm::nn
