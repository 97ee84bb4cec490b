// Sampling: a small pure function from logits to a token (temperature, max subtraction, sums in
// double, an explicitly seeded draw), and text generation from a prefix that goes through the
// model's own preprocessing. Not here: streaming to a terminal (app/).
#include <fmt/core.h>

#include <cmath>
#include <limits>

#include "charlm/train.hpp"

namespace charlm {

uint32_t sample_token(const float* logits, uint32_t v, float temperature, uint64_t& rng_state) {
    CHARLM_ASSERT(v > 0);
    uint32_t best = 0;
    for (uint32_t i = 1; i < v; ++i)
        if (logits[i] > logits[best]) best = i;
    if (temperature <= 0 || !std::isfinite(logits[best])) return best;
    const double max = logits[best];
    const double inv_t = 1.0 / temperature;
    double total = 0;
    for (uint32_t i = 0; i < v; ++i) total += std::exp((logits[i] - max) * inv_t);
    // 53 random bits -> u in [0, total)
    const double u = static_cast<double>(splitmix64(rng_state) >> 11) * 0x1.0p-53 * total;
    double acc = 0;
    for (uint32_t i = 0; i < v; ++i) {
        acc += std::exp((logits[i] - max) * inv_t);
        if (u < acc) return i;
    }
    return best;  // u landed in the rounding slack at the very top
}

result<std::string> generate_text(language_model& model, const std::string& prefix, uint32_t length,
                                  float temperature, uint64_t seed,
                                  const std::function<void(const std::string&)>& on_text) {
    const vocabulary& vocab = model.vocab();
    auto tokens = segment_utf8(prefix, model.text());
    if (!tokens) return tokens.err();
    std::string unknown;
    for (const auto& t : *tokens)
        if (!vocab.contains(t)) unknown += fmt::format(" '{}' ({})", t, describe_code_points(t));
    if (!unknown.empty())
        return make_error(errc::input, fmt::format("the prefix has tokens the model never saw:{}", unknown));

    static const std::string replacement = "\xEF\xBF\xBD";  // <unk> prints as U+FFFD
    model.begin_generation(1);
    std::string out;
    int32_t id = 0;
    // An empty prefix starts from the state after a line break, where text usually starts.
    if (tokens->empty()) {
        if (vocab.contains("\n")) {
            id = static_cast<int32_t>(vocab.id("\n"));
        } else {
            id = static_cast<int32_t>(vocabulary::unk_id);
        }
    }
    const float* logits = nullptr;
    if (tokens->empty()) {
        logits = model.generation_step(&id);
    } else {
        for (const auto& t : *tokens) {
            id = static_cast<int32_t>(vocab.id(t));
            out += t;
            logits = model.generation_step(&id);
        }
    }
    if (on_text && !out.empty()) on_text(out);
    uint64_t rng = seed;
    for (uint32_t k = 0; k < length; ++k) {
        id = static_cast<int32_t>(sample_token(logits, vocab.size(), temperature, rng));
        const std::string& piece = id == static_cast<int32_t>(vocabulary::unk_id) ? replacement : vocab.token(static_cast<uint32_t>(id));
        out += piece;
        if (on_text) on_text(piece);
        if (k + 1 < length) logits = model.generation_step(&id);
    }
    return out;
}

}  // namespace charlm
