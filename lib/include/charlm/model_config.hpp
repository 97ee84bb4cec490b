// The model's configuration: cell type and sizes. Defaults here are the CLI's defaults.
// Not here: the model itself (model.hpp) or training settings (train.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

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

struct model_config {
    cell_type cell = cell_type::lstm;
    uint32_t layers = 2;
    uint32_t hidden = 256;
    uint32_t embed = 64;    // 0: one-hot input of width V, as in the textbook
    float dropout = 0.0f;   // between recurrent layers, training only
    uint32_t vocab = 0;     // V, set from the corpus

    // Width of layer 0's input.
    uint32_t input_width() const { return embed == 0 ? vocab : embed; }

    status validate() const {
        if (layers < 1 || layers > 16) return make_error(errc::usage, "--layers must be between 1 and 16");
        if (hidden < 1 || hidden > 8192) return make_error(errc::usage, "--hidden must be between 1 and 8192");
        if (embed > 8192) return make_error(errc::usage, "--embed must be between 0 and 8192");
        if (!(dropout >= 0.0f && dropout < 1.0f)) return make_error(errc::usage, "--dropout must be in [0, 1)");
        return {};
    }
};

}  // namespace charlm
