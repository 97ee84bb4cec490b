// Model files: safetensors with PyTorch's tensor names and layouts, and a __metadata__ that makes
// the file self-describing (format version, model and text configuration, vocabulary in id
// order, training summary). Not here: the container's byte format (io/safetensors.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "charlm/model.hpp"
#include "charlm/status.hpp"

namespace charlm {

constexpr int model_format_version = 1;

struct training_summary {
    std::string corpus;
    std::string corpus_checksum;  // "fnv1a64:<16 hex digits>" of the corpus file's bytes
    uint64_t epochs = 0;
    uint64_t steps = 0;
    double train_ppl = 0;
    std::optional<double> valid_ppl;
    std::string date;     // filled in by save_model when empty (UTC, ISO 8601)
    std::string version;  // filled in by save_model (charlm's)
};

struct loaded_model {
    language_model model;
    training_summary summary;
};

// Writes atomically: an existing file is replaced only by a complete new one.
status save_model(const std::string& path, const language_model& model, const training_summary& summary);

// Reads and checks a model file: format and version, configuration, vocabulary, every tensor's
// shape against the configuration, and finite weights. Errors name the file and the problem.
result<loaded_model> load_model(const std::string& path);

// Only the training summary of a model file (or a checkpoint), from its header: what the file holds
// without loading it.
result<training_summary> read_model_summary(const std::string& path);

// The same over a file's bytes already in memory (fuzzing, tests); `name` is used in messages.
result<loaded_model> load_model_from_bytes(const std::string& bytes, const std::string& name);

}  // namespace charlm
