// A model described by the library itself: its layers (what each computes, its input and output
// widths) and the tensors each holds, with two parameter counts that are named apart:
//   stored:    values in the model file (PyTorch's layout);
//   trainable: independent values training changes.
// They differ by the recurrent layers' second bias: PyTorch keeps b_ih and b_hh, whose sum is all
// a cell sees, so charlm trains one vector and stores b_hh as zeros (lbr-gru's b_hn, inside the
// reset gate's product, is both trained and stored). Every total is the sum of its rows.
// Not here: printing (app/cmd_model.cpp) or the file format (model_file.hpp).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <utility>
#include <vector>

#include "charlm/model.hpp"
#include "charlm/model_file.hpp"
#include "charlm/train.hpp"

namespace charlm {

struct tensor_summary {
    std::string name;            // the file's name, e.g. "rnn.weight_ih_l0"
    std::vector<int64_t> shape;
    uint64_t stored = 0;
    uint64_t trainable = 0;
};

struct layer_summary {
    std::string name;   // "embedding", "one-hot", "rnn_l0", "dropout_l0", "decoder"
    std::string kind;   // "Embedding", "LSTM", "Dropout(0.2)", "AdaptiveLogSoftmax", ...
    std::string shape;  // "65 ids -> 64", "64 -> 256", "256 -> 65 logits"
    std::vector<tensor_summary> tensors;
    uint64_t stored = 0;     // sums over `tensors`
    uint64_t trainable = 0;
};

struct model_summary {
    std::vector<layer_summary> layers;  // input to output; every tensor of the model in exactly one
    uint64_t stored = 0;                // sums over `layers`; trainable == parameter_count()
    uint64_t trainable = 0;
    // The adaptive softmax's head and clusters in words ("head ids 0..5 and 2 cluster entries;
    // cluster 1 ids 6..11 through 16 units; ..."), or empty for the full softmax.
    std::string adaptive_groups;
};

model_summary describe_model(const language_model& model);

// What this binary is, as `charlm --version` prints it: its version and commit, the versions of the
// libraries it was built with, the CPU's vector features and the kernel path charlm takes on it.
std::vector<std::pair<std::string, std::string>> describe_build();

// A model's text settings as `charlm info --json` and /api/models show them: encoding, normalize,
// unit, lowercase, the script its training text was in and the conversion it applies to its input.
nlohmann::json describe_text(const text_config& text);
// The same in words, for `charlm info`: "encoding utf-8, normalize nfc, ..., script traditional".
std::string describe_text_line(const text_config& text);

// What `charlm info --json` prints and the Python module's Model.info() returns: the configuration,
// layers, tensors, text settings, training summary and, for a checkpoint (`ck` not null), where its
// run continues.
nlohmann::json describe_json(const loaded_model& loaded, const checkpoint_info* ck);

}  // namespace charlm
