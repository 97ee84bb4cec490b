// The model's configuration: cell type and sizes. Defaults here are the CLI's defaults.
// Not here: the model itself (model.hpp) or training settings (train.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "charlm/status.hpp"

namespace charlm {

// rnn_tanh/rnn_relu: vanilla RNN; gru: Cho et al. / d2l (reset before the matrix product,
// oneDNN vanilla_gru); lbr_gru: linear-before-reset (PyTorch's and cuDNN's GRU); lstm.
enum class cell_type { rnn_tanh, rnn_relu, gru, lbr_gru, lstm };

inline int gate_count(cell_type c) {
    switch (c) {
        case cell_type::gru:
        case cell_type::lbr_gru: return 3;
        case cell_type::lstm: return 4;
        default: return 1;
    }
}
// Rows of the bias tensor: LBR-GRU has an extra one (u').
inline int bias_gate_count(cell_type c) { return c == cell_type::lbr_gru ? 4 : gate_count(c); }

inline std::string to_string(cell_type c) {
    switch (c) {
        case cell_type::rnn_tanh: return "rnn";
        case cell_type::rnn_relu: return "rnn-relu";
        case cell_type::gru: return "gru";
        case cell_type::lbr_gru: return "lbr-gru";
        case cell_type::lstm: return "lstm";
    }
    return "?";
}

inline result<cell_type> parse_cell_type(std::string_view s) {
    if (s == "rnn" || s == "rnn-tanh") return cell_type::rnn_tanh;
    if (s == "rnn-relu") return cell_type::rnn_relu;
    if (s == "gru") return cell_type::gru;
    if (s == "lbr-gru") return cell_type::lbr_gru;
    if (s == "lstm") return cell_type::lstm;
    return make_error(errc::usage, "unknown cell '" + std::string(s) +
                                       "': use rnn, rnn-relu, gru, lbr-gru or lstm");
}

// The output layer: a full softmax over the vocabulary, or an adaptive softmax (Grave et al.
// 2017; PyTorch's AdaptiveLogSoftmaxWithLoss) whose head holds the most frequent tokens and
// whose tail clusters of rarer tokens are reached through narrower projections.
enum class softmax_type { full, adaptive };

inline std::string to_string(softmax_type s) { return s == softmax_type::full ? "full" : "adaptive"; }

inline result<softmax_type> parse_softmax_type(std::string_view s) {
    if (s == "full") return softmax_type::full;
    if (s == "adaptive") return softmax_type::adaptive;
    return make_error(errc::usage, "unknown softmax '" + std::string(s) + "': use full or adaptive");
}

// Width of adaptive-softmax cluster k's projection (k from 0), as PyTorch computes it:
// floor(hidden / div^(k+1)).
inline uint32_t adaptive_tail_width(uint32_t hidden, float div_value, size_t k) {
    double d = div_value;
    for (size_t i = 0; i < k; ++i) d *= div_value;
    return static_cast<uint32_t>(hidden / d);
}

struct model_config {
    cell_type cell = cell_type::lstm;
    uint32_t layers = 2;
    uint32_t hidden = 256;
    uint32_t embed = 64;    // 0: one-hot input of width V, as in the textbook
    float dropout = 0.0f;   // between recurrent layers, training only
    uint32_t vocab = 0;     // V, set from the corpus
    softmax_type softmax = softmax_type::full;
    // Adaptive softmax: the head holds ids [0, cutoffs[0]), cluster k ids [cutoffs[k], cutoffs[k+1])
    // (the last ends at V). Empty before training means: chosen from the corpus's frequencies.
    std::vector<uint32_t> cutoffs;
    float div_value = 4.0f;  // cluster k's projection width is floor(hidden / div^(k+1))

    // Width of layer 0's input.
    uint32_t input_width() const { return embed == 0 ? vocab : embed; }

    status validate() const {
        if (layers < 1 || layers > 16) return make_error(errc::usage, "--layers must be between 1 and 16");
        if (hidden < 1 || hidden > 8192) return make_error(errc::usage, "--hidden must be between 1 and 8192");
        if (embed > 8192) return make_error(errc::usage, "--embed must be between 0 and 8192");
        if (!(dropout >= 0.0f && dropout < 1.0f)) return make_error(errc::usage, "--dropout must be in [0, 1)");
        if (softmax == softmax_type::full && !cutoffs.empty())
            return make_error(errc::usage, "--cutoffs needs --softmax adaptive");
        if (softmax == softmax_type::adaptive) {
            if (!(div_value >= 1.0f && div_value <= 1024.0f))
                return make_error(errc::usage, "--div-value must be between 1 and 1024");
            if (cutoffs.size() > 16) return make_error(errc::usage, "--cutoffs: at most 16 clusters");
            for (size_t k = 0; k < cutoffs.size(); ++k) {
                if (cutoffs[k] == 0 || (k > 0 && cutoffs[k] <= cutoffs[k - 1]))
                    return make_error(errc::usage, "--cutoffs must be positive and strictly increasing, e.g. 1000,3000");
                if (adaptive_tail_width(hidden, div_value, k) < 1)
                    return make_error(errc::usage,
                                      "--cutoffs: cluster " + std::to_string(k + 1) + "'s projection would be " +
                                          "narrower than 1 (hidden / div-value^" + std::to_string(k + 1) +
                                          "); use fewer clusters or a smaller --div-value");
            }
            if (vocab > 0 && !cutoffs.empty() && cutoffs.back() >= vocab)
                return make_error(errc::usage, "--cutoffs: the last cutoff (" + std::to_string(cutoffs.back()) +
                                                   ") must be below the vocabulary size (" + std::to_string(vocab) +
                                                   ")");
        }
        return {};
    }
};

}  // namespace charlm
