// `charlm corpus FILE`: shows what a model would see of a text file — sizes, tokens, the most
// frequent tokens, invalid sequences and the encoding used. Plain text or --json.
#include <fmt/core.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <numeric>

#include "cli.hpp"
#include "commands.hpp"

namespace charlm::cli {

// A token as a reader can see it: control characters and spaces made visible.
std::string visible_token(const std::string& t) {
    if (t == "\n") return "\\n";
    if (t == "\t") return "\\t";
    if (t == " ") return "␠";
    if (t == "\r") return "\\r";
    return t;
}

namespace {

// What `charlm corpus` reports of a text: read, measured, its most frequent tokens.
struct corpus_summary {
    std::string file;
    text_config cfg;
    tokenized_text text;
    script_measure script;
    std::vector<uint32_t> top;  // ids of the most frequent tokens, most frequent first
};

std::vector<uint32_t> most_frequent(const tokenized_text& t, size_t top) {
    std::vector<uint32_t> order(t.tokens.size());
    std::iota(order.begin(), order.end(), 0u);
    std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
        return t.counts[a] != t.counts[b] ? t.counts[a] > t.counts[b] : t.tokens[a] < t.tokens[b];
    });
    if (order.size() > top) order.resize(top);
    return order;
}

void print_json(const corpus_summary& c) {
    const text_stats& s = c.text.stats;
    nlohmann::json j;
    j["file"] = c.file;
    j["bytes"] = s.bytes;
    j["code_points"] = s.code_points;
    j["tokens"] = s.tokens;
    j["distinct_tokens"] = c.text.tokens.size();
    j["lines"] = s.lines;
    j["invalid_sequences"] = s.invalid_sequences;
    j["encoding"] = s.encoding;
    if (s.confidence >= 0) j["encoding_confidence"] = s.confidence;
    j["unit"] = to_string(c.cfg.unit);
    j["normalize"] = to_string(c.cfg.normalize);
    j["script"] = {{"script", to_string(c.script.script)},
                   {"han_characters", c.script.han},
                   {"traditional_only", c.script.traditional_only},
                   {"simplified_only", c.script.simplified_only}};
    auto arr = nlohmann::json::array();
    for (uint32_t id : c.top) arr.push_back({{"token", c.text.tokens[id]}, {"count", c.text.counts[id]}});
    j["top_tokens"] = arr;
    fmt::print("{}\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void print_text(const corpus_summary& c) {
    const text_stats& s = c.text.stats;
    auto share = [&](uint64_t n) {
        return c.script.han ? 100.0 * static_cast<double>(n) / static_cast<double>(c.script.han) : 0.0;
    };
    std::string enc = s.encoding;
    if (s.confidence >= 0) enc += fmt::format(" (detected, confidence {})", s.confidence);
    fmt::print("file               {}\n", c.file);
    fmt::print("encoding           {}\n", enc);
    fmt::print("bytes              {}\n", s.bytes);
    fmt::print("code points        {}\n", s.code_points);
    fmt::print("tokens             {} ({}, {})\n", s.tokens,
               c.cfg.unit == token_unit::grapheme ? "grapheme clusters" : "code points", to_string(c.cfg.normalize));
    fmt::print("distinct tokens    {}\n", c.text.tokens.size());
    fmt::print("lines              {}\n", s.lines);
    fmt::print("script             {}", to_string(c.script.script));
    if (c.script.han > 0)
        fmt::print(" ({} Han characters: {:.1f}% traditional-only, {:.1f}% simplified-only)", c.script.han,
                   share(c.script.traditional_only), share(c.script.simplified_only));
    fmt::print("\n");
    fmt::print("invalid sequences  {}{}\n", s.invalid_sequences,
               !s.invalid_sequences                              ? ""
               : c.cfg.on_invalid == invalid_policy::replace ? " (replaced by U+FFFD)"
                                                              : " (skipped)");
    fmt::print("most frequent     ");
    for (uint32_t id : c.top) fmt::print(" {}:{}", visible_token(c.text.tokens[id]), c.text.counts[id]);
    fmt::print("\n");
}

}  // namespace

int cmd_corpus(int argc, char** argv) {
    corpus_summary c;
    bool json = false;
    size_t top = 20;
    option_groups groups;
    groups["charlm corpus options"].add_options()
        ("file", po::value(&c.file), "the text file to read ('-' for standard input)")
        ("top", po::value(&top)->default_value(top), "how many of the most frequent tokens to show")
        ("json", po::bool_switch(&json), "print one JSON object instead of text");
    add_options(groups, text_options(), c.cfg);
    auto bind = [&](const po::variables_map& vm) { return take_options(text_options(), vm, c.cfg); };
    po::options_description desc = groups.all();
    po::positional_options_description pos;
    pos.add("file", 1);
    po::variables_map vm;
    bool done = false;
    if (auto s = parse_command(argc, argv, "charlm corpus FILE [options]", desc, &pos, vm, &done, bind); !s.ok())
        return report_error(s.err());
    if (done) return exit_ok;
    if (c.file.empty()) return report_error(make_error(errc::usage, "corpus: a FILE is required; see 'charlm corpus --help'"));
    if (auto s = c.cfg.validate(); !s.ok()) return report_error(s.err());

    auto loaded = load_text(c.file, c.cfg, reading_progress(c.file));
    if (!loaded) return report_error(loaded.err());
    c.text = std::move(*loaded);
    auto script = measure_script(c.text.tokens, c.text.counts);
    if (!script) return report_error(script.err());
    c.script = *script;
    c.top = most_frequent(c.text, top);
    json ? print_json(c) : print_text(c);
    return exit_ok;
}

}  // namespace charlm::cli
