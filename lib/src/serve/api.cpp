// Request checking and answer building for the server (api.h): one checker per endpoint, the
// model description, the server's defaults, metrics files and text evaluation.
// Not here: sockets, threads and streaming (server.cpp).
#include "serve/api.h"

#include <fmt/core.h>

#include "charlm/describe.hpp"
#include "charlm/evaluate.hpp"
#include "config/json_number.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>
#include <sstream>

namespace charlm::serve_api {

namespace {

http_error bad(std::string message) { return {400, std::move(message)}; }

template <class T>
status parse_into(result<T> r, T& out) {
    if (!r) return r.err();
    out = *r;
    return {};
}

const char* type_name(const json& v) {
    if (v.is_string()) return "a string";
    if (v.is_boolean()) return "true/false";
    if (v.is_number()) return "a number";
    if (v.is_array()) return "a list";
    if (v.is_object()) return "an object";
    return "null";
}

// An unsigned integer field in [lo, hi].
bool get_uint(const json& v, const char* name, uint64_t lo, uint64_t hi, uint64_t& out, http_error& err) {
    if (!v.is_number_integer() || (v.is_number_integer() && !v.is_number_unsigned() && v.get<int64_t>() < 0)) {
        err = bad(fmt::format("'{}' must be a whole number from {} to {}, not {} ({})", name, lo, hi, type_name(v),
                              v.dump()));
        return false;
    }
    const auto x = v.get<uint64_t>();
    if (x < lo || x > hi) {
        err = bad(fmt::format("'{}' must be from {} to {}, got {}", name, lo, hi, x));
        return false;
    }
    out = x;
    return true;
}

bool get_float(const json& v, const char* name, float& out, http_error& err) {
    const auto x = detail::json_number<float>(v);
    if (!x) {
        err = bad(v.is_number() ? fmt::format("'{}' is out of range: {}", name, v.dump())
                                : fmt::format("'{}' must be a number, not {}", name, type_name(v)));
        return false;
    }
    out = *x;
    return true;
}

bool get_string(const json& v, const char* name, std::string& out, http_error& err) {
    if (!v.is_string()) {
        err = bad(fmt::format("'{}' must be a string, not {}", name, type_name(v)));
        return false;
    }
    out = v.get<std::string>();
    return true;
}


}  // namespace

std::string api_names(std::string m) {
    for (std::string::size_type at; (at = m.find("--")) != std::string::npos;) {
        auto end = m.find_first_of(" ,:;", at);
        std::string name = m.substr(at + 2, end == std::string::npos ? std::string::npos : end - at - 2);
        std::replace(name.begin(), name.end(), '-', '_');
        m.replace(at, end == std::string::npos ? std::string::npos : end - at, "'" + name + "'");
    }
    return m;
}

bool parse_body(const std::string& body, json& out, http_error& err) {
    out = json::parse(body, nullptr, false);
    if (out.is_discarded()) {
        err = bad("the body is not valid JSON; send an object such as {\"prefix\": \"...\"}");
        return false;
    }
    if (!out.is_object()) {
        err = bad(fmt::format("the body must be a JSON object, not {}", type_name(out)));
        return false;
    }
    return true;
}

namespace {

std::string decode_component(std::string_view s) {
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
            out += ' ';
        } else if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
            out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

}  // namespace

std::multimap<std::string, std::string> parse_query(const std::string& target) {
    std::multimap<std::string, std::string> params;
    const auto q = target.find('?');
    if (q == std::string::npos) return params;
    std::string_view rest = std::string_view(target).substr(q + 1);
    rest = rest.substr(0, rest.find('#'));
    while (!rest.empty()) {
        const auto amp = rest.find('&');
        const std::string_view pair = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
        if (pair.empty()) continue;
        const auto eq = pair.find('=');
        params.emplace(decode_component(pair.substr(0, eq)),
                       eq == std::string_view::npos ? std::string() : decode_component(pair.substr(eq + 1)));
    }
    return params;
}

json query_to_json(const std::multimap<std::string, std::string>& params) {
    json j = json::object();
    for (const auto& [key, value] : params) {
        if (key == "stop") {
            j["stop"].push_back(value);
        } else if (key == "prefix" || key == "model" || key == "unknown") {
            j[key] = value;
        } else {
            // A number or true/false as in JSON; anything else stays a string (and fails the type check).
            json v = json::parse(value, nullptr, false);
            j[key] = v.is_discarded() || !(v.is_number() || v.is_boolean()) ? json(value) : v;
        }
    }
    return j;
}

namespace {

// A poem field of a request into `poem`; false with `err` set when its value is wrong, `known` false
// when the key is not a poem field.
bool parse_poem_field(const std::string& key, const json& v, const serve_config& cfg, poem_config& poem,
                      http_error& err, bool& known) {
    known = true;
    uint64_t u = 0;
    if (key == "beam") {
        if (!get_uint(v, "beam", 0, std::min(cfg.max_samples, poem_config::max_beam), u, err)) return false;
        poem.beam = static_cast<uint32_t>(u);
    } else if (key == "best_of") {
        if (!get_uint(v, "best_of", 0, cfg.max_samples, u, err)) return false;
        poem.best_of = static_cast<uint32_t>(u);
    } else if (key == "repeat_penalty" || key == "line_penalty" || key == "copy_penalty") {
        float x = 0;
        if (!get_float(v, key.c_str(), x, err)) return false;
        (key == "repeat_penalty" ? poem.weights.repeat
         : key == "line_penalty" ? poem.weights.line
                                 : poem.weights.copy) = x;
    } else if (key == "form" || key == "acrostic" || key == "mood" || key == "keywords" || key == "template") {
        std::string& field = key == "form"       ? poem.form
                             : key == "acrostic" ? poem.acrostic
                             : key == "keywords" ? poem.keywords
                             : key == "template" ? poem.template_text
                                                 : poem.mood;
        if (!get_string(v, key.c_str(), field, err)) return false;
        // The mood is read before the poem with no departure check inside: a short one bounds that work.
        if (key == "mood" && field.size() > max_mood_bytes) {
            err = bad(fmt::format("'mood' may have at most {} bytes, got {}; give a line or two", max_mood_bytes,
                                  field.size()));
            return false;
        }
    } else if (key == "rhyme" || key == "tones") {
        std::string name;
        if (!get_string(v, key.c_str(), name, err)) return false;
        const status s = key == "rhyme" ? parse_into(parse_rhyme_rule(name), poem.rhyme)
                                        : parse_into(parse_tone_rule(name), poem.tones);
        if (!s.ok()) {
            err = bad(api_names(s.err().message));
            return false;
        }
    } else {
        known = false;
    }
    return true;
}

// A lyric field of a request into `lyrics`, as parse_poem_field.
bool parse_lyric_field(const std::string& key, const json& v, lyric_config& l, http_error& err, bool& known) {
    known = true;
    uint64_t u = 0;
    if (key == "rhyme_scheme" || key == "rhyme_system" || key == "line_length" || key == "syllables" ||
        key == "meter" || key == "structure") {
        std::string& field = key == "rhyme_scheme"  ? l.rhyme_scheme
                             : key == "rhyme_system" ? l.rhyme_system
                             : key == "line_length"  ? l.line_length
                             : key == "syllables"    ? l.syllables
                             : key == "meter"        ? l.meter
                                                     : l.structure;
        // A line length or syllable count may come as a number (and does from a GET's query).
        if ((key == "line_length" || key == "syllables") && v.is_number_unsigned()) {
            field = std::to_string(v.get<uint64_t>());
            return true;
        }
        if (!get_string(v, key.c_str(), field, err)) return false;
    } else if (key == "lines") {
        if (!get_uint(v, "lines", 0, lyric_shape::max_lines, u, err)) return false;
        l.lines = static_cast<uint32_t>(u);
    } else if (key == "labels") {
        if (!v.is_boolean()) {
            err = bad(fmt::format("'labels' must be true or false, not {}", type_name(v)));
            return false;
        }
        l.labels = v.get<bool>();
    } else {
        known = false;
    }
    return true;
}

// A field naming a policy (unknown, precision, convert, script) into `c`, as parse_poem_field.
bool parse_policy_field(const std::string& key, const json& v, sample_config& c, http_error& err, bool& known) {
    known = key == "unknown" || key == "precision" || key == "convert" || key == "script";
    if (!known) return true;
    std::string name;
    if (!get_string(v, key.c_str(), name, err)) return false;
    const status s = key == "unknown"     ? parse_into(parse_unknown_policy(name), c.unknown)
                     : key == "precision" ? parse_into(parse_precision(name), c.precision)
                     : key == "convert"   ? parse_into(parse_convert_policy(name), c.convert)
                                          : parse_into(parse_output_script(name), c.script);
    if (!s.ok()) {
        err = bad(fmt::format("'{}': {}", key, s.err().message));
        return false;
    }
    return true;
}

// The request as a whole: each part valid, and poems and lyrics not mixed.
bool validate_generate(const generate_request& out, http_error& err) {
    status s = out.cfg.validate();
    if (s.ok()) s = out.poem.validate(out.cfg);
    if (s.ok() && !out.poem.form.empty()) s = parse_poem_form(out.poem.form).to_status();
    if (s.ok()) s = out.lyrics.validate();
    if (s.ok() && out.lyrics.active() && (out.poem.active() || out.poem.needs_prosody()))
        s = make_error(errc::usage, "lyrics (rhyme_scheme, lines, structure) and poems (form, acrostic, rhyme, tones) "
                                    "are written apart: give one or the other");
    if (!s.ok()) {
        err = bad(api_names(s.err().message));
        return false;
    }
    return true;
}

}  // namespace

bool parse_generate(const json& body, const serve_config& cfg, generate_request& out, http_error& err) {
    out = generate_request{};
    out.cfg = cfg.defaults;
    out.poem = cfg.poem_defaults;
    for (const auto& [key, v] : body.items()) {
        bool known = false;
        if (!parse_poem_field(key, v, cfg, out.poem, err, known)) return false;
        if (known) continue;
        if (!parse_lyric_field(key, v, out.lyrics, err, known)) return false;
        if (known) continue;
        if (!parse_policy_field(key, v, out.cfg, err, known)) return false;
        if (known) continue;
        uint64_t u = 0;
        if (key == "model") {
            if (!get_string(v, "model", out.model, err)) return false;
        } else if (key == "prefix") {
            if (!get_string(v, "prefix", out.prefix, err)) return false;
        } else if (key == "length") {
            if (!get_uint(v, "length", 0, cfg.max_length, u, err)) return false;
            out.cfg.length = static_cast<uint32_t>(u);
        } else if (key == "num_samples") {
            if (!get_uint(v, "num_samples", 1, cfg.max_samples, u, err)) return false;
            out.cfg.num_samples = static_cast<uint32_t>(u);
        } else if (key == "top_k") {
            if (!get_uint(v, "top_k", 0, std::numeric_limits<uint32_t>::max(), u, err)) return false;
            out.cfg.top_k = static_cast<uint32_t>(u);
        } else if (key == "seed") {
            if (!get_uint(v, "seed", 0, std::numeric_limits<uint64_t>::max(), u, err)) return false;
            out.cfg.seed = u;
        } else if (key == "n_probs") {
            if (!get_uint(v, "n_probs", 0, cfg.max_probs, u, err)) return false;
            out.n_probs = static_cast<uint32_t>(u);
        } else if (key == "temperature") {
            if (!get_float(v, "temperature", out.cfg.temperature, err)) return false;
        } else if (key == "top_p") {
            if (!get_float(v, "top_p", out.cfg.top_p, err)) return false;
        } else if (key == "stream") {
            if (!v.is_boolean()) {
                err = bad(fmt::format("'stream' must be true or false, not {}", type_name(v)));
                return false;
            }
            out.stream = v.get<bool>();
        } else if (key == "stop") {
            // A string or a list of strings.
            out.cfg.stop.clear();
            const json list = v.is_array() ? v : json::array({v});
            for (const auto& s : list) {
                std::string one;
                if (!get_string(s, "stop", one, err)) return false;
                out.cfg.stop.push_back(std::move(one));
            }
        } else {
            err = bad(fmt::format("unknown field '{}'; the fields are model, prefix, length, temperature, top_k, "
                                  "top_p, seed, num_samples, stop, unknown, n_probs, stream, form, acrostic, keywords, template, "
                                  "best_of, beam, repeat_penalty, line_penalty, copy_penalty, mood, rhyme, tones, "
                                  "rhyme_scheme, rhyme_system, lines, line_length, syllables, meter, structure, labels, "
                                  "convert, script, precision",
                                  key));
            return false;
        }
    }
    return validate_generate(out, err);
}

bool parse_eval(const json& body, precision default_precision, eval_request& out, http_error& err) {
    out = eval_request{};
    out.precision = default_precision;
    bool has_text = false;
    for (const auto& [key, v] : body.items()) {
        if (key == "model") {
            if (!get_string(v, "model", out.model, err)) return false;
        } else if (key == "text") {
            if (!get_string(v, "text", out.text, err)) return false;
            has_text = true;
        } else if (key == "convert") {
            std::string name;
            if (!get_string(v, "convert", name, err)) return false;
            if (const status s = parse_into(parse_convert_policy(name), out.convert); !s.ok()) {
                err = bad("'convert': " + s.err().message);
                return false;
            }
        } else if (key == "precision") {
            std::string name;
            if (!get_string(v, "precision", name, err)) return false;
            if (const status s = parse_into(parse_precision(name), out.precision); !s.ok()) {
                err = bad("'precision': " + s.err().message);
                return false;
            }
        } else {
            err = bad(fmt::format("unknown field '{}'; the fields are model, text, convert and precision", key));
            return false;
        }
    }
    if (!has_text) {
        err = bad("'text' is required: the text to measure the perplexity of");
        return false;
    }
    return true;
}

std::string error_body(const http_error& e) {
    return json{{"error", {{"status", e.status}, {"message", e.message}}}}.dump(-1, ' ', false,
                                                                                 json::error_handler_t::replace);
}

json describe(const served_model& m) {
    const language_model& lm = m.model.model;
    const model_config& c = lm.config();
    const training_summary& s = m.model.summary;
    json j = {{"id", m.id},
              {"file", std::filesystem::path(m.file).filename().string()},
              {"cell", to_string(c.cell)},
              {"layers", c.layers},
              {"hidden", c.hidden},
              {"embed", c.embed},
              {"vocab", c.vocab},
              {"parameters", lm.parameter_count()},
              {"softmax", to_string(c.softmax)},
              {"text", describe_text(lm.text())},
              {"training",  // the corpus's name only: its path is the trainer's machine's
               {{"corpus", s.corpus.substr(s.corpus.find_last_of("/\\") + 1)},
                {"epochs", s.epochs},
                {"steps", s.steps},
                {"train_ppl", s.train_ppl},
                {"date", s.date},
                {"charlm_version", s.version}}}};
    j["training"]["valid_ppl"] = s.valid_ppl ? json(*s.valid_ppl) : json(nullptr);
    return j;
}

namespace {

// A float as written on the command line (0.8, not 0.800000011920929): its shortest decimal form.
double as_written(float x) { return std::stod(fmt::format("{}", x)); }

}  // namespace

json props(const serve_config& cfg, const std::vector<served_model>& models, const std::vector<served_run>& runs) {
    const sample_config& d = cfg.defaults;
    json ids = json::array(), run_ids = json::array();
    for (const auto& m : models) ids.push_back(m.id);
    for (const auto& r : runs) run_ids.push_back(r.id);
    return {{"defaults",
             {{"model", models.empty() ? json(nullptr) : json(models.front().id)},
              {"prefix", ""},
              {"length", d.length},
              {"temperature", as_written(d.temperature)},
              {"top_k", d.top_k},
              {"top_p", as_written(d.top_p)},
              {"seed", d.seed},
              {"num_samples", d.num_samples},
              {"stop", d.stop},
              {"convert", to_string(d.convert)},
              {"script", to_string(d.script)},
              {"unknown", to_string(d.unknown)},
              {"precision", to_string(d.precision)},
              {"form", cfg.poem_defaults.form},
              {"acrostic", cfg.poem_defaults.acrostic},
              {"keywords", cfg.poem_defaults.keywords},
              {"template", cfg.poem_defaults.template_text},
              {"best_of", cfg.poem_defaults.best_of},
              {"beam", cfg.poem_defaults.beam},
              {"repeat_penalty", cfg.poem_defaults.weights.repeat},
              {"line_penalty", cfg.poem_defaults.weights.line},
              {"copy_penalty", cfg.poem_defaults.weights.copy},
              {"mood", cfg.poem_defaults.mood},
              {"rhyme", to_string(cfg.poem_defaults.rhyme)},
              {"tones", to_string(cfg.poem_defaults.tones)}}},
            {"limits",
             {{"max_length", cfg.max_length},
              {"max_samples", cfg.max_samples},
              {"max_probs", cfg.max_probs},
              {"max_streams", cfg.max_streams},
              {"max_body", serve_config::max_body}}},
            {"models", ids},
            {"runs", run_ids},
            {"threads", cfg.threads}};
}

json read_metrics(const std::string& path, http_error& err, bool& ok) {
    std::ifstream in(path, std::ios::binary);
    ok = static_cast<bool>(in);
    json points = json::array();
    if (!ok) {
        // The run may not have started yet: an empty list, and the page keeps asking.
        ok = !std::filesystem::exists(path);
        if (!ok) err = {500, fmt::format("cannot read the metrics file '{}'", path)};
        return points;
    }
    std::string line;
    while (std::getline(in, line)) {
        if (in.eof()) break;  // no newline yet: the trainer is still writing this line
        json j = json::parse(line, nullptr, false);
        if (!j.is_discarded() && j.is_object()) points.push_back(std::move(j));
    }
    return points;
}

bool evaluate_text(const language_model& model, const eval_request& rq, json& out, http_error& err,
                   const std::function<bool()>& keep_going) {
    model_input in{rq.text, script_conversion::none};
    if (rq.convert == convert_policy::automatic) {
        auto converted = to_model_script(rq.text, model.text(), model.vocab(), false);
        if (!converted) {
            err = bad(converted.err().message);
            return false;
        }
        in = std::move(*converted);
    }
    auto tokens = tokenize_bytes(in.text, model.text(), "the request's text");
    if (!tokens) {
        err = bad(tokens.err().message);
        return false;
    }
    uint64_t unk = 0;
    token_stream ids = map_to_vocab(*tokens, model.vocab(), &unk);
    if (ids.size() < 2) {
        err = bad(fmt::format("'text' has {} token(s): at least 2 are needed (the first is only read)", ids.size()));
        return false;
    }
    const eval_report report = evaluate_ids(model, ids, unk, 1, 64, keep_going, rq.precision);
    if (keep_going && !keep_going()) {
        err = {503, "the evaluation was stopped: the server is shutting down (or the client left)"};
        return false;
    }
    eval_report r = report;
    r.converted = in.converted;
    out = to_json(r);
    out["precision"] = to_string(rq.precision);
    return true;
}

double log_prob(const float* logits, uint32_t v, uint32_t id) {
    double max = -std::numeric_limits<double>::infinity();
    for (uint32_t i = 0; i < v; ++i)
        if (logits[i] > max) max = logits[i];
    double sum = 0;
    for (uint32_t i = 0; i < v; ++i) sum += std::exp(static_cast<double>(logits[i]) - max);
    return static_cast<double>(logits[id]) - max - std::log(sum);
}

json top_alternatives(const float* logits, const vocabulary& vocab, uint32_t n) {
    const uint32_t v = vocab.size();
    n = std::min(n, v);
    std::vector<uint32_t> order(v);
    std::iota(order.begin(), order.end(), 0u);
    std::partial_sort(order.begin(), order.begin() + n, order.end(),
                      [logits](uint32_t a, uint32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
    double max = logits[order[0]], sum = 0;
    for (uint32_t i = 0; i < v; ++i) sum += std::exp(static_cast<double>(logits[i]) - max);
    json list = json::array();
    for (uint32_t k = 0; k < n; ++k) {
        const uint32_t id = order[k];
        const std::string_view text = id == vocabulary::unk_id ? std::string_view("\xEF\xBF\xBD") : vocab.token(id);
        list.push_back({{"text", text}, {"p", std::exp(static_cast<double>(logits[id]) - max) / sum}});
    }
    return list;
}

}  // namespace charlm::serve_api
