// Evaluating a model on a text: perplexity with a standard error that allows for correlated
// tokens, the same figure over the tokens the vocabulary knows, and optionally every predicted
// position's logits in a file. What `charlm eval` prints. Not here: the forward pass (model.hpp).
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "charlm/model.hpp"
#include "charlm/script.hpp"
#include "charlm/status.hpp"
#include "charlm/text.hpp"

namespace charlm {

struct eval_options {
    uint32_t streams = 32;  // parallel streams the text is cut into
    uint32_t steps = 64;    // time steps per forward call
    // When set: every predicted position's logits (log-probabilities with the adaptive softmax),
    // raw little-endian float32, (tokens - 1) x V row-major in text order. Needs streams == 1.
    std::string logits_path;
    bool overwrite = false;  // replace an existing logits file (--force)
    // A text in the other Chinese script than the model's is read converted to the model's (auto).
    convert_policy convert = convert_policy::automatic;
    charlm::precision precision = charlm::precision::f32;  // f32 or int8 (model_config.hpp)
    read_progress progress;  // hears the reading of a file (load_text's)
};

// A perplexity and its standard error. The error comes from the spread of the mean NLL of
// consecutive blocks of the text (batch means): neighbouring tokens are correlated (a hard line
// is hard all along), so the per-token spread divided by sqrt(tokens) understates it. Blocks are
// taken as independent of each other; `blocks` is 0 when the text is too short for two blocks
// (then the error is NaN: unknown).
// Blocks hold at least this many predicted tokens (at most 32 blocks): two blocks, 200 tokens, is
// the shortest text with an error estimate.
constexpr uint64_t eval_min_block_tokens = 100;

struct perplexity_estimate {
    uint64_t tokens = 0;  // predicted tokens counted
    double nll_mean = 0;  // per token, natural log
    double perplexity = 0;
    double std_error = 0; // of the perplexity (delta method: perplexity x the mean NLL's error)
};

struct eval_report {
    uint64_t tokens = 0;           // predicted tokens: the text's tokens less the first
    uint64_t unknown_tokens = 0;   // tokens of the text the vocabulary lacks, read and scored as <unk>
    perplexity_estimate all;       // over every predicted token (<unk> targets included)
    perplexity_estimate known;     // over the predicted tokens that are not <unk>
    double nll_stddev = 0;         // of the per-token NLL
    double stderr_independent = 0; // the perplexity's error if tokens were independent, for comparison
    uint64_t blocks = 0;           // blocks of the batch-means error (0: text too short)
    uint64_t block_tokens = 0;     // predicted tokens per block (the last blocks may hold one more)
    script_conversion converted = script_conversion::none;  // how the text was read (eval_options::convert)
    double bits_per_token() const;
};

// Reads `text_path` ('-': standard input) through the model's own preprocessing and evaluates
// it. Errors: the text's (decoding, I/O), errc::input for fewer than 2 tokens, errc::usage for
// logits with several streams, and the logits file's (check_output_path, write failures).
result<eval_report> evaluate_file(const language_model& model, const std::string& text_path, const eval_options& opts);

// The same over text already in memory (bytes in the model's encoding), named `source_name` in
// messages, without a logits file: what the Python module's Model.evaluate runs. Errors: the
// text's (decoding), errc::usage for streams or steps of 0, errc::input for fewer than 2 tokens.
result<eval_report> evaluate_bytes(const language_model& model, std::string_view bytes, const std::string& source_name,
                                   uint32_t streams, uint32_t steps, convert_policy convert = convert_policy::automatic,
                                   precision p = precision::f32);

// The same for a text already read and mapped to the vocabulary (`unknown_tokens` of its tokens
// were not in it), without a logits file: what the server's /api/eval runs. Needs ids.size() >= 2.
// `keep_going`, asked before each chunk of `steps` tokens, may end it early: the report is then of
// the tokens read so far (empty when none were).
eval_report evaluate_ids(const language_model& model, const token_stream& ids, uint64_t unknown_tokens,
                         uint32_t streams, uint32_t steps, const std::function<bool()>& keep_going = {},
                         precision p = precision::f32);

// The report as one JSON object, as `charlm eval --json` prints it and /api/eval answers; an error
// that cannot be estimated (a text too short for two blocks) is null.
nlohmann::json to_json(const eval_report& r);

// The figures of an eval_report (all but unknown_tokens) from the NLL of every predicted token in
// text order; known[i]: token i's target is not <unk>. Needs at least one token.
eval_report summarize_nll(const std::vector<float>& nll, const std::vector<bool>& known);

}  // namespace charlm
