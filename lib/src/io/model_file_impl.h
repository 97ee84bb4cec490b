// Internals of model files shared with checkpoints (train/checkpoint.cpp): the JSON forms of the
// configurations and the tensor file of a model before it is written.
#pragma once

#include <nlohmann/json.hpp>

#include "charlm/model_file.hpp"
#include "io/safetensors.h"

namespace charlm::detail {

nlohmann::json to_json(const model_config& c);
nlohmann::json to_json(const text_config& t);
// Throw nlohmann::json::exception on a missing key or wrong type; an unknown name is an error.
result<model_config> model_config_from_json(const nlohmann::json& j);
result<text_config> text_config_from_json(const nlohmann::json& j);

// The model's tensors (PyTorch names and layouts) and metadata, ready for io::write_safetensors.
io::tensor_file model_tensor_file(const language_model& model, const training_summary& summary);

}  // namespace charlm::detail
