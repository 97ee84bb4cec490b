// The JSON side of the server: parses and checks request bodies (and the GET form's query
// parameters) into typed requests, and builds the answers' JSON. No sockets here (server.cpp),
// so every rule is a plain function that the tests can call.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "charlm/lyrics.hpp"
#include "charlm/poem.hpp"
#include "charlm/serve.hpp"

namespace charlm::serve_api {

using json = nlohmann::json;

// An error answer: HTTP status and a message that says what to change.
struct http_error {
    int status = 400;
    std::string message;
};

// A poem's mood is read again at every backup of the sampler: kept short.
constexpr size_t max_mood_bytes = 1024;

struct generate_request {
    std::string model;  // an id; empty: the first model
    std::string prefix;
    sample_config cfg;
    poem_config poem;      // active(): poems of a form (length, stop and n_probs do not apply)
    lyric_config lyrics;   // active(): lyrics with a rhyme scheme (likewise)
    uint32_t n_probs = 0;  // alternatives per token in stream events
    bool stream = false;
    json converted = json::array();  // the inputs read in the model's script (convert_inputs), as answered
};

struct eval_request {
    std::string model;
    std::string text;
    convert_policy convert = convert_policy::automatic;  // a text in the other Chinese script
    charlm::precision precision = charlm::precision::f32;  // the server's --precision unless the body says
};

// A body as JSON: 400 for malformed JSON or a value that is not an object.
bool parse_body(const std::string& body, json& out, http_error& err);

// A request target's query ("/path?a=1&b=x%3Dy") as name-value pairs: split at '&', then at the
// first '=' only, so a value may hold '='; %XX and '+' decoded. Malformed escapes stay as written.
std::multimap<std::string, std::string> parse_query(const std::string& target);

// The GET form of /api/generate: query parameters become a JSON object with the same types as the
// POST body (numbers, true/false; a repeated "stop" is a list), so one checker serves both.
json query_to_json(const std::multimap<std::string, std::string>& params);

// Fields checked one by one: an unknown field, a wrong type or a value out of range is a 400 that
// names the field; the limits come from the server's configuration.
bool parse_generate(const json& body, const serve_config& cfg, generate_request& out, http_error& err);
bool parse_eval(const json& body, precision default_precision, eval_request& out, http_error& err);

// A library message with the CLI's option names (--top-p) turned into the API's fields ('top_p').
std::string api_names(std::string message);

// `{"error": {"status": ..., "message": ...}}`
std::string error_body(const http_error& e);

// What `charlm info --json` tells about a model, without the tensors.
json describe(const served_model& m);

// The server's defaults and limits: the page takes its initial settings from here.
json props(const serve_config& cfg, const std::vector<served_model>& models, const std::vector<served_run>& runs);

// A --metrics file's complete lines as JSON objects (a half-written last line is left for the
// next read); lines that are not JSON objects are skipped.
json read_metrics(const std::string& path, http_error& err, bool& ok);

// Evaluation of `text` under a model: tokens, perplexity with its standard error, unknown tokens.
// `keep_going` (asked every 64 tokens) false ends it with a 503.
bool evaluate_text(const language_model& model, const eval_request& rq, json& out, http_error& err,
                   const std::function<bool()>& keep_going = {});

// log p(id) under softmax(logits), natural log, in double with max subtraction; and the top-n
// alternatives as [{"text", "p"}] (most likely first).
double log_prob(const float* logits, uint32_t v, uint32_t id);
json top_alternatives(const float* logits, const vocabulary& vocab, uint32_t n);

}  // namespace charlm::serve_api
