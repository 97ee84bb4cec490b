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

// Names as the CLI and model files spell them (lib/src/config/names.cpp).
std::string to_string(cell_type c);
result<cell_type> parse_cell_type(std::string_view s);

// The output layer: a full softmax over the vocabulary, or an adaptive softmax (Grave et al.
// 2017; PyTorch's AdaptiveLogSoftmaxWithLoss) whose head holds the most frequent tokens and
// whose tail clusters of rarer tokens are reached through narrower projections.
enum class softmax_type { full, adaptive };

std::string to_string(softmax_type s);
result<softmax_type> parse_softmax_type(std::string_view s);

// The arithmetic of generation and evaluation (never of training): f32; int8 weights and
// activations where oneDNN 2.6 has them (the LSTM recurrence; every output layer; docs/int8.md);
// or bf16 weights and activations with f32 sums (every cell; every output layer; docs/bf16.md),
// converted from the f32 weights when a session first needs them.
enum class precision { f32, int8, bf16 };

std::string to_string(precision p);
// A name, and only a precision this CPU runs: bf16 needs avx512_bf16 (an errc::usage error naming
// it otherwise).
result<precision> parse_precision(std::string_view s);
// Empty when this CPU runs `p`; else why not (what parse_precision says; `training`: the hint names f32 alone).
std::string precision_unavailable(precision p, bool training = false);

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
    float dropout_input = 0.0f;   // on layer 0's input (the embedding rows), training only
    float dropout_output = 0.0f;  // on the last layer's output (the decoder's input), training only
    uint32_t vocab = 0;     // V, set from the corpus
    softmax_type softmax = softmax_type::full;
    // Adaptive softmax: the head holds ids [0, cutoffs[0]), cluster k ids [cutoffs[k], cutoffs[k+1])
    // (the last ends at V). Empty before training means: chosen from the corpus's frequencies.
    std::vector<uint32_t> cutoffs;
    float div_value = 4.0f;  // cluster k's projection width is floor(hidden / div^(k+1))

    // Width of layer 0's input.
    uint32_t input_width() const { return embed == 0 ? vocab : embed; }

    // Valid settings that do nothing, one sentence each (the CLI prints them as warnings).
    std::vector<std::string> warnings() const {
        std::vector<std::string> w;
        if (dropout > 0 && layers == 1)
            w.push_back("--dropout does nothing with --layers 1: dropout is applied between recurrent layers "
                        "(as in PyTorch's nn.LSTM), so it needs --layers 2 or more");
        return w;
    }

    // The ranges of the option table (charlm/options.hpp), then the adaptive softmax's cutoffs
    // against each other, the hidden size and the vocabulary. errc::usage naming the option.
    status validate() const;
};

}  // namespace charlm
