// Sampling: the settings' checks, a small pure function from logits to a token (temperature,
// top-k, top-p, max subtraction, sums in double, an explicitly seeded draw), and batched text
// generation from a prefix read through the model's own preprocessing.
// Not here: streaming to a terminal or separating samples (app/cmd_model.cpp).
#include <fmt/core.h>

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "charlm/batches.hpp"
#include "charlm/options.hpp"
#include "charlm/random.hpp"
#include "charlm/sample.hpp"
#include "layers/softmax_xent.h"

namespace charlm {

namespace {

constexpr std::string_view replacement_char = "\xEF\xBF\xBD";  // <unk> prints as U+FFFD

// A 53-bit uniform in [0, 1).
double uniform01(uint64_t& rng_state) {
    return static_cast<double>(splitmix64(rng_state) >> 11) * 0x1.0p-53;
}

// Draws from the (unnormalized) weights of the candidates ids[0, n) (top-k / top-p); draw_all below
// takes the whole vocabulary.
uint32_t draw(const float* weight, const uint32_t* ids, uint32_t n, uint64_t& rng_state) {
    double total = 0;
    for (uint32_t i = 0; i < n; ++i) total += weight[ids[i]];
    const double u = uniform01(rng_state) * total;
    double acc = 0;
    for (uint32_t i = 0; i < n; ++i) {
        acc += weight[ids[i]];
        if (u < acc) return ids[i];
    }
    // u rounded up onto the total: the last candidate that can occur.
    for (uint32_t i = n; i-- > 0;)
        if (weight[ids[i]] > 0) return ids[i];
    return ids[0];
}

// The whole vocabulary (no top-k/top-p), in O(V / 64 + 64) sequential steps instead of O(V):
// the weights' sums by blocks of 64 ids (four interleaved partial sums each, a fixed order on every
// CPU), then a walk over the blocks and one scan inside the block that holds u. At V 7000 a draw
// was two dependent chains of 7000 double additions (~16 us of a 100 us character).
uint32_t draw_all(const float* weight, uint32_t n, uint64_t& rng_state, std::vector<double>& block) {
    constexpr uint32_t B = 64;
    const uint32_t nb = (n + B - 1) / B;
    block.resize(nb);
    double total = 0;
    for (uint32_t b = 0; b < nb; ++b) {
        const uint32_t lo = b * B, hi = std::min(n, lo + B);
        double a[4] = {0, 0, 0, 0};
        uint32_t i = lo;
        for (; i + 4 <= hi; i += 4)
            for (uint32_t k = 0; k < 4; ++k) a[k] += weight[i + k];
        for (; i < hi; ++i) a[0] += weight[i];
        block[b] = (a[0] + a[1]) + (a[2] + a[3]);
        total += block[b];
    }
    const double u = uniform01(rng_state) * total;
    double acc = 0;
    uint32_t b = 0;
    for (; b < nb && !(u < acc + block[b]); ++b) acc += block[b];
    for (uint32_t i = b * B; i < n; ++i) {  // may run past block b: its sum was rounded differently
        acc += weight[i];
        if (u < acc) return i;
    }
    for (uint32_t i = n; i-- > 0;)  // u rounded up onto the total: the last candidate that can occur
        if (weight[i] > 0) return i;
    return 0;
}

// Passes over the logits that the compiler vectorizes (an AVX2 clone beside generic x86-64).
__attribute__((target_clones("arch=x86-64-v3", "default"))) bool any_nan(const float* x, uint32_t n) {
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; ++i) k += x[i] != x[i];
    return k != 0;
}
__attribute__((target_clones("arch=x86-64-v3", "default"))) float max_of(const float* x, uint32_t n) {
    float m = x[0];
#pragma omp simd reduction(max : m)
    for (uint32_t i = 1; i < n; ++i) m = x[i] > m ? x[i] : m;
    return m;
}
__attribute__((target_clones("arch=x86-64-v3", "default"))) void scaled_shift(float* __restrict w,
                                                                            const float* __restrict x, uint32_t n,
                                                                            float max, float inv_t) {
    for (uint32_t i = 0; i < n; ++i) w[i] = (x[i] - max) * inv_t;
}

bool ends_with_stop(std::string_view generated, const std::vector<std::string>& stop) {
    for (const auto& s : stop)
        if (generated.ends_with(s)) return true;
    return false;
}

}  // namespace

status sample_config::validate() const {
    CHARLM_TRY(check_ranges(sample_options(), *this));
    for (const auto& s : stop)
        if (s.empty()) return make_error(errc::usage, "--stop must not be empty (it would end every sample at once)");
    if (std::string why = precision_unavailable(precision); !why.empty()) return make_error(errc::usage, why);
    return status::success();
}

uint32_t sample_logits(const float* logits, uint32_t v, const token_sampler& s, uint64_t& rng_state,
                       sample_scratch& scratch) {
    CHARLM_ASSERT(v > 0);
    // The first argmax; a NaN never wins over a number. Without NaNs (the usual case): the maximum,
    // then its first position, both vectorized.
    const bool nan = any_nan(logits, v);
    uint32_t best = 0;
    if (nan) {
        for (uint32_t i = 1; i < v; ++i)
            if (logits[i] > logits[best] || std::isnan(logits[best])) best = i;
    } else {
        const float m = max_of(logits, v);
        while (logits[best] != m) ++best;
    }
    // A temperature so small that 1 / T overflows (below about 2.9e-39, a subnormal float) would
    // make the argmax's weight 0 * inf = NaN: it is the limit T -> 0, the argmax.
    const float inv_t = s.temperature > 0 ? 1.0f / s.temperature : 0.f;
    if (s.temperature <= 0 || !std::isfinite(inv_t) || s.top_k == 1 || !std::isfinite(logits[best])) return best;

    // weight (V) = exp((l - max) / T): every exponent <= 0 (or -inf), the argmax's weight is 1, so
    // neither T = 1e-4 nor |l| = 1e30 overflows. The vectorized exp (~2 ulp) of softmax_xent.h: a
    // double exp per token cost 140 us a draw at V = 7000.
    const float max = logits[best];
    scratch.weight.resize(v);
    float* w = scratch.weight.data();
    if (nan) {
        for (uint32_t i = 0; i < v; ++i)
            w[i] = std::isnan(logits[i]) ? -std::numeric_limits<float>::infinity() : (logits[i] - max) * inv_t;
    } else {
        scaled_shift(w, logits, v, max, inv_t);
    }
    nn::fast_exp(w, w, v);

    const bool use_k = s.top_k > 0 && s.top_k < v;
    const bool use_p = s.top_p < 1.0f;
    if (!use_k && !use_p) return draw_all(w, v, rng_state, scratch.block);

    // Candidates most likely first (ties by id, so the kept set is deterministic).
    scratch.order.resize(v);
    uint32_t* order = scratch.order.data();
    std::iota(order, order + v, 0u);
    auto more_likely = [w](uint32_t a, uint32_t b) { return w[a] > w[b] || (w[a] == w[b] && a < b); };
    uint32_t keep = v;
    if (use_k) {
        keep = s.top_k;
        std::partial_sort(order, order + keep, order + v, more_likely);
    } else {
        std::sort(order, order + v, more_likely);
    }
    if (use_p) {
        // The smallest prefix of the top-k-renormalized distribution whose mass reaches p.
        double kept = 0;
        for (uint32_t i = 0; i < keep; ++i) kept += w[order[i]];
        const double target = static_cast<double>(s.top_p) * kept;
        double acc = 0;
        uint32_t n = 0;
        while (n < keep) {
            acc += w[order[n++]];
            if (acc >= target) break;
        }
        keep = n;
    }
    return draw(w, order, keep, rng_state);
}

uint64_t row_stream_state(uint64_t seed, uint32_t row) {
    uint64_t a = seed;
    uint64_t x = splitmix64(a) ^ (0xD1B54A32D192ED03ULL * (static_cast<uint64_t>(row) + 1));
    return splitmix64(x);
}

namespace {

// The prefix and stop strings as the model reads them: the prefix's ids, fed one by one (a line
// break when empty: text usually starts after one), and its text, echoed at the start of each row.
struct prompt {
    std::vector<int32_t> ids;
    std::string text;
    std::vector<std::string> stop;
};

result<prompt> read_prompt(const language_model& model, const std::string& prefix, const sample_config& cfg) {
    const vocabulary& vocab = model.vocab();
    auto tokens = segment_utf8(prefix, model.text());
    if (!tokens) return tokens.err();
    if (cfg.unknown == unknown_policy::error)
        if (const unknown_tokens u = find_unknown_tokens(*tokens, vocab); u.count > 0)
            return make_error(errc::usage,
                              fmt::format("the prefix has {} token(s) the model never saw: {}; leave them out of the "
                                          "prefix, or use --unknown skip (drop them) or --unknown unk (read them as "
                                          "<unk>)",
                                          u.count, u.listed));
    prompt p;
    for (const auto& t : *tokens) {
        if (vocab.contains(t)) {
            p.ids.push_back(static_cast<int32_t>(vocab.id(t)));
            p.text += t;
        } else if (cfg.unknown == unknown_policy::unk) {
            p.ids.push_back(static_cast<int32_t>(vocabulary::unk_id));
            p.text += replacement_char;
        }
    }
    // Stop strings go through the model's preprocessing as the prefix does, so that " A A" ends a
    // sample of a --lowercase model at " a a".
    for (const auto& s : cfg.stop) {
        auto stop_tokens = segment_utf8(s, model.text());
        if (!stop_tokens) return stop_tokens.err();
        std::string joined;
        for (const auto& t : *stop_tokens) joined += t;
        p.stop.push_back(std::move(joined));
    }
    if (p.ids.empty())
        p.ids.push_back(static_cast<int32_t>(vocab.contains("\n") ? vocab.id("\n") : vocabulary::unk_id));
    return p;
}

// A step of a small model is a few microseconds of work: a second thread then costs more in
// OpenMP fork/join than it saves. Measured (bench/RESULTS.md, 2026-11-29): one row, V 65:
// LSTM 512 runs faster on 2 threads (56 vs 65 us a step), GRU 512 and everything at H 256
// on 1; 32 rows: RNN 256 on 1 (60 vs 75 us), LSTM 256 and RNN 512 on 2. A one-row step is
// matrix-vector work at about a third of the matrix-matrix rate, so it counts 3x; below
// ~6.5 MFLOP of such work generation runs on one thread.
bool one_thread_is_faster(const model_config& mc, uint32_t rows) {
    double step_flops = 2.0 * mc.hidden * mc.vocab;
    for (uint32_t l = 0; l < mc.layers; ++l)
        step_flops += 2.0 * gate_count(mc.cell) * mc.hidden * ((l == 0 ? mc.input_width() : mc.hidden) + mc.hidden);
    return step_flops * (rows == 1 ? 3.0 : rows) < 6.5e6;
}

// Reads the prefix into every row of `gen`; the logits (N, V) after its last token, or null when
// `keep_going` ended the reading. All but the last token are read by one row, whose state all rows
// then take: a 64 KB prefix for 8 samples is one read, not eight. The last token goes through the
// batch, which gives every row its logits.
const float* read_prefix(const language_model& model, generator& gen, const std::vector<int32_t>& prefix_ids,
                         uint32_t rows, std::vector<int32_t>& ids, const keep_going_fn& keep_going, precision p) {
    const size_t shared = rows > 1 ? prefix_ids.size() - 1 : 0;
    if (shared > 0) {
        generator reader(model, 1, p);
        for (size_t i = 0; i < shared; ++i) {
            if (keep_going && i % prefix_check_every == 0 && i > 0 && !keep_going()) return nullptr;
            reader.step(&prefix_ids[i]);
        }
        gen.copy_state_to_rows(reader);
    }
    const float* logits = nullptr;
    for (size_t i = shared; i < prefix_ids.size(); ++i) {
        if (keep_going && i % prefix_check_every == 0 && i > 0 && !keep_going()) return nullptr;
        std::fill(ids.begin(), ids.end(), prefix_ids[i]);
        logits = gen.step(ids.data());
    }
    return logits;
}

}  // namespace

result<std::vector<std::string>> generate(const language_model& model, const std::string& prefix,
                                          const sample_config& cfg, const text_sink& on_text,
                                          const token_sink& on_token, const keep_going_fn& keep_going) {
    CHARLM_TRY(cfg.validate());
    auto p = read_prompt(model, prefix, cfg);
    if (!p) return p.err();
    const vocabulary& vocab = model.vocab();
    const uint32_t rows = cfg.num_samples;
    const uint32_t v = vocab.size();
    std::vector<std::string> out(rows, p->text);
    if (on_text && !p->text.empty())
        for (uint32_t r = 0; r < rows; ++r) on_text(r, p->text);
    if (cfg.length == 0) return out;
    struct thread_guard {  // the caller's setting is restored
        int saved = omp_get_max_threads();
        ~thread_guard() { omp_set_num_threads(saved); }
    } restore_threads;
    if (one_thread_is_faster(model.config(), rows)) omp_set_num_threads(1);

    generator gen(model, rows, cfg.precision);
    std::vector<int32_t> ids(rows);  // (N) the token fed to each row
    const float* logits = read_prefix(model, gen, p->ids, rows, ids, keep_going, cfg.precision);  // (N, V)
    if (!logits) return out;

    std::vector<uint64_t> rng(rows);
    for (uint32_t r = 0; r < rows; ++r) rng[r] = row_stream_state(cfg.seed, r);
    std::vector<char> stopped(rows, 0);
    uint32_t active = rows;
    const token_sampler sampler = sampler_of(cfg);
    // Rows draw in parallel when there is enough work (each from its own random stream, so the
    // result does not depend on the thread count); their text is then appended in row order.
    std::vector<sample_scratch> scratch(static_cast<size_t>(std::max(1, omp_get_max_threads())));
    const bool parallel = rows > 1 && static_cast<uint64_t>(rows) * v >= (uint64_t{1} << 15);
    bool cancelled = false;
    for (uint32_t k = 0; k < cfg.length && active > 0 && !cancelled; ++k) {
        const auto n = static_cast<int64_t>(rows);
        const auto draw_row = [&](int64_t r, sample_scratch& sc) {
            if (stopped[r]) return;  // keeps feeding its last token; its logits are ignored
            ids[r] = static_cast<int32_t>(sample_logits(logits + static_cast<size_t>(r) * v, v, sampler, rng[r], sc));
        };
        if (parallel) {
#pragma omp parallel for schedule(static)
            for (int64_t r = 0; r < n; ++r) draw_row(r, scratch[static_cast<size_t>(omp_get_thread_num())]);
        } else {  // no OpenMP region at all: its fork/join is a visible part of a 20 us step
            for (int64_t r = 0; r < n; ++r) draw_row(r, scratch[0]);
        }
        for (uint32_t r = 0; r < rows; ++r) {
            if (stopped[r]) continue;
            const auto id = static_cast<uint32_t>(ids[r]);
            const std::string_view piece = id == vocabulary::unk_id ? replacement_char : vocab.token(id);
            out[r] += piece;
            if (on_text) on_text(r, piece);
            if (on_token && !on_token({r, id, piece, logits + static_cast<size_t>(r) * v, v})) cancelled = true;
            if (ends_with_stop(std::string_view(out[r]).substr(p->text.size()), p->stop)) {
                stopped[r] = 1;
                --active;
            }
        }
        if (k + 1 < cfg.length && active > 0 && !cancelled) logits = gen.step(ids.data());
    }
    return out;
}

}  // namespace charlm
