// evaluate_file (evaluate.hpp): the text through the model's preprocessing, the forward pass over
// it, perplexities with batch-means standard errors, and the logits file.
// Not here: the forward pass itself (models/), printing (app/cmd_model.cpp).
#include "charlm/evaluate.hpp"

#include <fmt/core.h>

#include <nlohmann/json.hpp>

#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <iterator>
#include <limits>
#include <vector>

#include "charlm/files.hpp"
#include "charlm/vocab.hpp"

namespace charlm {

namespace {

// At most this many blocks (of at least eval_min_block_tokens): character-level NLL is correlated
// over about a line, and 32 blocks estimate the spread to about 13%.
constexpr uint64_t max_blocks = 32;

// Ratio estimator over blocks: mean = sum(s_b) / sum(k_b), its variance
// B / (B - 1) * sum((s_b - mean k_b)^2) / (sum k_b)^2, where block b holds k_b counted tokens of
// NLL sum s_b. With equal blocks this is the variance of the block means over B.
perplexity_estimate estimate(const std::vector<double>& sum, const std::vector<uint64_t>& count) {
    perplexity_estimate e;
    double total = 0;
    for (size_t b = 0; b < sum.size(); ++b) {
        total += sum[b];
        e.tokens += count[b];
    }
    if (e.tokens == 0) {
        e.nll_mean = e.perplexity = e.std_error = std::numeric_limits<double>::quiet_NaN();
        return e;
    }
    e.nll_mean = total / static_cast<double>(e.tokens);
    e.perplexity = std::exp(e.nll_mean);
    const size_t B = sum.size();
    if (B < 2) {
        e.std_error = std::numeric_limits<double>::quiet_NaN();
        return e;
    }
    double ss = 0;
    for (size_t b = 0; b < B; ++b) {
        const double d = sum[b] - e.nll_mean * static_cast<double>(count[b]);
        ss += d * d;
    }
    const double n = static_cast<double>(e.tokens);
    e.std_error = e.perplexity * std::sqrt(static_cast<double>(B) / static_cast<double>(B - 1) * ss) / n;
    return e;
}

// Streams rows of V floats to a file as little-endian float32 (the host's order, as model files).
static_assert(std::endian::native == std::endian::little, "the logits file is little-endian float32");
class logits_file {
public:
    ~logits_file() {
        if (f_) std::fclose(f_);
    }
    status open(const std::string& path, bool overwrite) {
        CHARLM_TRY(check_output_path(path, overwrite));
        path_ = path;
        f_ = std::fopen(path.c_str(), "wb");
        if (!f_)
            return make_error(errc::io, fmt::format("cannot create '{}' for --logits: {}; check that its directory "
                                                    "exists and is writable",
                                                    path, std::strerror(errno)));
        return {};
    }
    void write(const float* logits, uint32_t V) { std::fwrite(logits, sizeof(float), V, f_); }
    status close() {
        const bool failed = std::ferror(f_) != 0;
        const bool close_failed = std::fclose(f_) != 0;
        f_ = nullptr;
        if (failed || close_failed)
            return make_error(errc::io, fmt::format("writing the logits to '{}' failed (disk full?)", path_));
        return {};
    }

private:
    std::FILE* f_ = nullptr;
    std::string path_;
};

}  // namespace

double eval_report::bits_per_token() const { return all.nll_mean / std::log(2.0); }

namespace {

// The report of per-token NLLs (text order) of `ids`' predicted tokens.
eval_report report_of(const token_stream& ids, const std::vector<float>& nll, uint64_t unknown) {
    std::vector<bool> known(nll.size());
    for (size_t i = 0; i < known.size(); ++i) known[i] = ids[i + 1] != vocabulary::unk_id;
    eval_report rep = summarize_nll(nll, known);
    rep.unknown_tokens = unknown;
    return rep;
}

}  // namespace

// The text through the model's preprocessing (`load` reads it with given text settings); with
// `convert` automatic and tokens the model never saw, read again converted to the model's script when
// that leaves fewer unknown (`converted` says so).
template <class Load>
static result<tokenized_text> in_model_script(const language_model& model, convert_policy convert, const Load& load,
                                              script_conversion& converted) {
    auto text = load(model.text());
    if (!text || convert == convert_policy::off) return text;
    const text_script other =
        model.text().script == text_script::traditional ? text_script::simplified : text_script::traditional;
    const script_conversion c = conversion_between(other, model.text().script);
    auto unknown_in = [&](const tokenized_text& t) {
        uint64_t n = 0;
        for (size_t k = 0; k < t.tokens.size(); ++k)
            if (!model.vocab().contains(t.tokens[k])) n += t.counts[k];
        return n;
    };
    const uint64_t unknown = unknown_in(*text);
    if (c == script_conversion::none || unknown == 0) return text;
    text_config tc = model.text();
    tc.convert = c;
    auto again = load(tc);
    if (!again) return again.err();
    if (unknown_in(*again) >= unknown) return text;
    converted = c;
    return again;
}

static result<tokenized_text> load_in_model_script(const language_model& model, const std::string& path,
                                                   convert_policy convert, const read_progress& progress,
                                                   script_conversion& converted) {
    // Standard input cannot be read twice: kept in memory when it may be read again converted.
    std::string stdin_bytes;
    const bool from_stdin = path == "-" && convert == convert_policy::automatic;
    if (from_stdin) stdin_bytes.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    auto load = [&](const text_config& tc) {
        return from_stdin ? tokenize_bytes(stdin_bytes, tc, "standard input") : load_text(path, tc, progress);
    };
    return in_model_script(model, convert, load, converted);
}

result<eval_report> evaluate_file(const language_model& model, const std::string& text_path, const eval_options& opts) {
    if (opts.streams < 1 || opts.steps < 1) return make_error(errc::usage, "--streams and --steps must be >= 1");
    // Rows reach the file in text order only when the text is read as one stream.
    if (!opts.logits_path.empty() && opts.streams > 1)
        return make_error(errc::usage, "--logits writes rows in text order and needs --streams 1");
    if (std::string why = precision_unavailable(opts.precision); !why.empty()) return make_error(errc::usage, why);
    script_conversion converted = script_conversion::none;
    auto text = load_in_model_script(model, text_path, opts.convert, opts.progress, converted);
    if (!text) return text.err();
    uint64_t unknown = 0;
    const token_stream ids = map_to_vocab(*text, model.vocab(), &unknown);
    if (ids.size() < 2)
        return make_error(errc::input, fmt::format("'{}' has fewer than 2 tokens: nothing to predict", text_path));

    logits_file out;
    logits_sink sink;
    if (!opts.logits_path.empty()) {
        CHARLM_TRY(out.open(opts.logits_path, opts.overwrite));
        const uint32_t V = model.vocab().size();
        sink = [&out, V](uint64_t, const float* logits) { out.write(logits, V); };
    }
    std::vector<float> nll;  // (tokens - 1) per predicted token, text order
    evaluation_session session(model, opts.precision);
    const loss_sum l = session.evaluate(ids, opts.streams, opts.steps, &nll, sink);
    if (!opts.logits_path.empty()) CHARLM_TRY(out.close());
    CHARLM_ASSERT(nll.size() == l.tokens && l.tokens == ids.size() - 1);
    eval_report rep = report_of(ids, nll, unknown);
    rep.converted = converted;
    return rep;
}

result<eval_report> evaluate_bytes(const language_model& model, std::string_view bytes, const std::string& source_name,
                                   uint32_t streams, uint32_t steps, convert_policy convert, precision p) {
    if (streams < 1 || steps < 1) return make_error(errc::usage, "--streams and --steps must be >= 1");
    if (std::string why = precision_unavailable(p); !why.empty()) return make_error(errc::usage, why);
    script_conversion converted = script_conversion::none;
    auto text = in_model_script(
        model, convert, [&](const text_config& tc) { return tokenize_bytes(bytes, tc, source_name); }, converted);
    if (!text) return text.err();
    uint64_t unknown = 0;
    const token_stream ids = map_to_vocab(*text, model.vocab(), &unknown);
    if (ids.size() < 2)
        return make_error(errc::input, fmt::format("'{}' has fewer than 2 tokens: nothing to predict", source_name));
    eval_report rep = evaluate_ids(model, ids, unknown, streams, steps, {}, p);
    rep.converted = converted;
    return rep;
}

eval_report evaluate_ids(const language_model& model, const token_stream& ids, uint64_t unknown_tokens,
                         uint32_t streams, uint32_t steps, const std::function<bool()>& keep_going,
                         precision p) {
    CHARLM_ASSERT(ids.size() >= 2);
    std::vector<float> nll;  // (tokens - 1) per predicted token, text order
    evaluation_session session(model, p);
    session.evaluate(ids, streams, steps, &nll, {}, keep_going);
    if (nll.empty()) return eval_report{};
    return report_of(ids, nll, unknown_tokens);
}

nlohmann::json to_json(const eval_report& r) {
    auto or_null = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
    return {{"tokens", r.tokens},
            {"perplexity", r.all.perplexity},
            {"perplexity_stderr", or_null(r.all.std_error)},
            {"bpc", r.bits_per_token()},
            {"nll_mean", r.all.nll_mean},
            {"nll_stddev", r.nll_stddev},
            {"unknown_tokens", r.unknown_tokens},
            {"known_tokens", r.known.tokens},
            {"known_perplexity", or_null(r.known.perplexity)},
            {"known_perplexity_stderr", or_null(r.known.std_error)},
            {"stderr_blocks", r.blocks},
            {"stderr_block_tokens", r.block_tokens},
            {"perplexity_stderr_if_independent", r.stderr_independent},
            {"converted", r.converted == script_conversion::none ? nlohmann::json(nullptr)
                                                                  : nlohmann::json(to_string(r.converted))}};
}

eval_report summarize_nll(const std::vector<float>& nll, const std::vector<bool>& known) {
    CHARLM_ASSERT(known.size() == nll.size() && !nll.empty());
    eval_report rep;
    // Blocks of consecutive predicted tokens: token i in block i * B / n, so sizes differ by one.
    const uint64_t n = nll.size();
    rep.tokens = n;
    const uint64_t B = std::min(max_blocks, n / eval_min_block_tokens);
    rep.blocks = B >= 2 ? B : 0;
    rep.block_tokens = B >= 2 ? n / B : 0;
    const uint64_t slots = std::max<uint64_t>(B, 1);
    std::vector<double> sum_all(slots, 0), sum_known(slots, 0);
    std::vector<uint64_t> n_all(slots, 0), n_known(slots, 0);
    double total = 0;
    for (float v : nll) total += v;
    const double mean = total / static_cast<double>(n);
    double sq = 0;
    for (uint64_t i = 0; i < n; ++i) {
        const size_t b = static_cast<size_t>(i * slots / n);
        const double v = nll[i];
        sum_all[b] += v;
        ++n_all[b];
        if (known[i]) {
            sum_known[b] += v;
            ++n_known[b];
        }
        sq += (v - mean) * (v - mean);
    }
    rep.all = estimate(sum_all, n_all);
    rep.known = estimate(sum_known, n_known);
    rep.nll_stddev = std::sqrt(sq / static_cast<double>(std::max<uint64_t>(1, n - 1)));
    rep.stderr_independent = rep.all.perplexity * rep.nll_stddev / std::sqrt(static_cast<double>(n));
    return rep;
}

}  // namespace charlm
