// The character-level language model: embedding (or one-hot) -> L stacked recurrent layers on
// oneDNN -> output projection -> softmax cross-entropy. The weights (language_model) are apart
// from the sessions that run them: training_session, evaluation_session, generator, each with its
// own shape, buffers, oneDNN primitives and recurrent state. oneDNN details live behind pimpls.
// Not here: the training loop (train.hpp) or the file format (model_file.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "charlm/model_config.hpp"
#include "charlm/tensor.hpp"
#include "charlm/text.hpp"
#include "charlm/vocab.hpp"

namespace charlm {

struct loss_sum {
    double nll = 0;       // summed negative log-likelihood, natural log
    uint64_t tokens = 0;  // predicted tokens counted
    double perplexity() const;
};

// The recurrent state of a session, (L, N, H) ldnc each; c only for LSTM (empty otherwise).
struct recurrent_state {
    std::vector<float> h, c;
};

// Receives the logits (V) that predict ids[position]; valid only during the call.
using logits_sink = std::function<void(uint64_t position, const float* logits)>;

// The weights, the configuration and the vocabulary. Read-only while sessions use it: a training
// session writes it (its optimizer steps), evaluation sessions and generators only read it, and
// any number of those may run at once on different threads. Sessions keep a reference: the model
// must outlive them (moving a model keeps them valid; its insides stay where they are).
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
    uint64_t parameter_count() const;  // logical parameters (no padding): the tensors' shapes
    // The parameter arena's tensors, in arena order.
    const std::vector<tensor_desc>& tensors() const;

    using logits_sink = charlm::logits_sink;
    // One evaluation_session's evaluate() (see there).
    loss_sum evaluate(const token_stream& ids, uint32_t streams, uint32_t steps,
                      std::vector<float>* per_token = nullptr, const logits_sink& on_logits = {}) const;

    // What of this model runs in f32 although `p` was asked for, as one line for the user (the
    // CLI prints it on stderr); empty when everything runs in `p`. int8: vanilla RNN and LBR-GRU
    // keep an f32 recurrence (oneDNN 2.6 has no int8 primitive for them).
    std::string precision_notice(precision p) const;

    // --- files
    std::vector<named_tensor> export_tensors() const;
    status import_tensors(const std::vector<named_tensor>& tensors, const std::string& source);

    struct impl;

private:
    friend class training_session;
    friend class evaluation_session;
    friend class generator;
    friend struct model_access;
    std::unique_ptr<impl> p_;
};

// Training at one shape: (T, N) batches with truncated BPTT, the recurrent state carried between
// consecutive batches, the gradients, the dropout masks' counter. One at a time per model.
class training_session {
public:
    // `p`: f32, or bf16 (the recurrent layers on oneDNN's bf16 primitives, their weights rounded
    // from the f32 master copy at each step; a CPU with avx512_bf16, checked by the caller).
    training_session(language_model& model, uint32_t steps, uint32_t batch, precision p = precision::f32);
    ~training_session();
    training_session(training_session&&) noexcept;
    training_session& operator=(training_session&&) noexcept;

    uint32_t steps() const;
    uint32_t batch() const;
    void reset_state();  // the next step starts from a zero state
    void carry_state();  // the last step's final state becomes the next initial state
    // Zeroes the gradients, runs forward and backward over one batch. inputs, targets: (T, N)
    // time-major; a target < 0 is ignored. Gradients are of the mean NLL over counted targets.
    // `denominator`: the tokens the mean is over when not this batch's own count (a rank's share
    // of a data-parallel batch takes the whole batch's).
    loss_sum train_step(const int32_t* inputs, const int32_t* targets, uint64_t denominator = 0);
    // The gradient arena (the parameter arena's layout) followed by `spare_floats` floats of its
    // own: a data-parallel step reduces the gradients and its figures written there (loss, tokens,
    // flags) as one buffer, in one collective. train_step() zeroes the spare floats too.
    static constexpr size_t spare_floats = 8;
    float* gradient_buffer();
    // This session's rows are streams first .. first + batch() - 1 of a batch of `global` streams:
    // the dropout masks are those rows of the whole batch's.
    void set_stream_slice(uint32_t first, uint32_t global);
    // The model's parameter arena with this session's gradient arena, as one view (the optimizer,
    // clipping and the finite check are loops over it). Writing the values changes the model:
    // generators made afterwards see the new weights.
    std::vector<param_view> params();

    // The initial state of the next step, (L, N, H) ldnc each (c only for LSTM), for checkpoints.
    using recurrent_state = charlm::recurrent_state;
    recurrent_state state();
    void set_state(const recurrent_state& s);
    // Training forwards run so far: the dropout masks' counter (checkpoints restore it).
    uint64_t dropout_calls() const;
    void set_dropout_calls(uint64_t n);

    struct impl;

private:
    friend struct model_access;
    std::unique_ptr<impl> p_;
};

// Evaluation: perplexity of a text with the state carried, its own buffers and primitives.
class evaluation_session {
public:
    explicit evaluation_session(const language_model& model, precision p = precision::f32);
    ~evaluation_session();
    evaluation_session(evaluation_session&&) noexcept;
    evaluation_session& operator=(evaluation_session&&) noexcept;

    // NLL of every token of `ids` after the first, the text laid out as `streams` contiguous
    // segments read side by side. Each stream first reads (without scoring) the tokens just before
    // its segment, so the figure does not depend on `streams` beyond rounding. Per-token NLLs
    // appended to `per_token` when given (text order). `on_logits` sees every predicted position
    // once: in text order when streams is 1, chunk by chunk across the streams otherwise.
    // `keep_going`, asked before each chunk of `steps` tokens, may end the reading early (the
    // figures are then of the tokens read so far).
    loss_sum evaluate(const token_stream& ids, uint32_t streams, uint32_t steps,
                      std::vector<float>* per_token = nullptr, const logits_sink& on_logits = {},
                      const std::function<bool()>& keep_going = {});
    // The same over streams first .. first + count - 1 only (a rank's share of a validation): the
    // parts' sums over all streams are evaluate()'s figure, up to rounding.
    loss_sum evaluate_part(const token_stream& ids, uint32_t streams, uint32_t steps, uint32_t first, uint32_t count);

    struct impl;

private:
    std::unique_ptr<impl> p_;
};

// Generation: `batch` independent rows fed one token each per step, from a zero state. Its
// recurrent weights are the model's generation cache (oneDNN's inference layout and, for one row
// and a small vocabulary, layer 0's input term per token), frozen when the generator is made.
class generator {
public:
    // `p`: the arithmetic (model_config.hpp); int8 weights are made from the model's on first use.
    generator(const language_model& model, uint32_t batch, precision p = precision::f32);
    ~generator();
    generator(generator&&) noexcept;
    generator& operator=(generator&&) noexcept;

    uint32_t batch() const;
    // Feeds one token per row (batch) and returns the logits (batch, V), valid until the next
    // call; with the adaptive softmax, log-probabilities.
    const float* step(const int32_t* ids);
    // Every row's recurrent state becomes `one_row`'s (a generator of batch 1 over the same
    // model): a prefix read once and shared by all rows.
    void copy_state_to_rows(const generator& one_row);

    // The recurrent state after the last step, (L, N, H) ldnc each (c only for LSTM): restoring
    // it makes the next step continue from there, as if the steps since had not been taken (a
    // constrained sampler backs up this way instead of re-reading its context).
    struct saved_state {
        std::vector<float> h, c;
    };
    saved_state save() const;
    void restore(const saved_state& s);

    // The state after the last step (the next step's initial state), and one to continue from
    // instead (a caller that feeds a text in pieces). set_state: errc::usage when a size is not
    // (L, N, H), or c is given or missing against the cell.
    recurrent_state state() const;
    status set_state(const recurrent_state& s);

    struct impl;

private:
    friend struct model_access;
    std::unique_ptr<impl> p_;
};

}  // namespace charlm
