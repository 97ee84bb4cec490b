// Per-cell oneDNN 2.6 descriptor plumbing for rnn_stack (see rnn_primitives.h). Uses the 2.x
// object model: X::desc -> X::primitive_desc(desc, engine[, forward hint]) -> primitive.
// Not here: buffers and execution (rnn_stack.cpp).
#include "dnnl/rnn_primitives.h"

#include <string>

#include "charlm/status.hpp"

namespace charlm::nn {

using dnnl::memory;
using dnnl::prop_kind;
using md = memory::desc;

rnn_mds make_rnn_mds(cell_type cell, int layers, int input, int hidden, int steps, int batch,
                     memory::data_type data) {
    constexpr auto f32 = memory::data_type::f32;
    const memory::dim L = layers, I = input, H = hidden, T = steps, N = batch;
    rnn_mds m;
    m.src_layer = md({T, N, I}, data, memory::format_tag::tnc);
    m.dst_layer = md({T, N, H}, data, memory::format_tag::tnc);
    m.src_iter = m.dst_iter = md({L, 1, N, H}, data, memory::format_tag::ldnc);
    m.diff_src_layer = md({T, N, I}, f32, memory::format_tag::tnc);
    m.diff_dst_layer = md({T, N, H}, f32, memory::format_tag::tnc);
    m.diff_src_iter = m.diff_dst_iter = md({L, 1, N, H}, f32, memory::format_tag::ldnc);
    if (cell == cell_type::lstm) m.src_iter_c = m.dst_iter_c = m.diff_src_iter;
    m.bias = md({L, 1, bias_gate_count(cell), H}, f32, memory::format_tag::ldgo);
    return m;
}

namespace {

const auto dir = dnnl::rnn_direction::unidirectional_left2right;

// LSTM: the only cell with a cell state (the _c tensors).
rnn_pds lstm_pds(const dnnl::engine& eng, const rnn_mds& m) {
    using fwd = dnnl::lstm_forward;
    using bwd = dnnl::lstm_backward;
    auto fdesc = [&](prop_kind pk) {
        return fwd::desc(pk, dir, m.src_layer, m.src_iter, m.src_iter_c, m.w_x, m.w_h, m.bias, m.dst_layer,
                         m.dst_iter, m.dst_iter_c);
    };
    fwd::primitive_desc train(fdesc(prop_kind::forward_training), eng);
    fwd::primitive_desc infer(fdesc(prop_kind::forward_inference), eng);
    bwd::desc bd(prop_kind::backward, dir, m.src_layer, m.src_iter, m.src_iter_c, m.bwd_w_x, m.bwd_w_h, m.bias,
                 m.dst_layer, m.dst_iter, m.dst_iter_c, m.diff_src_layer, m.diff_src_iter, m.src_iter_c,
                 m.diff_w_x, m.diff_w_h, m.bias, m.diff_dst_layer, m.diff_dst_iter, m.dst_iter_c);
    return {train, infer, bwd::primitive_desc(bd, eng, train)};
}

// GRU and LBR-GRU share the argument list.
template <class fwd, class bwd>
rnn_pds gru_pds(const dnnl::engine& eng, const rnn_mds& m) {
    auto fdesc = [&](prop_kind pk) {
        return typename fwd::desc(pk, dir, m.src_layer, m.src_iter, m.w_x, m.w_h, m.bias, m.dst_layer, m.dst_iter);
    };
    typename fwd::primitive_desc train(fdesc(prop_kind::forward_training), eng);
    typename fwd::primitive_desc infer(fdesc(prop_kind::forward_inference), eng);
    typename bwd::desc bd(prop_kind::backward, dir, m.src_layer, m.src_iter, m.bwd_w_x, m.bwd_w_h, m.bias,
                          m.dst_layer, m.dst_iter, m.diff_src_layer, m.diff_src_iter, m.diff_w_x, m.diff_w_h,
                          m.bias, m.diff_dst_layer, m.diff_dst_iter);
    return {train, infer, typename bwd::primitive_desc(bd, eng, train)};
}

// Vanilla RNN: the activation is an argument; relu with negative slope alpha = 0.
rnn_pds vanilla_pds(const dnnl::engine& eng, dnnl::algorithm act, const rnn_mds& m) {
    using fwd = dnnl::vanilla_rnn_forward;
    using bwd = dnnl::vanilla_rnn_backward;
    auto fdesc = [&](prop_kind pk) {
        return fwd::desc(pk, act, dir, m.src_layer, m.src_iter, m.w_x, m.w_h, m.bias, m.dst_layer, m.dst_iter);
    };
    fwd::primitive_desc train(fdesc(prop_kind::forward_training), eng);
    fwd::primitive_desc infer(fdesc(prop_kind::forward_inference), eng);
    bwd::desc bd(prop_kind::backward, act, dir, m.src_layer, m.src_iter, m.bwd_w_x, m.bwd_w_h, m.bias, m.dst_layer,
                 m.dst_iter, m.diff_src_layer, m.diff_src_iter, m.diff_w_x, m.diff_w_h, m.bias, m.diff_dst_layer,
                 m.diff_dst_iter);
    return {train, infer, bwd::primitive_desc(bd, eng, train)};
}

}  // namespace

rnn_pds make_rnn_pds(const dnnl::engine& eng, cell_type cell, const rnn_mds& m) {
    try {
        switch (cell) {
            case cell_type::lstm: return lstm_pds(eng, m);
            case cell_type::gru: return gru_pds<dnnl::gru_forward, dnnl::gru_backward>(eng, m);
            case cell_type::lbr_gru: return gru_pds<dnnl::lbr_gru_forward, dnnl::lbr_gru_backward>(eng, m);
            case cell_type::rnn_relu: return vanilla_pds(eng, dnnl::algorithm::eltwise_relu, m);
            case cell_type::rnn_tanh: return vanilla_pds(eng, dnnl::algorithm::eltwise_tanh, m);
        }
    } catch (const dnnl::error& e) {
        const std::string what = "oneDNN refused an RNN descriptor (" + to_string(cell) + "): " + e.what();
        assert_fail(what.c_str(), __FILE__, __LINE__);
    }
    assert_fail("unknown cell type", __FILE__, __LINE__);
}

dnnl::rnn_primitive_desc_base make_rnn_infer_pd(const dnnl::engine& eng, cell_type cell, const rnn_mds& m) {
    const auto pk = prop_kind::forward_inference;
    try {
        switch (cell) {
            case cell_type::lstm:
                return dnnl::lstm_forward::primitive_desc(
                    {pk, dir, m.src_layer, m.src_iter, m.src_iter_c, m.w_x, m.w_h, m.bias, m.dst_layer, m.dst_iter,
                     m.dst_iter_c},
                    eng);
            case cell_type::gru:
                return dnnl::gru_forward::primitive_desc(
                    {pk, dir, m.src_layer, m.src_iter, m.w_x, m.w_h, m.bias, m.dst_layer, m.dst_iter}, eng);
            case cell_type::lbr_gru:
                return dnnl::lbr_gru_forward::primitive_desc(
                    {pk, dir, m.src_layer, m.src_iter, m.w_x, m.w_h, m.bias, m.dst_layer, m.dst_iter}, eng);
            case cell_type::rnn_relu:
            case cell_type::rnn_tanh: {
                const auto act = cell == cell_type::rnn_relu ? dnnl::algorithm::eltwise_relu
                                                             : dnnl::algorithm::eltwise_tanh;
                return dnnl::vanilla_rnn_forward::primitive_desc(
                    {pk, act, dir, m.src_layer, m.src_iter, m.w_x, m.w_h, m.bias, m.dst_layer, m.dst_iter}, eng);
            }
        }
    } catch (const dnnl::error& e) {
        const std::string what = "oneDNN refused an RNN inference descriptor (" + to_string(cell) + "): " + e.what();
        assert_fail(what.c_str(), __FILE__, __LINE__);
    }
    assert_fail("unknown cell type", __FILE__, __LINE__);
}

bool is_plain(const md& d) {
    return d.data.format_kind == dnnl_blocked && d.data.format_desc.blocking.inner_nblks == 0;
}

void copy_layer(const md& d, float* buf, int k, float* dense, layer_copy dir_) {
    const dnnl_memory_desc_t& c = d.data;
    CHARLM_ASSERT(is_plain(d));
    CHARLM_ASSERT(c.ndims == 4 || c.ndims == 5);
    CHARLM_ASSERT(c.dims[1] == 1 && k >= 0 && k < c.dims[0]);
    const auto* s = c.format_desc.blocking.strides;
    const int nd = c.ndims;
    // Dense dims after (Lg, 1): (A, G, H) or (Gb, H); A collapses to 1 for the bias.
    const memory::dim a_n = nd == 5 ? c.dims[2] : 1, g_n = c.dims[nd - 2], o_n = c.dims[nd - 1];
    const memory::dim a_s = nd == 5 ? s[2] : 0, g_s = s[nd - 2], o_s = s[nd - 1];
    float* base = buf + c.offset0 + k * s[0];
    size_t i = 0;
    for (memory::dim a = 0; a < a_n; ++a) {
        for (memory::dim g = 0; g < g_n; ++g) {
            float* row = base + a * a_s + g * g_s;
            for (memory::dim o = 0; o < o_n; ++o, ++i) {
                if (dir_ == layer_copy::to_dense) {
                    dense[i] = row[o * o_s];
                } else {
                    row[o * o_s] = dense[i];
                }
            }
        }
    }
}

}  // namespace charlm::nn
