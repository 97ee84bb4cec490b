// Internals of language_model (charlm/model.hpp): the parameters, the oneDNN objects and the
// per-shape buffers. Internal header: tests may use it to reach the layers directly.
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

struct language_model::impl {
    impl(const model_config& c, const text_config& t, vocabulary v, uint64_t seed);

    void prepare(uint32_t steps, uint32_t batch);
    void embed(const int32_t* ids, size_t m);
    loss_sum train_step(const int32_t* inputs, const int32_t* targets);
    void zero_grad();
    const float* infer_hidden(const int32_t* ids, size_t m);  // top layer's output (m, H); state carried
    const float* infer(const int32_t* ids, size_t m);         // logits (m, V); state carried
    const float* output_logits(const float* h, size_t m);     // logits (m, V) of hidden rows h (m, H)
    loss_sum evaluate(const token_stream& ids, uint32_t streams, uint32_t steps, std::vector<float>* per_token,
                      const logits_sink& on_logits);
    std::vector<named_tensor> export_tensors() const;
    status import_tensors(const std::vector<named_tensor>& tensors, const std::string& source);

    model_config cfg;
    text_config text;
    vocabulary vocab;
    dnnl::engine eng;
    dnnl::stream strm;
    uint32_t V, E, I, H;  // vocabulary, embedding, layer-0 input width, hidden
    uint32_t T = 0, N = 0;

    std::vector<float> emb_w, emb_g;  // (V, E)
    nn::rnn_stack rnn;
    nn::projection proj;
    std::vector<float> dec_w, dec_g;    // (V, H) as PyTorch's nn.Linear; empty with the adaptive softmax
    std::vector<float> dec_b, dec_bg;   // (V)
    std::unique_ptr<nn::adaptive_softmax> adaptive;  // instead of dec_* when cfg.softmax is adaptive

    std::vector<float> x;        // (T, N, I) tnc: embedding rows or one-hot
    std::vector<float> dx;       // (T, N, I) gradient into the embedding
    std::vector<float> logits;   // (M, V), then dlogits in place; log-probabilities with the adaptive softmax
    std::vector<float> dh;       // (M, H)
    std::vector<float> row_nll;  // (M)
};

}  // namespace charlm
