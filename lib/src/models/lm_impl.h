// Internals of the model and its sessions (charlm/model.hpp): the weights, the oneDNN objects and
// the per-session buffers. Internal header: the trainer, checkpoints and charlm's own tests reach
// the layers through model_access. Not here: the file format (io/), the training loop (train/).
#pragma once

#include <oneapi/dnnl/dnnl.hpp>
#include <memory>
#include <vector>

#include "charlm/model.hpp"
#include "dnnl/rnn_stack.h"
#include "layers/adaptive_softmax.h"
#include "layers/embedding.h"
#include "layers/projection.h"
#include "layers/softmax_xent.h"

namespace charlm {

// The weights: written at construction, by import_tensors() and by the optimizer through a
// training session's params(); only read by every session.
struct language_model::impl {
    impl(const model_config& c, const text_config& t, vocabulary v, uint64_t seed);

    void embed(float* x, const int32_t* ids, size_t m) const;  // x (m, I): embedding rows or one-hot
    std::vector<named_tensor> export_tensors() const;
    status import_tensors(const std::vector<named_tensor>& tensors, const std::string& source);

    model_config cfg;
    text_config text;
    vocabulary vocab;
    uint64_t seed;  // initialization's; the dropout masks of training sessions derive from it
    dnnl::engine eng;
    uint32_t V, E, I, H;  // vocabulary, embedding, layer-0 input width, hidden

    std::vector<float> emb_w;  // (V, E)
    nn::rnn_weights rnn;
    std::vector<float> dec_w;  // (V, H) as PyTorch's nn.Linear; empty with the adaptive softmax
    std::vector<float> dec_b;  // (V)
    // Instead of dec_* when cfg.softmax is adaptive. Its gradients and its own scratch belong to
    // training (one training session at a time); other sessions pass their own scratch.
    std::unique_ptr<nn::adaptive_softmax> adaptive;
};

// The output layer of an inference session: logits (m, V) of hidden rows (m, H), in the
// session's own buffers (log-probabilities with the adaptive softmax).
struct output_head {
    output_head(const language_model::impl& m, dnnl::stream& strm);
    void prepare(size_t rows);
    const float* logits_of(const float* h, size_t rows);

    const language_model::impl& m;
    nn::projection proj;
    nn::adaptive_softmax::scratch scratch;
    std::vector<float> logits;  // (M, V)
};

struct training_session::impl {
    impl(language_model::impl& m, uint32_t steps, uint32_t batch);
    loss_sum train_step(const int32_t* inputs, const int32_t* targets);
    void zero_grad();

    language_model::impl& m;
    dnnl::stream strm;
    uint32_t T, N;
    nn::rnn_stack rnn;
    nn::projection proj;
    std::vector<float> emb_g;    // (V, E)
    std::vector<float> dec_g;    // (V, H)
    std::vector<float> dec_bg;   // (V)
    std::vector<float> x;        // (T, N, I) tnc: embedding rows or one-hot
    std::vector<float> dx;       // (T, N, I) gradient into the embedding
    std::vector<float> logits;   // (M, V), then dlogits in place; unused with the adaptive softmax
    std::vector<float> dh;       // (M, H)
};

struct evaluation_session::impl {
    explicit impl(const language_model::impl& m);
    loss_sum evaluate(const token_stream& ids, uint32_t streams, uint32_t steps, std::vector<float>* per_token,
                      const logits_sink& on_logits);

    const language_model::impl& m;
    dnnl::stream strm;
    nn::rnn_stack rnn;  // inference only
    output_head head;
    std::vector<float> x;        // (T, N, I)
    std::vector<float> row_nll;  // (M)
};

struct generator::impl {
    impl(const language_model::impl& m, uint32_t batch);

    const language_model::impl& m;
    dnnl::stream strm;
    uint32_t N;
    nn::rnn_generator rnn;
    output_head head;
};

// For the trainer, checkpoints and tests: the insides behind the public types.
struct model_access {
    static language_model::impl& of(language_model& m) { return *m.p_; }
    static const language_model::impl& of(const language_model& m) { return *m.p_; }
    static training_session::impl& of(training_session& s) { return *s.p_; }
    static generator::impl& of(generator& g) { return *g.p_; }
};

}  // namespace charlm
