// Double-precision reference of stacked recurrent layers, forward and hand-written BPTT, written
// from oneDNN's equations; tests compare charlm::nn::rnn_stack against it. Plain loops, tests only.
// Not here: anything fast or anything oneDNN.
//
// Gate order as oneDNN: LSTM i, f, c~, o; GRU u, r, o; LBR-GRU u, r, o and bias rows u, r, o, u'.
// Weights are dense: W_x (I, G, H) "igo", W_h (H, G, H), bias (Gb, H); a_g = W_x,g^T x + W_h,g^T h + b_g.
//   RNN:  h = act(a)                                       act = tanh or relu
//   LSTM: i = s(a_i), f = s(a_f), c~ = tanh(a_c~), o = s(a_o); c = f c_prev + i c~; h = o tanh(c)
//   GRU:  u = s(a_u), r = s(a_r), o = tanh(W_x,o^T x + W_h,o^T (r . h_prev) + b_o); h = u h_prev + (1-u) o
//   LBR:  u, r as GRU; n = W_h,o^T h_prev + b_u'; o = tanh(W_x,o^T x + b_o + r . n); h as GRU
// Stacking: layer l+1's input is layer l's output times mask l (inverted dropout) when masks are given.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

#include "charlm/model_config.hpp"

namespace charlm::ref {

using vec = std::vector<double>;

struct layer {
    vec w_x;   // (I_l, G, H)
    vec w_h;   // (H, G, H)
    vec bias;  // (Gb, H)
};

struct stack {
    cell_type cell = cell_type::lstm;
    int input = 0, hidden = 0;  // I, H
    std::vector<layer> layers;
    int in_width(int l) const { return l == 0 ? input : hidden; }
};

// Everything backward needs, per layer l.
struct tape {
    int steps = 0, batch = 0;
    std::vector<vec> in;     // (T, N, I_l): the layer's input (after the mask)
    std::vector<vec> h, c;   // (T+1, N, H): h[0] is the initial state; c for LSTM
    std::vector<vec> gate;   // (T, N, G, H): activated gates
    std::vector<vec> extra;  // (T, N, H): LBR's n = W_h,o^T h_prev + b_u'
    std::vector<vec> masks;  // L-1 of (T, N, H), or empty
    vec out;                 // (T, N, H): top layer's output
    vec h_final, c_final;    // (L, N, H)
};

struct grads {
    std::vector<layer> d;  // same shapes as the weights
    vec dx;                // (T, N, I)
    vec dh0, dc0;          // (L, N, H)
};

inline double sigm(double a) { return 1.0 / (1.0 + std::exp(-a)); }

namespace detail {

// One time step of one sample. x (I), hp/cp (H) in; g (G, H), e (H), h/c (H) out.
inline void step(cell_type cell, const layer& w, int I, int H, const double* x, const double* hp,
                 const double* cp, double* g, double* e, double* h, double* c) {
    const int G = gate_count(cell);
    auto wx = [&](int gg, int o) {
        double a = 0;
        for (int i = 0; i < I; ++i) a += x[i] * w.w_x[(static_cast<size_t>(i) * G + gg) * H + o];
        return a;
    };
    auto wh = [&](const double* v, int gg, int o) {
        double a = 0;
        for (int j = 0; j < H; ++j) a += v[j] * w.w_h[(static_cast<size_t>(j) * G + gg) * H + o];
        return a;
    };
    auto pre = [&](int gg, int o) { return wx(gg, o) + wh(hp, gg, o) + w.bias[gg * H + o]; };
    switch (cell) {
        case cell_type::rnn_tanh:
        case cell_type::rnn_relu:
            for (int o = 0; o < H; ++o) {
                const double a = pre(0, o);
                g[o] = h[o] = cell == cell_type::rnn_tanh ? std::tanh(a) : (a > 0 ? a : 0.0);
            }
            break;
        case cell_type::lstm:
            for (int o = 0; o < H; ++o) {
                g[o] = sigm(pre(0, o));
                g[H + o] = sigm(pre(1, o));
                g[2 * H + o] = std::tanh(pre(2, o));
                g[3 * H + o] = sigm(pre(3, o));
                c[o] = g[H + o] * cp[o] + g[o] * g[2 * H + o];
                h[o] = g[3 * H + o] * std::tanh(c[o]);
            }
            break;
        case cell_type::gru:
        case cell_type::lbr_gru: {
            for (int o = 0; o < H; ++o) {
                g[o] = sigm(pre(0, o));
                g[H + o] = sigm(pre(1, o));
            }
            vec rh(H);
            for (int j = 0; j < H; ++j) rh[j] = g[H + j] * hp[j];
            for (int o = 0; o < H; ++o) {
                double a;
                if (cell == cell_type::gru) {
                    a = wx(2, o) + wh(rh.data(), 2, o) + w.bias[2 * H + o];
                } else {
                    e[o] = wh(hp, 2, o) + w.bias[3 * H + o];
                    a = wx(2, o) + w.bias[2 * H + o] + g[H + o] * e[o];
                }
                g[2 * H + o] = std::tanh(a);
                h[o] = g[o] * hp[o] + (1 - g[o]) * g[2 * H + o];
            }
            break;
        }
    }
}

// Backward of one step. dh (H) is the total gradient into h; dc (H) into c (LSTM), updated in
// place to the gradient into c_prev. Adds into dw and dx; writes dhp (H).
inline void step_back(cell_type cell, const layer& w, layer& dw, int I, int H, const double* x,
                      const double* hp, const double* cp, const double* g, const double* e,
                      const double* h, const double* c, const double* dh, double* dc, double* dx,
                      double* dhp) {
    const int G = gate_count(cell);
    vec da_x(static_cast<size_t>(G) * H, 0.0);  // gradient of each gate's pre-activation
    vec da_h(static_cast<size_t>(G) * H, 0.0);  // gradient of each gate's W_h^T h_prev term
    for (int j = 0; j < H; ++j) dhp[j] = 0;
    switch (cell) {
        case cell_type::rnn_tanh:
        case cell_type::rnn_relu:
            for (int o = 0; o < H; ++o) {
                da_x[o] = dh[o] * (cell == cell_type::rnn_tanh ? 1 - h[o] * h[o] : (h[o] > 0 ? 1.0 : 0.0));
            }
            da_h = da_x;
            break;
        case cell_type::lstm:
            for (int o = 0; o < H; ++o) {
                const double i = g[o], f = g[H + o], cc = g[2 * H + o], og = g[3 * H + o];
                const double tc = std::tanh(c[o]);
                const double dct = dc[o] + dh[o] * og * (1 - tc * tc);
                da_x[o] = dct * cc * i * (1 - i);
                da_x[H + o] = dct * cp[o] * f * (1 - f);
                da_x[2 * H + o] = dct * i * (1 - cc * cc);
                da_x[3 * H + o] = dh[o] * tc * og * (1 - og);
                dc[o] = dct * f;
            }
            da_h = da_x;
            break;
        case cell_type::gru:
        case cell_type::lbr_gru: {
            vec dr(H, 0.0);
            for (int o = 0; o < H; ++o) {
                const double u = g[o], og = g[2 * H + o];
                da_x[o] = dh[o] * (hp[o] - og) * u * (1 - u);
                da_x[2 * H + o] = dh[o] * (1 - u) * (1 - og * og);
                dhp[o] += dh[o] * u;
            }
            if (cell == cell_type::gru) {
                // o's recurrent input is r . h_prev: handled here, not through da_h.
                for (int j = 0; j < H; ++j) {
                    double d_rh = 0;
                    for (int o = 0; o < H; ++o) {
                        const size_t k = (static_cast<size_t>(j) * G + 2) * H + o;
                        d_rh += w.w_h[k] * da_x[2 * H + o];
                        dw.w_h[k] += g[H + j] * hp[j] * da_x[2 * H + o];
                    }
                    dr[j] = d_rh * hp[j];
                    dhp[j] += d_rh * g[H + j];
                }
            } else {
                for (int o = 0; o < H; ++o) {
                    dr[o] = da_x[2 * H + o] * e[o];
                    da_h[2 * H + o] = da_x[2 * H + o] * g[H + o];  // gradient into n
                    dw.bias[3 * H + o] += da_h[2 * H + o];
                }
            }
            for (int o = 0; o < H; ++o) {
                da_x[H + o] = dr[o] * g[H + o] * (1 - g[H + o]);
                da_h[o] = da_x[o];
                da_h[H + o] = da_x[H + o];
            }
            break;
        }
    }
    for (int gg = 0; gg < G; ++gg) {
        for (int o = 0; o < H; ++o) {
            const double ax = da_x[gg * H + o], ah = da_h[gg * H + o];
            dw.bias[gg * H + o] += ax;
            for (int i = 0; i < I; ++i) {
                const size_t k = (static_cast<size_t>(i) * G + gg) * H + o;
                dw.w_x[k] += x[i] * ax;
                dx[i] += w.w_x[k] * ax;
            }
            for (int j = 0; j < H; ++j) {
                const size_t k = (static_cast<size_t>(j) * G + gg) * H + o;
                dw.w_h[k] += hp[j] * ah;
                dhp[j] += w.w_h[k] * ah;
            }
        }
    }
}

}  // namespace detail

// x (T, N, I); h0, c0 (L, N, H) or empty for zeros; masks: L-1 of (T, N, H) or empty.
inline tape forward(const stack& s, int T, int N, const vec& x, const vec& h0 = {}, const vec& c0 = {},
                    const std::vector<vec>& masks = {}) {
    const int L = static_cast<int>(s.layers.size()), H = s.hidden, G = gate_count(s.cell);
    const size_t NH = static_cast<size_t>(N) * H;
    tape tp;
    tp.steps = T;
    tp.batch = N;
    tp.masks = masks;
    tp.h_final.assign(L * NH, 0.0);
    tp.c_final.assign(L * NH, 0.0);
    for (int l = 0; l < L; ++l) {
        const int I = s.in_width(l);
        vec in = l == 0 ? x : tp.out;
        if (l > 0 && !masks.empty()) {
            for (size_t k = 0; k < in.size(); ++k) in[k] *= masks[l - 1][k];
        }
        vec h((T + 1) * NH, 0.0), c((T + 1) * NH, 0.0), gate(static_cast<size_t>(T) * N * G * H), extra(T * NH);
        for (size_t k = 0; k < NH; ++k) {
            if (!h0.empty()) h[k] = h0[l * NH + k];
            if (!c0.empty()) c[k] = c0[l * NH + k];
        }
        for (int t = 0; t < T; ++t) {
            for (int n = 0; n < N; ++n) {
                const size_t tn = static_cast<size_t>(t) * N + n;
                detail::step(s.cell, s.layers[l], I, H, &in[tn * I], &h[t * NH + n * H], &c[t * NH + n * H],
                             &gate[tn * G * H], &extra[tn * H], &h[(t + 1) * NH + n * H],
                             &c[(t + 1) * NH + n * H]);
            }
        }
        tp.out.assign(h.begin() + NH, h.end());
        for (size_t k = 0; k < NH; ++k) {
            tp.h_final[l * NH + k] = h[T * NH + k];
            tp.c_final[l * NH + k] = c[T * NH + k];
        }
        tp.in.push_back(std::move(in));
        tp.h.push_back(std::move(h));
        tp.c.push_back(std::move(c));
        tp.gate.push_back(std::move(gate));
        tp.extra.push_back(std::move(extra));
    }
    return tp;
}

// d_out (T, N, H); d_hT, d_cT (L, N, H) gradients into the final state, or empty for zero
// (truncated BPTT, what rnn_stack::backward computes).
inline grads backward(const stack& s, const tape& tp, const vec& d_out, const vec& d_hT = {},
                      const vec& d_cT = {}) {
    const int L = static_cast<int>(s.layers.size()), H = s.hidden, G = gate_count(s.cell);
    const int T = tp.steps, N = tp.batch;
    const size_t NH = static_cast<size_t>(N) * H;
    grads gr;
    gr.dh0.assign(L * NH, 0.0);
    gr.dc0.assign(L * NH, 0.0);
    gr.d.resize(L);
    vec dy = d_out;
    for (int l = L - 1; l >= 0; --l) {
        const int I = s.in_width(l);
        const layer& w = s.layers[l];
        layer& dw = gr.d[l];
        dw.w_x.assign(w.w_x.size(), 0.0);
        dw.w_h.assign(w.w_h.size(), 0.0);
        dw.bias.assign(w.bias.size(), 0.0);
        vec dh_next(NH, 0.0), dc_next(NH, 0.0), d_in(static_cast<size_t>(T) * N * I, 0.0), dh(H), dhp(H);
        for (size_t k = 0; k < NH; ++k) {
            if (!d_hT.empty()) dh_next[k] = d_hT[l * NH + k];
            if (!d_cT.empty()) dc_next[k] = d_cT[l * NH + k];
        }
        for (int t = T - 1; t >= 0; --t) {
            for (int n = 0; n < N; ++n) {
                const size_t tn = static_cast<size_t>(t) * N + n;
                for (int o = 0; o < H; ++o) dh[o] = dy[tn * H + o] + dh_next[n * H + o];
                detail::step_back(s.cell, w, dw, I, H, &tp.in[l][tn * I], &tp.h[l][t * NH + n * H],
                                  &tp.c[l][t * NH + n * H], &tp.gate[l][tn * G * H], &tp.extra[l][tn * H],
                                  &tp.h[l][(t + 1) * NH + n * H], &tp.c[l][(t + 1) * NH + n * H], dh.data(),
                                  &dc_next[n * H], &d_in[tn * I], dhp.data());
                for (int o = 0; o < H; ++o) dh_next[n * H + o] = dhp[o];
            }
        }
        for (size_t k = 0; k < NH; ++k) {
            gr.dh0[l * NH + k] = dh_next[k];
            gr.dc0[l * NH + k] = dc_next[k];
        }
        if (l > 0 && !tp.masks.empty()) {
            for (size_t k = 0; k < d_in.size(); ++k) d_in[k] *= tp.masks[l - 1][k];
        }
        if (l == 0) gr.dx = std::move(d_in);
        else dy = std::move(d_in);
    }
    return gr;
}

}  // namespace charlm::ref
