// Double-precision reference of the whole language model: embedding (or one-hot) -> the
// reference recurrent stack (rnn_ref.h) -> decoder (V, H) as nn.Linear -> mean softmax
// cross-entropy over targets >= 0, with hand-written gradients. Tests only; plain loops.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "rnn_ref.h"

namespace charlm::ref {

struct lm {
    int V = 0, E = 0, H = 0;  // E == 0: one-hot input of width V
    vec emb;                  // (V, E)
    stack rnn;
    vec dec_w;                // (V, H)
    vec dec_b;                // (V)
};

struct lm_grads {
    vec emb, dec_w, dec_b;
    std::vector<layer> rnn;
    vec dh0, dc0;  // (L, N, H)
};

// Inverted-dropout masks, each empty or as large as what it multiplies: the first layer's input
// (T, N, I), each layer boundary's (T, N, H), the last layer's output before the decoder (T, N, H).
struct dropout_masks {
    vec in;
    std::vector<vec> layers;
    vec out;
};

// Mean NLL over targets >= 0 of a (T, N) batch, time-major. h0, c0: (L, N, H) or empty.
// With `g`, also the gradients of that mean.
inline double lm_loss(const lm& m, int T, int N, const std::vector<int32_t>& in, const std::vector<int32_t>& tg,
                      const vec& h0, const vec& c0, lm_grads* g = nullptr, double* nll_sum = nullptr,
                      const dropout_masks& dm = {}) {
    const size_t M = static_cast<size_t>(T) * N;
    const int I = m.E > 0 ? m.E : m.V;
    vec x(M * I, 0.0);
    for (size_t r = 0; r < M; ++r) {
        if (m.E > 0) {
            for (int e = 0; e < m.E; ++e) x[r * I + e] = m.emb[static_cast<size_t>(in[r]) * m.E + e];
        } else {
            x[r * I + in[r]] = 1.0;
        }
    }
    for (size_t k = 0; k < dm.in.size(); ++k) x[k] *= dm.in[k];
    tape tp = forward(m.rnn, T, N, x, h0, c0, dm.layers);
    vec y = tp.out;  // the decoder's input
    for (size_t k = 0; k < dm.out.size(); ++k) y[k] *= dm.out[k];
    vec logits(M * m.V);
    for (size_t r = 0; r < M; ++r)
        for (int v = 0; v < m.V; ++v) {
            double a = m.dec_b[v];
            for (int h = 0; h < m.H; ++h) a += y[r * m.H + h] * m.dec_w[static_cast<size_t>(v) * m.H + h];
            logits[r * m.V + v] = a;
        }
    double sum = 0;
    size_t count = 0;
    vec prob(M * m.V, 0.0);
    for (size_t r = 0; r < M; ++r) {
        if (tg[r] < 0) continue;
        double mx = logits[r * m.V];
        for (int v = 1; v < m.V; ++v) mx = std::max(mx, logits[r * m.V + v]);
        double z = 0;
        for (int v = 0; v < m.V; ++v) z += std::exp(logits[r * m.V + v] - mx);
        sum += std::log(z) + mx - logits[r * m.V + tg[r]];
        for (int v = 0; v < m.V; ++v) prob[r * m.V + v] = std::exp(logits[r * m.V + v] - mx) / z;
        ++count;
    }
    if (nll_sum) *nll_sum = sum;
    const double mean = count ? sum / static_cast<double>(count) : 0.0;
    if (!g) return mean;

    g->dec_w.assign(m.dec_w.size(), 0.0);
    g->dec_b.assign(m.dec_b.size(), 0.0);
    vec dout(M * m.H, 0.0);
    for (size_t r = 0; r < M; ++r) {
        if (tg[r] < 0) continue;
        for (int v = 0; v < m.V; ++v) {
            const double d = (prob[r * m.V + v] - (v == tg[r] ? 1.0 : 0.0)) / static_cast<double>(count);
            g->dec_b[v] += d;
            for (int h = 0; h < m.H; ++h) {
                g->dec_w[static_cast<size_t>(v) * m.H + h] += d * y[r * m.H + h];
                dout[r * m.H + h] += d * m.dec_w[static_cast<size_t>(v) * m.H + h];
            }
        }
    }
    for (size_t k = 0; k < dm.out.size(); ++k) dout[k] *= dm.out[k];
    grads gr = backward(m.rnn, tp, dout);
    for (size_t k = 0; k < dm.in.size(); ++k) gr.dx[k] *= dm.in[k];
    g->rnn = gr.d;
    g->dh0 = gr.dh0;
    g->dc0 = gr.dc0;
    g->emb.assign(m.emb.size(), 0.0);
    if (m.E > 0)
        for (size_t r = 0; r < M; ++r)
            for (int e = 0; e < m.E; ++e) g->emb[static_cast<size_t>(in[r]) * m.E + e] += gr.dx[r * I + e];
    return mean;
}

}  // namespace charlm::ref
