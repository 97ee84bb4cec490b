// The language model: embedding (or one-hot) -> rnn_stack (oneDNN) -> projection (oneDNN) ->
// fused softmax cross-entropy (or the adaptive softmax). The weights and their conversion to
// PyTorch's names and layouts; the sessions: training step, evaluation, generation.
// Not here: the loop (train/) or files (io/).
//
// Row order everywhere is oneDNN's tnc: row t * N + n of a (T, N, C) buffer; M = T * N.
// Initialization (as PyTorch does it): embedding N(0, 1); recurrent weights and biases
// U(-1/sqrt(H), 1/sqrt(H)) with the LSTM forget-gate bias 1; decoder U(-1/sqrt(H), 1/sqrt(H)).
#include "models/lm_impl.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <numeric>

#include "charlm/random.hpp"

namespace charlm {

namespace {

// PyTorch's gate blocks in terms of oneDNN's gate index: LSTM (i, f, g, o) is oneDNN's order;
// GRU rows (r, z, n) are oneDNN's (r = 1, u = 0, o = 2).
int dnnl_gate_of_torch(cell_type c, int torch_gate) {
    if (c == cell_type::gru || c == cell_type::lbr_gru) {
        static constexpr int map[3] = {1, 0, 2};
        return map[torch_gate];
    }
    return torch_gate;
}

size_t on_line(size_t floats) { return (floats + 15) / 16 * 16; }  // 64-byte lines

}  // namespace

void arena::allocate(size_t n) {
    CHARLM_ASSERT(data == nullptr);
    const size_t bytes = std::max<size_t>(64, n * sizeof(float));
    data = static_cast<float*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64));
    if (!data) throw out_of_memory(bytes);
    std::memset(data, 0, bytes);
    floats = n;
}

arena::~arena() { std::free(data); }

language_model::impl::impl(const model_config& c, const text_config& t, vocabulary v, uint64_t seed_)
    : cfg(c),
      text(t),
      vocab(std::move(v)),
      seed(seed_),
      eng(dnnl::engine::kind::cpu, 0),
      V(c.vocab),
      E(c.embed),
      I(c.input_width()),
      H(c.hidden),
      rnn(eng, c.cell, static_cast<int>(c.layers), static_cast<int>(c.input_width()), static_cast<int>(c.hidden),
          c.dropout > 0.f) {
    CHARLM_ASSERT(V == vocab.size() && V > 0);
    if (cfg.softmax == softmax_type::adaptive) {
        CHARLM_ASSERT(!cfg.cutoffs.empty());
        adaptive = std::make_unique<nn::adaptive_softmax>(static_cast<int>(H), static_cast<int>(V), cfg.cutoffs,
                                                          cfg.div_value);
    }
    // The arena's layout (see lm_impl.h), then every part moved into it.
    size_t at = 0;
    const auto take = [&](size_t floats) {
        const size_t off = at;
        at += on_line(floats);
        return off;
    };
    emb_off = take(size_t{V} * E);
    rnn_off = take(rnn.region_floats());
    if (adaptive) {
        adaptive_off = take(adaptive->region_floats());
    } else {
        dec_w_off = take(size_t{V} * H);
        dec_b_off = take(V);
    }
    params.allocate(at);
    rnn.place(params.data + rnn_off);
    if (adaptive) adaptive->place_values(params.data + adaptive_off);
    emb_w = {params.data + emb_off, size_t{V} * E};
    if (!adaptive) {
        dec_w = {params.data + dec_w_off, size_t{V} * H};
        dec_b = {params.data + dec_b_off, V};
    }
    describe_tensors();

    uint64_t s = seed;
    for (float& w : emb_w) w = normal01(s);
    rnn.init_uniform(seed + 1);
    if (adaptive) {
        adaptive->init_uniform(seed + 2);
        return;
    }
    const float a = 1.0f / std::sqrt(static_cast<float>(H));
    for (float& w : dec_w) w = uniform_pm(s, a);
    for (float& b : dec_b) b = uniform_pm(s, a);
}

void language_model::impl::describe_tensors() {
    const int64_t G = gate_count(cfg.cell), Gb = bias_gate_count(cfg.cell), h = H;
    if (E > 0) tensors.push_back({"embedding.weight", {V, E}, emb_off, size_t{V} * E});
    const auto slices = rnn.slices();
    for (uint32_t l = 0; l < cfg.layers; ++l) {
        const auto& sl = slices[l];
        const int64_t in = l == 0 ? I : H;
        tensors.push_back({fmt::format("rnn.weight_ih_l{}", l), {G * h, in}, rnn_off + sl.w_x.offset, sl.w_x.count});
        tensors.push_back({fmt::format("rnn.weight_hh_l{}", l), {G * h, h}, rnn_off + sl.w_h.offset, sl.w_h.count});
        tensors.push_back({fmt::format("rnn.bias_ih_l{}", l), {Gb * h}, rnn_off + sl.bias.offset, sl.bias.count});
    }
    if (adaptive) {
        for (const auto& t : adaptive->tensors())
            tensors.push_back({"decoder." + t.name, t.shape, adaptive_off + t.offset, t.count});
    } else {
        tensors.push_back({"decoder.weight", {V, H}, dec_w_off, size_t{V} * H});
        tensors.push_back({"decoder.bias", {V}, dec_b_off, V});
    }
}

void language_model::impl::embed(float* x, const int32_t* ids, size_t m) const {
    if (E > 0) {
        nn::embedding_forward(x, emb_w.data(), ids, m, E);
    } else {
        nn::one_hot_forward(x, ids, m, V);
    }
}

// --- output layer of inference sessions

output_head::output_head(const language_model::impl& model, dnnl::stream& strm, precision p)
    : m(model),
      proj(model.eng, strm, static_cast<int>(model.H), static_cast<int>(model.V)),
      q(p == precision::f32 ? nullptr : model.reduced(p)) {}

void output_head::prepare(size_t rows) {
    // Grow-only buffers: a shape seen before allocates nothing.
    if (m.adaptive) {
        m.adaptive->prepare(scratch, rows);
    } else {
        proj.prepare(static_cast<int>(rows));
    }
    if (logits.size() < rows * m.V) logits.resize(rows * m.V);
}

const float* output_head::logits_of(const float* h, size_t rows) {
    if (q && m.adaptive) {
        m.adaptive->log_prob(scratch, logits.data(), h, rows, q->adaptive, qs);
    } else if (q) {
        nn::qlinear_forward(logits.data(), m.V, h, rows, q->decoder, qs);
    } else if (m.adaptive) {
        m.adaptive->log_prob(scratch, logits.data(), h, rows);
    } else {
        proj.forward(logits.data(), h, m.dec_w.data(), m.dec_b.data());
    }
    return logits.data();
}

// --- int8 and bf16 copies of the weights

std::shared_ptr<const reduced_weights> language_model::impl::reduced(precision p) const {
    CHARLM_ASSERT(p != precision::f32 && precision_unavailable(p).empty());
    std::lock_guard<std::mutex> lock(reduced_mutex);
    auto& cache = p == precision::bf16 ? bf16_cache : int8_cache;
    if (cache) return cache;
    const bool bf16 = p == precision::bf16;
    auto q = std::make_shared<reduced_weights>();
    if (nn::rnn_reduced_weights::supports(cfg.cell, p))
        q->rnn = std::make_unique<nn::rnn_reduced_weights>(rnn, E > 0 ? emb_w.data() : nullptr, static_cast<int>(V), p);
    if (adaptive) {
        q->adaptive = adaptive->quantize(bf16);
    } else {
        q->decoder = (bf16 ? nn::bf16_linear : nn::quantize_linear)(dec_w.data(), dec_b.data(), static_cast<int>(V),
                                                                   static_cast<int>(H));
    }
    cache = std::move(q);
    return cache;
}

void language_model::impl::drop_reduced() const {
    std::lock_guard<std::mutex> lock(reduced_mutex);
    int8_cache.reset();
    bf16_cache.reset();
}

// bf16 runs every cell (nothing to say); int8 only the LSTM's recurrence.
std::string language_model::precision_notice(precision p) const {
    const cell_type cell = p_->cfg.cell;
    if (p == precision::f32 || nn::rnn_reduced_weights::supports(cell, p)) return {};
    if (cell == cell_type::gru)
        return "--precision int8: oneDNN 2.6's int8 GRU moved perplexity by 2-4% in charlm's tests (more than int8's "
               "1% budget), so the recurrent layers run in f32 (the output layer in int8)";
    return fmt::format("--precision int8: oneDNN 2.6 has no int8 {} primitive, so the recurrent layers run in f32 "
                       "(the output layer in int8)", to_string(cell));
}

// --- training

// Mask slots of input and output dropout (the stack's layer boundaries use 0 .. layers - 2).
constexpr uint64_t k_slot_input = 62, k_slot_output = 63;


training_session::impl::impl(language_model::impl& model, uint32_t steps, uint32_t batch, precision p)
    : m(model),
      strm(model.eng),
      T(steps),
      N(batch),
      grads(),
      rnn(model.rnn, model.cfg.dropout, model.seed ^ 0xd1b54a32d192ed03ull, true,
          (grads.allocate(model.params.floats + training_session::spare_floats), grads.data + model.rnn_off),
          p == precision::bf16),
      proj(model.eng, strm, static_cast<int>(model.H), static_cast<int>(model.V)) {
    CHARLM_ASSERT(T >= 1 && N >= 1);
    CHARLM_ASSERT(p == precision::f32 || (p == precision::bf16 && precision_unavailable(p).empty()));
    emb_g = {grads.data + m.emb_off, m.emb_w.size()};
    if (m.adaptive) m.adaptive->place_grads(grads.data + m.adaptive_off);
    const size_t rows = static_cast<size_t>(T) * N;
    rnn.prepare(static_cast<int>(T), static_cast<int>(N));
    // The adaptive softmax trains without the (M, V) logits.
    if (m.adaptive) {
        m.adaptive->prepare(rows);
    } else {
        proj.prepare(static_cast<int>(rows));
        logits.resize(rows * m.V);
        dec_g = {grads.data + m.dec_w_off, m.dec_w.size()};
        dec_bg = {grads.data + m.dec_b_off, m.dec_b.size()};
    }
    x.resize(rows * m.I);
    if (m.E > 0) dx.resize(rows * m.I);
    dh.resize(rows * m.H);
    if (m.cfg.dropout_input > 0.f) mask_in.resize(rows * m.I);
    if (m.cfg.dropout_output > 0.f) {
        mask_out.resize(rows * m.H);
        h_dropped.resize(rows * m.H);
    }
}

loss_sum training_session::impl::train_step(const int32_t* inputs, const int32_t* targets, uint64_t denominator) {
    const size_t rows = static_cast<size_t>(T) * N;
    uint64_t counted = 0;
    for (size_t r = 0; r < rows; ++r) counted += targets[r] >= 0;
    const uint64_t over = denominator ? denominator : counted;
    const float scale = over ? 1.0f / static_cast<float>(over) : 0.f;
    loss_sum out;
    out.tokens = counted;
    // The optimizer step that follows changes the weights: generators made after it must not
    // reuse a cache of the old ones.
    m.rnn.weights_changed();
    m.drop_reduced();
    zero_grad();
    // forward, then backward: gradients of the mean NLL
    m.embed(x.data(), inputs, rows);
    // Input and output dropout draw their masks for the same forward call as the stack's (slots
    // past any layer boundary's), per stream of the whole batch.
    const uint64_t call = rnn.dropout_calls() + 1;
    auto mask = [&](std::vector<float>& out, size_t width, float p, uint64_t slot) {
        nn::fill_dropout_mask(out.data(), T, N, width, p, rnn.dropout_seed(), call, slot, rnn.stream_first(),
                          rnn.stream_global());
    };
    if (!mask_in.empty()) {
        mask(mask_in, m.I, m.cfg.dropout_input, k_slot_input);
        for (size_t i = 0; i < rows * m.I; ++i) x[i] *= mask_in[i];
    }
    const float* h = rnn.forward_training(x.data());  // (T, N, H)
    if (!mask_out.empty()) {
        mask(mask_out, m.H, m.cfg.dropout_output, k_slot_output);
        for (size_t i = 0; i < rows * m.H; ++i) h_dropped[i] = h[i] * mask_out[i];
        h = h_dropped.data();
    }
    if (m.adaptive) {
        out.nll = m.adaptive->forward_backward(dh.data(), h, targets, rows, scale);
    } else {
        proj.forward(logits.data(), h, m.dec_w.data(), m.dec_b.data());                      // (M, V)
        out.nll = nn::softmax_xent_forward_backward(logits.data(), targets, rows, m.V, scale);  // -> dlogits
        proj.backward(dh.data(), dec_g.data(), dec_bg.data(), logits.data(), h, m.dec_w.data());
    }
    if (!mask_out.empty())
        for (size_t i = 0; i < rows * m.H; ++i) dh[i] *= mask_out[i];
    rnn.backward(dh.data(), m.E > 0 ? dx.data() : nullptr);
    if (m.E > 0) {
        if (!mask_in.empty())
            for (size_t i = 0; i < rows * m.I; ++i) dx[i] *= mask_in[i];
        nn::embedding_backward(emb_g.data(), dx.data(), inputs, rows, m.E, m.V);
    }
    return out;
}

void training_session::impl::zero_grad() {
    std::memset(grads.data, 0, grads.floats * sizeof(float));  // every gradient, one buffer
}

// --- evaluation

evaluation_session::impl::impl(const language_model::impl& model, precision p)
    : m(model), strm(model.eng), rnn(model.rnn, 0.f, 0, false), head(model, strm, p) {}

const float* evaluation_session::impl::recur(const int32_t* in, size_t rows) {
    if (rnn8) return rnn8->forward(in);
    m.embed(x.data(), in, rows);
    const float* h = rnn.forward_inference(x.data());
    rnn.carry_state();
    return h;
}

namespace {

// How S streams share a text's predictions: stream s scores targets ids[start_s + 1 .. start_s +
// len_s]; lengths differ by at most one. Before that it reads, unscored, the `warm_s` tokens just
// before its segment (up to 512), so that it starts from about the state a single stream would
// have there: the perplexity then does not depend on the number of streams (a zero state at every
// segment start raised it by 0.6% at 32 streams on 3 000 characters).
struct stream_layout {
    std::vector<uint64_t> start, len, warm;

    stream_layout(uint64_t predictions, uint32_t S) : start(S), len(S), warm(S) {
        constexpr uint64_t k_warmup = 512;
        for (uint64_t s = 0, at = 0; s < S; ++s) {
            len[s] = predictions / S + (s < predictions % S ? 1 : 0);
            start[s] = at;
            warm[s] = std::min(at, k_warmup);
            at += len[s];
        }
    }
};

}  // namespace

loss_sum evaluation_session::impl::evaluate(const token_stream& ids, uint32_t streams, uint32_t steps,
                                            std::vector<float>* per_token, const logits_sink& on_logits,
                                            uint32_t first, uint32_t count, const std::function<bool()>& keep_going) {
    loss_sum out;
    if (ids.size() < 2) return out;
    const uint64_t predictions = ids.size() - 1;
    const uint32_t S = static_cast<uint32_t>(std::min<uint64_t>(std::max<uint32_t>(streams, 1), predictions));
    const stream_layout lay(predictions, S);
    const auto &start = lay.start, &len = lay.len, &warm = lay.warm;
    // This call's streams: first .. first + C - 1 of the S (a rank's share of a validation).
    const uint32_t F = std::min(first, S), C = std::min(count ? count : S, S - F);
    if (C == 0) return out;
    uint64_t longest = 0;
    for (uint32_t s = F; s < F + C; ++s) longest = std::max(longest, warm[s] + len[s]);
    // A call's logits take steps x S x V floats (886 MB for the defaults and 108 000 tokens). The
    // state carries from call to call, so fewer steps give the same result: no more than the
    // longest stream needs, and within 256 MiB however large the vocabulary (1 step at least).
    steps = static_cast<uint32_t>(std::min<uint64_t>(std::max<uint32_t>(steps, 1), longest));
    while (steps > 1 && uint64_t{steps} * C * m.V * sizeof(float) > (uint64_t{256} << 20)) steps = (steps + 1) / 2;
    const size_t rows = static_cast<size_t>(steps) * C;
    if (head.q && head.q->rnn) {
        if (!rnn8 || rnn8->steps() != static_cast<int>(steps) || rnn8->batch() != static_cast<int>(C))
            rnn8 = std::make_unique<nn::rnn_reduced>(*head.q->rnn, m.eng, static_cast<int>(steps), static_cast<int>(C));
        rnn8->reset_state();
    } else {
        rnn.prepare(static_cast<int>(steps), static_cast<int>(C));
        rnn.reset_state();
    }
    head.prepare(rows);
    if (x.size() < rows * m.I) x.resize(rows * m.I);
    if (row_nll.size() < rows) row_nll.resize(rows);
    const bool need_logits = !m.adaptive || on_logits;
    std::vector<int32_t> in(rows), tg(rows);
    std::vector<std::vector<float>> stream_nll;
    if (per_token) stream_nll.resize(C);
    for (uint64_t c = 0; c * steps < longest && (!keep_going || keep_going()); ++c) {
        for (uint32_t t = 0; t < steps; ++t) {
            for (uint32_t j = 0, s = F; j < C; ++j, ++s) {
                const uint64_t k = c * steps + t;  // the stream's k-th input: ids[start - warm + k]
                const size_t r = static_cast<size_t>(t) * C + j;
                if (k < warm[s] + len[s]) {
                    const uint64_t at = start[s] - warm[s] + k;
                    in[r] = static_cast<int32_t>(ids[at]);
                    tg[r] = k < warm[s] ? -1 : static_cast<int32_t>(ids[at + 1]);
                } else {
                    in[r] = 0;
                    tg[r] = -1;
                }
            }
        }
        const float* h = recur(in.data(), rows);
        if (!need_logits && head.q) {  // only each row's own cluster: as cheap as training's forward
            m.adaptive->nll(head.scratch, row_nll.data(), h, tg.data(), rows, head.q->adaptive, head.qs);
        } else if (!need_logits) {
            m.adaptive->nll(head.scratch, row_nll.data(), h, tg.data(), rows);
        } else {
            const float* logits = head.logits_of(h, rows);
            if (on_logits)
                for (uint32_t t = 0; t < steps; ++t)
                    for (uint32_t j = 0, s = F; j < C; ++j, ++s) {
                        const size_t r = static_cast<size_t>(t) * C + j;
                        if (tg[r] >= 0) on_logits(start[s] - warm[s] + c * steps + t + 1, logits + r * m.V);
                    }
            nn::softmax_xent_nll(row_nll.data(), head.logits.data(), tg.data(), rows, m.V);
        }
        for (uint32_t t = 0; t < steps; ++t)
            for (uint32_t j = 0; j < C; ++j) {
                const size_t r = static_cast<size_t>(t) * C + j;
                if (tg[r] < 0) continue;
                out.nll += row_nll[r];
                ++out.tokens;
                if (per_token) stream_nll[j].push_back(row_nll[r]);
            }
    }
    if (per_token)
        for (auto& v : stream_nll) per_token->insert(per_token->end(), v.begin(), v.end());
    return out;
}

// --- generation

generator::impl::impl(const language_model::impl& model, uint32_t batch, precision p)
    : m(model), strm(model.eng), N(batch), head(model, strm, p) {
    if (head.q && head.q->rnn) {
        rnn8 = std::make_unique<nn::rnn_reduced>(*head.q->rnn, model.eng, 1, static_cast<int>(batch));
    } else {
        rnn.emplace(model.rnn, static_cast<int>(batch), model.E > 0 ? model.emb_w.data() : nullptr,
                    static_cast<int>(model.V));
    }
    head.prepare(batch);
}

// --- PyTorch names and layouts

std::vector<named_tensor> language_model::impl::export_from(const float* base) const {
    std::vector<named_tensor> out;
    const int G = gate_count(cfg.cell), Gb = bias_gate_count(cfg.cell);
    const auto floats = [&](size_t off, size_t n) { return std::vector<float>(base + off, base + off + n); };
    if (E > 0) out.push_back({"embedding.weight", {V, E}, floats(emb_off, size_t{V} * E)});
    for (uint32_t l = 0; l < cfg.layers; ++l) {
        const size_t in = l == 0 ? I : H;
        std::vector<float> wx(in * G * H), wh(static_cast<size_t>(H) * G * H), b(static_cast<size_t>(Gb) * H);
        rnn.get_layer_of(base + rnn_off, static_cast<int>(l), wx.data(), wh.data(), b.data());
        const int64_t gh = static_cast<int64_t>(G) * H;
        named_tensor wih{fmt::format("rnn.weight_ih_l{}", l), {gh, static_cast<int64_t>(in)}, {}};
        named_tensor whh{fmt::format("rnn.weight_hh_l{}", l), {gh, H}, {}};
        named_tensor bih{fmt::format("rnn.bias_ih_l{}", l), {gh}, {}};
        named_tensor bhh{fmt::format("rnn.bias_hh_l{}", l), {gh}, {}};
        wih.data.resize(wx.size());
        whh.data.resize(wh.size());
        bih.data.assign(static_cast<size_t>(gh), 0.f);
        bhh.data.assign(static_cast<size_t>(gh), 0.f);
        for (int tg = 0; tg < G; ++tg) {
            const int dg = dnnl_gate_of_torch(cfg.cell, tg);
            for (uint32_t o = 0; o < H; ++o) {
                const size_t row = static_cast<size_t>(tg) * H + o;
                for (size_t i = 0; i < in; ++i) wih.data[row * in + i] = wx[(i * G + dg) * H + o];
                for (size_t i = 0; i < H; ++i) whh.data[row * H + i] = wh[(i * G + dg) * H + o];
                bih.data[row] = b[static_cast<size_t>(dg) * H + o];
            }
        }
        if (cfg.cell == cell_type::lbr_gru)  // u' is PyTorch's b_hn, inside r * (...)
            for (uint32_t o = 0; o < H; ++o) bhh.data[2 * static_cast<size_t>(H) + o] = b[3 * static_cast<size_t>(H) + o];
        out.push_back(std::move(wih));
        out.push_back(std::move(whh));
        out.push_back(std::move(bih));
        out.push_back(std::move(bhh));
    }
    if (adaptive) {
        for (const auto& t : adaptive->tensors())
            out.push_back({"decoder." + t.name, t.shape, floats(adaptive_off + t.offset, t.count)});
    } else {
        out.push_back({"decoder.weight", {V, H}, floats(dec_w_off, size_t{V} * H)});
        out.push_back({"decoder.bias", {V}, floats(dec_b_off, V)});
    }
    return out;
}

status language_model::impl::import_into(float* base, const std::vector<named_tensor>& tensors,
                                         const std::string& source) {
    auto find = [&](const std::string& name, std::vector<int64_t> shape) -> result<const named_tensor*> {
        for (const auto& t : tensors) {
            if (t.name != name) continue;
            if (t.shape != shape) {
                auto dims = [](const std::vector<int64_t>& s) {
                    std::string r;
                    for (auto d : s) r += (r.empty() ? "" : " x ") + std::to_string(d);
                    return "(" + r + ")";
                };
                return make_error(errc::format,
                                  fmt::format("'{}': tensor '{}' has shape {} but the configuration needs {}",
                                              source, name, dims(t.shape), dims(shape)));
            }
            return &t;
        }
        return make_error(errc::format, fmt::format("'{}': tensor '{}' is missing", source, name));
    };
    const int G = gate_count(cfg.cell), Gb = bias_gate_count(cfg.cell);
    size_t used = 0;
    if (E > 0) {
        auto t = find("embedding.weight", {V, E});
        if (!t) return t.err();
        std::copy((*t)->data.begin(), (*t)->data.end(), base + emb_off);  // in place: generators point at it
        ++used;
    }
    for (uint32_t l = 0; l < cfg.layers; ++l) {
        const size_t in = l == 0 ? I : H;
        const int64_t gh = static_cast<int64_t>(G) * H;
        auto wih = find(fmt::format("rnn.weight_ih_l{}", l), {gh, static_cast<int64_t>(in)});
        auto whh = find(fmt::format("rnn.weight_hh_l{}", l), {gh, H});
        auto bih = find(fmt::format("rnn.bias_ih_l{}", l), {gh});
        auto bhh = find(fmt::format("rnn.bias_hh_l{}", l), {gh});
        for (auto* r : {&wih, &whh, &bih, &bhh})
            if (!*r) return r->err();
        used += 4;
        std::vector<float> wx(in * G * H), wh(static_cast<size_t>(H) * G * H), b(static_cast<size_t>(Gb) * H, 0.f);
        for (int tg = 0; tg < G; ++tg) {
            const int dg = dnnl_gate_of_torch(cfg.cell, tg);
            for (uint32_t o = 0; o < H; ++o) {
                const size_t row = static_cast<size_t>(tg) * H + o;
                for (size_t i = 0; i < in; ++i) wx[(i * G + dg) * H + o] = (*wih)->data[row * in + i];
                for (size_t i = 0; i < H; ++i) wh[(i * G + dg) * H + o] = (*whh)->data[row * H + i];
                const bool lbr_n = cfg.cell == cell_type::lbr_gru && tg == 2;
                b[static_cast<size_t>(dg) * H + o] = (*bih)->data[row] + (lbr_n ? 0.f : (*bhh)->data[row]);
                if (lbr_n) b[3 * static_cast<size_t>(H) + o] = (*bhh)->data[row];
            }
        }
        rnn.set_layer_of(base + rnn_off, static_cast<int>(l), wx.data(), wh.data(), b.data());
    }
    if (adaptive) {
        for (const auto& t : adaptive->tensors()) {
            auto d = find("decoder." + t.name, t.shape);
            if (!d) return d.err();
            std::copy((*d)->data.begin(), (*d)->data.end(), base + adaptive_off + t.offset);
            ++used;
        }
    } else {
        auto dw = find("decoder.weight", {V, H});
        if (!dw) return dw.err();
        auto db = find("decoder.bias", {V});
        if (!db) return db.err();
        std::copy((*dw)->data.begin(), (*dw)->data.end(), base + dec_w_off);
        std::copy((*db)->data.begin(), (*db)->data.end(), base + dec_b_off);
        used += 2;
    }
    for (const auto& t : tensors)
        if (t.name.rfind("optimizer.", 0) == 0 || t.name.rfind("training.", 0) == 0) ++used;  // checkpoints
    if (base == params.data) {
        rnn.weights_changed();
        drop_reduced();
    }
    if (used != tensors.size())
        return make_error(errc::format, fmt::format("'{}' has {} tensors that this {} model does not use", source,
                                                    tensors.size() - used, to_string(cfg.cell)));
    return {};
}

// --- public faces

language_model::language_model(const model_config& cfg, const text_config& text, vocabulary vocab, uint64_t seed)
    : p_(std::make_unique<impl>(cfg, text, std::move(vocab), seed)) {}
language_model::~language_model() = default;
language_model::language_model(language_model&&) noexcept = default;
language_model& language_model::operator=(language_model&&) noexcept = default;

const model_config& language_model::config() const { return p_->cfg; }
const text_config& language_model::text() const { return p_->text; }
const vocabulary& language_model::vocab() const { return p_->vocab; }

uint64_t language_model::parameter_count() const {
    uint64_t n = 0;
    for (const auto& t : p_->tensors) n += t.numel();
    return n;
}

const std::vector<tensor_desc>& language_model::tensors() const { return p_->tensors; }

loss_sum language_model::evaluate(const token_stream& ids, uint32_t streams, uint32_t steps,
                                  std::vector<float>* per_token, const logits_sink& on_logits) const {
    return evaluation_session(*this).evaluate(ids, streams, steps, per_token, on_logits);
}

std::vector<named_tensor> language_model::export_tensors() const { return p_->export_tensors(); }
status language_model::import_tensors(const std::vector<named_tensor>& tensors, const std::string& source) {
    return p_->import_tensors(tensors, source);
}

training_session::training_session(language_model& model, uint32_t steps, uint32_t batch, precision p)
    : p_(std::make_unique<impl>(*model.p_, steps, batch, p)) {}
training_session::~training_session() = default;
training_session::training_session(training_session&&) noexcept = default;
training_session& training_session::operator=(training_session&&) noexcept = default;

uint32_t training_session::steps() const { return p_->T; }
uint32_t training_session::batch() const { return p_->N; }
void training_session::reset_state() { p_->rnn.reset_state(); }
void training_session::carry_state() { p_->rnn.carry_state(); }
loss_sum training_session::train_step(const int32_t* inputs, const int32_t* targets, uint64_t denominator) {
    return p_->train_step(inputs, targets, denominator);
}

std::vector<param_view> training_session::params() {
    impl& s = *p_;
    language_model::impl& m = s.m;
    m.rnn.weights_changed();  // the caller may write the values
    m.drop_reduced();
    return {param_view{"parameters", m.params.data, s.grads.data, m.params.floats}};
}

training_session::recurrent_state training_session::state() {
    const size_t n = static_cast<size_t>(p_->m.cfg.layers) * p_->N * p_->m.H;
    recurrent_state st;
    st.h.assign(p_->rnn.initial_h(), p_->rnn.initial_h() + n);
    if (p_->m.cfg.cell == cell_type::lstm) st.c.assign(p_->rnn.initial_c(), p_->rnn.initial_c() + n);
    return st;
}

void training_session::set_state(const recurrent_state& st) {
    const size_t n = static_cast<size_t>(p_->m.cfg.layers) * p_->N * p_->m.H;
    CHARLM_ASSERT(st.h.size() == n);
    std::copy(st.h.begin(), st.h.end(), p_->rnn.initial_h());
    if (p_->m.cfg.cell == cell_type::lstm) {
        CHARLM_ASSERT(st.c.size() == n);
        std::copy(st.c.begin(), st.c.end(), p_->rnn.initial_c());
    }
}

uint64_t training_session::dropout_calls() const { return p_->rnn.dropout_calls(); }
float* training_session::gradient_buffer() { return p_->grads.data; }
void training_session::set_stream_slice(uint32_t first, uint32_t global) {
    CHARLM_ASSERT(first + p_->N <= global);
    p_->rnn.set_stream_slice(first, global);
}
void training_session::set_dropout_calls(uint64_t n) { p_->rnn.set_dropout_calls(n); }

evaluation_session::evaluation_session(const language_model& model, precision p)
    : p_(std::make_unique<impl>(*model.p_, p)) {}
evaluation_session::~evaluation_session() = default;
evaluation_session::evaluation_session(evaluation_session&&) noexcept = default;
evaluation_session& evaluation_session::operator=(evaluation_session&&) noexcept = default;
loss_sum evaluation_session::evaluate(const token_stream& ids, uint32_t streams, uint32_t steps,
                                      std::vector<float>* per_token, const logits_sink& on_logits,
                                      const std::function<bool()>& keep_going) {
    return p_->evaluate(ids, streams, steps, per_token, on_logits, 0, 0, keep_going);
}
loss_sum evaluation_session::evaluate_part(const token_stream& ids, uint32_t streams, uint32_t steps, uint32_t first,
                                           uint32_t count) {
    return p_->evaluate(ids, streams, steps, nullptr, {}, first, count);
}

generator::generator(const language_model& model, uint32_t batch, precision p)
    : p_(std::make_unique<impl>(*model.p_, batch, p)) {}
generator::~generator() = default;
generator::generator(generator&&) noexcept = default;
generator& generator::operator=(generator&&) noexcept = default;
uint32_t generator::batch() const { return p_->N; }
void generator::copy_state_to_rows(const generator& one_row) { p_->broadcast_state(*one_row.p_); }
const float* generator::step(const int32_t* ids) {
    // (N, H) on the weights frozen when the generator was made
    return p_->head.logits_of(p_->step(ids), p_->N);
}
generator::saved_state generator::save() const {
    const size_t n = static_cast<size_t>(p_->m.cfg.layers) * p_->N * p_->m.H;
    saved_state s;
    s.h.assign(p_->final_h(), p_->final_h() + n);
    if (p_->final_c()) s.c.assign(p_->final_c(), p_->final_c() + n);
    return s;
}
void generator::restore(const saved_state& s) {
    CHARLM_ASSERT(s.h.size() == static_cast<size_t>(p_->m.cfg.layers) * p_->N * p_->m.H);
    p_->set_state(s.h.data(), s.c.empty() ? nullptr : s.c.data());
}

recurrent_state generator::state() const {
    const size_t n = static_cast<size_t>(p_->m.cfg.layers) * p_->N * p_->m.H;
    recurrent_state st;
    st.h.assign(p_->final_h(), p_->final_h() + n);
    if (p_->m.cfg.cell == cell_type::lstm) st.c.assign(p_->final_c(), p_->final_c() + n);
    return st;
}

status generator::set_state(const recurrent_state& st) {
    const size_t n = static_cast<size_t>(p_->m.cfg.layers) * p_->N * p_->m.H;
    const bool lstm = p_->m.cfg.cell == cell_type::lstm;
    if (st.h.size() != n)
        return make_error(errc::usage, fmt::format("the state's h has {} values; this model and batch take {} "
                                                   "(layers {} x batch {} x hidden {})",
                                                   st.h.size(), n, p_->m.cfg.layers, p_->N, p_->m.H));
    if (lstm && st.c.size() != n)
        return make_error(errc::usage, fmt::format("the state's c has {} values; an LSTM of this size takes {}",
                                                   st.c.size(), n));
    if (!lstm && !st.c.empty())
        return make_error(errc::usage, fmt::format("the state has a c, but a {} has no cell state",
                                                   to_string(p_->m.cfg.cell)));
    p_->set_state(st.h.data(), lstm ? st.c.data() : nullptr);
    return {};
}

}  // namespace charlm
