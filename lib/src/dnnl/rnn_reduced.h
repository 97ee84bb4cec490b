// The recurrence of generation and evaluation in int8 or bf16 (--precision) on oneDNN 2.6's
// reduced-precision inference primitives, one per layer.
// int8: the LSTM primitive (GRU's exists but is not used: see supports()): u8 layer data, s8
// weights with per-gate, per-channel scales, f32 bias, recurrent state (h, and c for LSTM) kept in
// f32 between calls. Vanilla RNN and LBR-GRU have no int8 primitive in oneDNN 2.6: they stay f32.
// bf16 (every cell; CPUs with avx512_bf16): bf16 layer data, weights and h, f32 bias and c; oneDNN
// accumulates in f32. h is kept in f32 too (state(), set_state()) and rounded to bf16 for the
// primitive.
// Not here: training (rnn_stack.h), the output layer (layers/qgemm.h).
//
// int8 details:
// Quantization. oneDNN applies ONE data scale and shift to a primitive's layer input and its
// recurrent state (both go through the same u8 GEMM input): u8 = round(127 x + 128), so x in
// [-1.008, 1.008] with 0 exact. The hidden state of LSTM (o * tanh c) and GRU (a convex mix of
// tanh and the previous h) lies in [-1, 1], so layers 1..L-1 need no calibration. Layer 0 reads
// an embedding row, of any range: it reads e / a instead, with its input weights multiplied by a
// (the product is unchanged), where a = max |e| over the embedding table. The table holds every
// input layer 0 can ever see, so this range is exact without a calibration text (a one-hot input
// has a = 1). Weights: per (gate, channel) the scale 127 / max |w| over that column of W_x and
// W_h together (their sums meet in one s32 accumulator). One primitive per layer, so each layer
// has its own scales (a stacked primitive would share them across layers).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "charlm/model_config.hpp"

namespace charlm::nn {

class rnn_weights;

// Read-only once made; sessions on several threads share it (the s8 buffers are built on first
// use per oneDNN layout, under a lock, and kept).
class rnn_reduced_weights {
public:
    // True for the cells whose recurrence runs in p (int8 or bf16): int8 LSTM (GRU has a primitive
    // too, but see supports() in rnn_reduced.cpp); bf16 every cell.
    static bool supports(cell_type c, precision p);
    // From the f32 weights (copied: later changes to `w` are not seen). input_rows (rows, I): the
    // embedding table; null: one-hot (rows == I). p: int8 or bf16.
    rnn_reduced_weights(const rnn_weights& w, const float* input_rows, int rows, precision p);
    ~rnn_reduced_weights();

    float input_range() const { return range_; }  // a: layer 0 reads e / a (int8; bf16: 1)
    bool bf16() const { return bf16_; }
    cell_type cell() const { return cell_; }
    int layers() const { return static_cast<int>(layers_.size()); }
    int hidden() const { return hidden_; }
    size_t weight_bytes() const;  // s8 or bf16 weights and f32 bias, as dense tensors

private:
    friend class rnn_reduced;
    struct layer {
        int input = 0;
        std::vector<float> w_x, w_h, bias;  // dense (I, G, H), (H, G, H), (Gb, H); w_x of layer 0 times a
        std::vector<float> scales;          // int8: (G * H): oneDNN's w_s8 = round(w * scale)
    };
    // Layer l's weights (which 0: w_x, 1: w_h) quantized to s8 or rounded to bf16, in layout `d`.
    std::shared_ptr<const void> quantized(const dnnl::engine& eng, int l, int which, const dnnl::memory::desc& d) const;
    dnnl::primitive_attr attr(int l) const;
    // int8: per (g, o) of `columns`, 127 / max |w| over that column of w_x and w_h (ldigo).
    static std::vector<float> scales_of(const std::vector<float>& w_x, const std::vector<float>& w_h, int columns);

    cell_type cell_;
    int hidden_, rows_;
    bool bf16_;
    float range_ = 1.f;
    std::vector<layer> layers_;
    // (rows, I) in the layer data's type: u8 round(127 e / a + 128), or bf16 e; empty for one-hot
    std::vector<uint8_t> input_;
    struct entry {
        int layer, which;
        dnnl::memory::desc desc;
        std::shared_ptr<const void> data;
    };
    mutable std::mutex mutex_;
    mutable std::vector<entry> entries_;
};

// A session at (T, N): its primitives (one per layer), buffers and recurrent state, which starts
// at zero and carries from call to call.
class rnn_reduced {
public:
    rnn_reduced(const rnn_reduced_weights& w, const dnnl::engine& eng, int steps, int batch);
    ~rnn_reduced();
    rnn_reduced(const rnn_reduced&) = delete;
    rnn_reduced& operator=(const rnn_reduced&) = delete;

    // ids (T, N) tnc, each < rows. Returns the top layer's output (T, N, H) f32, valid until the
    // next call; the final state becomes the next call's initial state.
    const float* forward(const int32_t* ids);
    void reset_state();
    const float* state_h() const { return h_[cur_].data(); }  // (L, N, H) ldnc
    const float* state_c() const { return c_[cur_].empty() ? nullptr : c_[cur_].data(); }
    void set_state(const float* h, const float* c);  // h, c (L, N, H)
    // Every row's state becomes `one_row`'s only row.
    void broadcast_state(const rnn_reduced& one_row);
    int steps() const { return steps_; }
    int batch() const { return batch_; }

private:
    struct layer_run;
    void bind_layer(int l);
    void fill_input(const int32_t* ids);
    void h_to_primitive();  // bf16: h_[cur_] rounded into hb_[cur_]
    const rnn_reduced_weights& w_;
    dnnl::engine eng_;
    dnnl::stream strm_;
    int steps_, batch_;
    size_t elem_;                              // bytes of a layer-data value: 1 (u8) or 2 (bf16)
    std::vector<uint8_t> src_;                 // (T, N, I) u8 or bf16
    std::vector<std::vector<uint8_t>> mid_;    // per layer below the top: (T, N, H) u8 or bf16
    std::vector<uint16_t> top_;                // bf16: (T, N, H), the top layer's output
    std::vector<float> out_;                   // (T, N, H) f32
    std::vector<float> h_[2], c_[2];           // (L, N, H) ldnc, ping-pong
    std::vector<uint16_t> hb_[2];              // bf16: h_ as the primitive reads and writes it
    int cur_ = 0;
    std::vector<layer_run> runs_;
    std::vector<std::shared_ptr<const void>> held_;  // the quantized weights in use
};

}  // namespace charlm::nn
