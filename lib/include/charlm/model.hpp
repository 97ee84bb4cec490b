// The character-level language model: embedding (or one-hot) -> L stacked recurrent layers on
// oneDNN -> output projection -> softmax cross-entropy. The oneDNN details live behind a pimpl.
// Not here: the training loop (train.hpp) or the file format (model_file.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "charlm/model_config.hpp"
#include "charlm/text.hpp"
#include "charlm/vocab.hpp"

namespace charlm {

// A parameter buffer as the optimizer sees it: element-wise over `count` floats (padding
// included, where it stays zero).
struct param_view {
    std::string name;
    float* value;
    float* grad;
    size_t count;
};

struct loss_sum {
    double nll = 0;       // summed negative log-likelihood, natural log
    uint64_t tokens = 0;  // predicted tokens counted
    double perplexity() const;
};

// A tensor in PyTorch's layout and naming (embedding.weight, rnn.weight_ih_l0, ...,
// decoder.weight), row-major float32, for model files.
struct named_tensor {
    std::string name;
    std::vector<int64_t> shape;
    std::vector<float> data;
};

class language_model {
public:
    // A freshly initialized model; `cfg.vocab` must equal `vocab.size()`.
    language_model(const model_config& cfg, const text_config& text, vocabulary vocab, uint64_t seed);
    ~language_model();
    language_model(language_model&&) noexcept;
    language_model& operator=(language_model&&) noexcept;

    const model_config& config() const;
    const text_config& text() const;
    const vocabulary& vocab() const;
    uint64_t parameter_count() const;  // logical parameters (no padding)

    // --- training
    // Builds (once per shape) what a (T, N) batch needs; cheap when the shape is unchanged.
    void prepare(uint32_t steps, uint32_t batch);
    void reset_state();  // zero recurrent state
    void carry_state();  // the last forward's final state becomes the next initial state
    // Zeroes the gradients, runs forward and backward over one batch. inputs, targets: (T, N)
    // time-major; a target < 0 is ignored. Gradients are of the mean NLL over counted targets.
    loss_sum train_step(const int32_t* inputs, const int32_t* targets);
    std::vector<param_view> params();

    // --- inference
    // Receives the logits (V) that predict ids[position]; valid only during the call.
    using logits_sink = std::function<void(uint64_t position, const float* logits)>;
    // NLL of every token of `ids` after the first, predicted with state carried, the text laid
    // out as `streams` contiguous parts. Per-token NLLs appended to `per_token` when given (text
    // order). `on_logits` sees every predicted position once: in text order when streams is 1,
    // chunk by chunk across the streams otherwise.
    loss_sum evaluate(const token_stream& ids, uint32_t streams, uint32_t steps,
                      std::vector<float>* per_token = nullptr, const logits_sink& on_logits = {});
    // Step-by-step inference for generation with `batch` independent rows, from a zero state.
    // Freezes the recurrent weights in oneDNN's inference layout (and, for one row and a small
    // vocabulary, layer 0's input term per token): generation_step() does not see weights
    // changed after this call until the next begin_generation().
    void begin_generation(uint32_t batch);
    // Feeds one token per row (batch) and returns the logits (batch, V), valid until the next call;
    // with the adaptive softmax, log-probabilities.
    const float* generation_step(const int32_t* ids);

    // --- files
    std::vector<named_tensor> export_tensors() const;
    status import_tensors(const std::vector<named_tensor>& tensors, const std::string& source);

    // The layers behind the model (models/lm_impl.h), for charlm's own tests and tools.
    struct impl;
    impl& internals() { return *p_; }

private:
    std::unique_ptr<impl> p_;
};

}  // namespace charlm
