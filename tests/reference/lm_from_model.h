// Test support: a charlm model's current parameters as the double reference's (lm_ref.h), read
// through the model's insides (model_access) in oneDNN's gate order and dense layouts.
#pragma once

#include <vector>

#include "charlm/model.hpp"
#include "lm_ref.h"
#include "models/lm_impl.h"

namespace charlm::ref {

inline lm from_model(const language_model& m) {
    const auto& p = model_access::of(m);
    lm r;
    r.V = static_cast<int>(p.V);
    r.E = static_cast<int>(p.E);
    r.H = static_cast<int>(p.H);
    r.emb.assign(p.emb_w.begin(), p.emb_w.end());
    r.dec_w.assign(p.dec_w.begin(), p.dec_w.end());
    r.dec_b.assign(p.dec_b.begin(), p.dec_b.end());
    r.rnn.cell = p.cfg.cell;
    r.rnn.input = static_cast<int>(p.I);
    r.rnn.hidden = r.H;
    const int G = gate_count(p.cfg.cell), Gb = bias_gate_count(p.cfg.cell);
    for (uint32_t l = 0; l < p.cfg.layers; ++l) {
        const size_t in = l == 0 ? p.I : p.H;
        std::vector<float> wx(in * G * p.H), wh(static_cast<size_t>(p.H) * G * p.H), b(static_cast<size_t>(Gb) * p.H);
        p.rnn.get_layer(static_cast<int>(l), wx.data(), wh.data(), b.data());
        r.rnn.layers.push_back({{wx.begin(), wx.end()}, {wh.begin(), wh.end()}, {b.begin(), b.end()}});
    }
    return r;
}

}  // namespace charlm::ref
