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

int cmd_corpus(int argc, char** argv) {
    std::string file;
    bool json = false;
    size_t top = 20;
    text_config cfg;
    option_groups groups;
    groups["charlm corpus options"].add_options()
        ("file", po::value(&file), "the text file to read ('-' for standard input)")
        ("top", po::value(&top)->default_value(top), "how many of the most frequent tokens to show")
        ("json", po::bool_switch(&json), "print one JSON object instead of text");
    add_options(groups, text_options(), cfg);
    auto bind = [&](const po::variables_map& vm) { return take_options(text_options(), vm, cfg); };
    po::options_description desc = groups.all();
    po::positional_options_description pos;
    pos.add("file", 1);
    po::variables_map vm;
    bool done = false;
    if (auto s = parse_command(argc, argv, "charlm corpus FILE [options]", desc, &pos, vm, &done, bind); !s.ok())
        return report_error(s.err());
    if (done) return exit_ok;
    if (file.empty()) return report_error(make_error(errc::usage, "corpus: a FILE is required; see 'charlm corpus --help'"));
    if (auto s = cfg.validate(); !s.ok()) return report_error(s.err());

    auto loaded = load_text(file, cfg, reading_progress(file));
    if (!loaded) return report_error(loaded.err());
    const tokenized_text& t = *loaded;
    auto script = measure_script(t.tokens, t.counts);
    if (!script) return report_error(script.err());
    auto share = [&](uint64_t n) {
        return script->han ? 100.0 * static_cast<double>(n) / static_cast<double>(script->han) : 0.0;
    };

    std::vector<uint32_t> order(t.tokens.size());
    std::iota(order.begin(), order.end(), 0u);
    std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
        return t.counts[a] != t.counts[b] ? t.counts[a] > t.counts[b] : t.tokens[a] < t.tokens[b];
    });
    if (order.size() > top) order.resize(top);

    const text_stats& s = t.stats;
    if (json) {
        nlohmann::json j;
        j["file"] = file;
        j["bytes"] = s.bytes;
        j["code_points"] = s.code_points;
        j["tokens"] = s.tokens;
        j["distinct_tokens"] = t.tokens.size();
        j["lines"] = s.lines;
        j["invalid_sequences"] = s.invalid_sequences;
        j["encoding"] = s.encoding;
        if (s.confidence >= 0) j["encoding_confidence"] = s.confidence;
        j["unit"] = to_string(cfg.unit);
        j["normalize"] = to_string(cfg.normalize);
        j["script"] = {{"script", to_string(script->script)},
                       {"han_characters", script->han},
                       {"traditional_only", script->traditional_only},
                       {"simplified_only", script->simplified_only}};
        auto arr = nlohmann::json::array();
        for (uint32_t id : order) arr.push_back({{"token", t.tokens[id]}, {"count", t.counts[id]}});
        j["top_tokens"] = arr;
        fmt::print("{}\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
        return exit_ok;
    }
    std::string enc = s.encoding;
    if (s.confidence >= 0) enc += fmt::format(" (detected, confidence {})", s.confidence);
    fmt::print("file               {}\n", file);
    fmt::print("encoding           {}\n", enc);
    fmt::print("bytes              {}\n", s.bytes);
    fmt::print("code points        {}\n", s.code_points);
    fmt::print("tokens             {} ({}, {})\n", s.tokens,
               cfg.unit == token_unit::grapheme ? "grapheme clusters" : "code points", to_string(cfg.normalize));
    fmt::print("distinct tokens    {}\n", t.tokens.size());
    fmt::print("lines              {}\n", s.lines);
    fmt::print("script             {}", to_string(script->script));
    if (script->han > 0)
        fmt::print(" ({} Han characters: {:.1f}% traditional-only, {:.1f}% simplified-only)", script->han,
                   share(script->traditional_only), share(script->simplified_only));
    fmt::print("\n");
    fmt::print("invalid sequences  {}{}\n", s.invalid_sequences,
               !s.invalid_sequences                            ? ""
               : cfg.on_invalid == invalid_policy::replace ? " (replaced by U+FFFD)"
                                                            : " (skipped)");
    fmt::print("most frequent     ");
    for (uint32_t id : order) fmt::print(" {}:{}", visible_token(t.tokens[id]), t.counts[id]);
    fmt::print("\n");
    return exit_ok;
}

}  // namespace charlm::cli
