// Internals of the model and its sessions (charlm/model.hpp): the weights, the oneDNN objects and
// the per-session buffers. Internal header: the trainer, checkpoints and charlm's own tests reach
// the layers through model_access. Not here: the file format (io/), the training loop (train/).
#pragma once

#include <oneapi/dnnl/dnnl.hpp>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "charlm/model.hpp"
#include "dnnl/rnn_reduced.h"
#include "dnnl/rnn_stack.h"
#include "layers/adaptive_softmax.h"
#include "layers/embedding.h"
#include "layers/projection.h"
#include "layers/qgemm.h"
#include "layers/softmax_xent.h"

namespace charlm {

// A tensor's floats inside an arena.
struct fspan {
    float* p = nullptr;
    size_t n = 0;
    float* data() const { return p; }
    size_t size() const { return n; }
    float* begin() const { return p; }
    float* end() const { return p + n; }
    float& operator[](size_t i) const { return p[i]; }
};

// One float buffer of `floats` elements, 64-byte aligned, zeroed.
struct arena {
    arena() = default;
    ~arena();
    arena(const arena&) = delete;
    arena& operator=(const arena&) = delete;
    void allocate(size_t n);  // once
    float* data = nullptr;
    size_t floats = 0;
};

// int8 or bf16 copies of the weights for --precision int8 | bf16: the recurrence (where
// rnn_reduced_weights::supports the cell) and the output layer (the decoder, or the adaptive
// softmax's every matrix).
struct reduced_weights {
    std::unique_ptr<nn::rnn_reduced_weights> rnn;  // null: the recurrence stays f32
    nn::qlinear decoder;                           // full softmax
    nn::adaptive_softmax::quantized adaptive;      // adaptive softmax
};

// The weights: written at construction, by import_tensors() and by the optimizer through a
// training session's params(); only read by every session.
struct language_model::impl {
    impl(const model_config& c, const text_config& t, vocabulary v, uint64_t seed);

    void describe_tensors();
    void embed(float* x, const int32_t* ids, size_t m) const;  // x (m, I): embedding rows or one-hot
    // The file's tensors from `base`, any buffer laid out as the parameter arena (the parameters,
    // Adam's moments), and back; into the arena itself, the generation cache is dropped.
    std::vector<named_tensor> export_from(const float* base) const;
    status import_into(float* base, const std::vector<named_tensor>& tensors, const std::string& source);
    std::vector<named_tensor> export_tensors() const { return export_from(params.data); }
    status import_tensors(const std::vector<named_tensor>& tensors, const std::string& source) {
        return import_into(params.data, tensors, source);
    }

    model_config cfg;
    text_config text;
    vocabulary vocab;
    uint64_t seed;  // initialization's; the dropout masks of training sessions derive from it
    dnnl::engine eng;
    uint32_t V, E, I, H;  // vocabulary, embedding, layer-0 input width, hidden

    // Every parameter lives in `params`, in this order, each part on a 64-byte line: embedding,
    // the recurrent layers (rnn_weights' region: per group w_x, w_h, bias in oneDNN's layouts),
    // decoder weight and bias or the adaptive softmax's region. Gradients and Adam's moments are
    // arenas of the same layout. `tensors` describes it with the file's names.
    nn::rnn_weights rnn;
    std::unique_ptr<nn::adaptive_softmax> adaptive;  // instead of dec_* when cfg.softmax is adaptive
    size_t emb_off = 0, rnn_off = 0, dec_w_off = 0, dec_b_off = 0, adaptive_off = 0;  // in the arena
    arena params;
    std::vector<tensor_desc> tensors;
    fspan emb_w;  // (V, E)
    fspan dec_w;  // (V, H) as PyTorch's nn.Linear; empty with the adaptive softmax
    fspan dec_b;  // (V)
    // The int8 and bf16 copies, each made on the first session of its precision and shared by all;
    // dropped whenever the weights may change (sessions keep theirs through the shared_ptr).
    std::shared_ptr<const reduced_weights> reduced(precision p) const;  // p: int8 or bf16
    void drop_reduced() const;
    mutable std::mutex reduced_mutex;
    mutable std::shared_ptr<const reduced_weights> int8_cache, bf16_cache;
    // The adaptive softmax's gradients (in the training session's arena) and its own scratch
    // belong to training (one training session at a time); other sessions pass their own scratch.
};

// The output layer of an inference session: logits (m, V) of hidden rows (m, H), in the
// session's own buffers (log-probabilities with the adaptive softmax).
struct output_head {
    output_head(const language_model::impl& m, dnnl::stream& strm, precision p = precision::f32);
    void prepare(size_t rows);
    const float* logits_of(const float* h, size_t rows);

    const language_model::impl& m;
    nn::projection proj;
    nn::adaptive_softmax::scratch scratch;
    std::shared_ptr<const reduced_weights> q;  // null: f32
    nn::qscratch qs;
    std::vector<float> logits;  // (M, V)
};

struct training_session::impl {
    impl(language_model::impl& m, uint32_t steps, uint32_t batch, precision p);
    loss_sum train_step(const int32_t* inputs, const int32_t* targets, uint64_t denominator);
    void zero_grad();

    language_model::impl& m;
    dnnl::stream strm;
    uint32_t T, N;
    arena grads;  // the parameter arena's layout
    nn::rnn_stack rnn;
    nn::projection proj;
    fspan emb_g;    // (V, E)
    fspan dec_g;    // (V, H)
    fspan dec_bg;   // (V)
    std::vector<float> x;        // (T, N, I) tnc: embedding rows or one-hot
    std::vector<float> dx;       // (T, N, I) gradient into the embedding
    std::vector<float> logits;   // (M, V), then dlogits in place; unused with the adaptive softmax
    std::vector<float> dh;       // (M, H)
    // --dropout-input / --dropout-output: this step's masks (M, I) and (M, H), and the decoder's input
    std::vector<float> mask_in, mask_out, h_dropped;
};

struct evaluation_session::impl {
    impl(const language_model::impl& m, precision p);
    // The top layer's output (T, N, H) for inputs `in` (T, N), the state carried.
    const float* recur(const int32_t* in, size_t rows);
    loss_sum evaluate(const token_stream& ids, uint32_t streams, uint32_t steps, std::vector<float>* per_token,
                      const logits_sink& on_logits, uint32_t first, uint32_t count,
                      const std::function<bool()>& keep_going = {});

    const language_model::impl& m;
    dnnl::stream strm;
    nn::rnn_stack rnn;  // inference only
    output_head head;
    std::unique_ptr<nn::rnn_reduced> rnn8;  // the int8 or bf16 recurrence at the current (T, N)
    std::vector<float> x;        // (T, N, I)
    std::vector<float> row_nll;  // (M)
};

struct generator::impl {
    impl(const language_model::impl& m, uint32_t batch, precision p);
    // One recurrence, f32 or reduced (int8, bf16): the step and the state.
    const float* step(const int32_t* ids) { return rnn8 ? rnn8->forward(ids) : rnn->step(ids); }
    const float* final_h() const { return rnn8 ? rnn8->state_h() : rnn->final_h(); }
    const float* final_c() const { return rnn8 ? rnn8->state_c() : rnn->final_c(); }
    void set_state(const float* h, const float* c) { rnn8 ? rnn8->set_state(h, c) : rnn->set_state(h, c); }
    void broadcast_state(const impl& one_row) {
        CHARLM_ASSERT(!rnn8 == !one_row.rnn8);
        rnn8 ? rnn8->broadcast_state(*one_row.rnn8) : rnn->broadcast_state(*one_row.rnn);
    }

    const language_model::impl& m;
    dnnl::stream strm;
    uint32_t N;
    output_head head;  // first: it holds the int8 or bf16 weights the recurrence below may use
    std::optional<nn::rnn_generator> rnn;  // f32
    std::unique_ptr<nn::rnn_reduced> rnn8;    // int8 (LSTM) or bf16 (every cell)
};

// For the trainer, checkpoints and tests: the insides behind the public types.
struct model_access {
    static language_model::impl& of(language_model& m) { return *m.p_; }
    static const language_model::impl& of(const language_model& m) { return *m.p_; }
    static training_session::impl& of(training_session& s) { return *s.p_; }
    static generator::impl& of(generator& g) { return *g.p_; }
};

}  // namespace charlm
