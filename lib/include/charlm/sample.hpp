// Sampling from a trained model: the settings of `charlm generate` (their defaults are the CLI's),
// a pure function from logits to a token (temperature, top-k, top-p, an explicitly seeded draw),
// and batched generation from a prefix that goes through the model's own preprocessing.
// Not here: printing (app/); the trainer calls generate() for its samples.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "charlm/model.hpp"
#include "charlm/script.hpp"
#include "charlm/status.hpp"

namespace charlm {

// What to do with prefix tokens the vocabulary lacks: fail listing them, drop them, or feed <unk>.
enum class unknown_policy { error, skip, unk };
std::string to_string(unknown_policy);
result<unknown_policy> parse_unknown_policy(std::string_view);  // "error" | "skip" | "unk"

struct sample_config {
    uint32_t length = 200;       // tokens to generate per row (after the prefix)
    float temperature = 0.8f;    // 0: argmax
    uint32_t top_k = 0;          // keep the k most likely tokens; 0: off, 1: argmax
    float top_p = 1.0f;          // nucleus: keep the smallest most-likely set reaching p; 1: off
    uint64_t seed = 1;
    uint32_t num_samples = 1;    // rows generated together as one batch
    std::vector<std::string> stop;  // a row ends once its generated text ends with one of these
    unknown_policy unknown = unknown_policy::error;
    convert_policy convert = convert_policy::automatic;  // inputs in the other Chinese script (script.hpp)
    output_script script = output_script::model;         // the script of the text the reader gets
    charlm::precision precision = charlm::precision::f32;  // f32 or int8 (model_config.hpp)

    static constexpr uint32_t max_length = 10'000'000;
    static constexpr uint32_t max_samples = 4096;

    // errc::usage with a one-line message naming the CLI option.
    status validate() const;
};

// The part of sample_config the per-token draw needs.
struct token_sampler {
    float temperature = 0.8f;
    uint32_t top_k = 0;
    float top_p = 1.0f;
};
inline token_sampler sampler_of(const sample_config& c) { return {c.temperature, c.top_k, c.top_p}; }

// Caller-owned work space so that the draw does not allocate once it has grown to V.
struct sample_scratch {
    std::vector<float> weight;    // (V) exp((logit - max) / T), each <= 1 (summed in double)
    std::vector<uint32_t> order;  // (V) candidate ids, most likely first when truncating
    std::vector<double> block;    // (V / 64) sums of the weights by blocks of 64 ids
};

// logits (V) -> token id. Temperature 0, or one so small that 1 / T overflows a float (below
// about 2.9e-39), or top_k 1 gives the first argmax; otherwise the weights exp((l - max) / T)
// are summed in double, truncated by top-k then top-p (both on the renormalized distribution),
// and one 53-bit uniform from `rng_state` (splitmix64) picks a token.
// NaN logits count as impossible; a +inf logit wins outright.
uint32_t sample_logits(const float* logits, uint32_t v, const token_sampler& s, uint64_t& rng_state,
                       sample_scratch& scratch);

// The start state of row `row`'s random stream: a hash of (seed, row), so that rows (and seeds
// differing by one) do not draw shifted copies of one splitmix64 sequence.
uint64_t row_stream_state(uint64_t seed, uint32_t row);

// Receives text as it is produced: each row's prefix once, then each generated token.
using text_sink = std::function<void(uint32_t row, std::string_view piece)>;

// One generated token with the scores that chose it, for callers that show or measure them (the
// server's alternatives and perplexity). `logits` (V) are the model's at temperature 1 (with the
// adaptive softmax, log-probabilities); valid only during the call.
struct generated_token {
    uint32_t row;
    uint32_t id;
    std::string_view piece;  // the token's text (<unk> as U+FFFD): whole UTF-8 sequences
    const float* logits;     // (V)
    uint32_t vocab;          // V
};
// Returning false ends generation for every row after this step (a client left, a Stop button).
using token_sink = std::function<bool(const generated_token&)>;

// `cfg.num_samples` continuations of `prefix`, generated as one batch, each row with its own random
// stream. Each string is the prefix as the model read it (after normalization and segmentation;
// skipped tokens left out, <unk> as U+FFFD) followed by the generated tokens, <unk> again as
// U+FFFD, so the text is valid UTF-8. An empty prefix starts from the state after "\n" when the
// vocabulary has it. A stop string goes through the model's preprocessing as the prefix does
// (normalization, lowercasing) and matches only where a token ends. Errors: cfg.validate()'s, and
// errc::usage (a bad --prefix, exit 2 as with --form) naming unknown prefix tokens with their code
// points under unknown_policy::error.
// `on_token` sees each generated token after `on_text` and may end generation early. The prefix
// is read once, by one row whose state every row then starts from; `keep_going`, asked every
// prefix_check_every prefix tokens, may end the reading (the rows are then the prefix alone).
using keep_going_fn = std::function<bool()>;
constexpr uint32_t prefix_check_every = 256;
result<std::vector<std::string>> generate(const language_model& model, const std::string& prefix,
                                          const sample_config& cfg, const text_sink& on_text = {},
                                          const token_sink& on_token = {}, const keep_going_fn& keep_going = {});

}  // namespace charlm
