// `charlm verse [FILE]`: reads poems and prints, per poem, its form and the line and character of
// each fault of regulated verse (length, 失对, 失粘, 孤平, 三平调, 落韵), and with --template or
// --keywords the characters not in place; the status is 1 when a poem has faults. The checking is
// the library's check_verse(); this file reads the text, loads the tone table, decides the script
// (--script, or guessed from the text) and prints. With lyric options (--rhyme-scheme, --detect,
// ...) the text is checked as lyrics instead (cmd_lyrics.cpp).
#include <fmt/core.h>

#include <optional>

#include "charlm/poem.hpp"
#include "charlm/text.hpp"
#include "cli.hpp"
#include "commands.hpp"

namespace charlm::cli {

namespace {

void print_report(const verse_report& r) {
    fmt::print("{}line {}: {}, {}\n", r.title.empty() ? "" : r.title + " ", r.text_line, r.form,
               !r.faults.empty() ? fmt::format("{} fault(s)", r.faults.size())
               : r.checked       ? std::string("ok")
                                 : std::string("not checked"));
    for (const auto& f : r.faults) {
        if (f.line == 0)
            fmt::print("  {}: {}\n", f.kind, f.detail);
        else if (f.column == 0)
            fmt::print("  line {}: {}: {}\n", f.line, f.kind, f.detail);
        else
            fmt::print("  line {} character {} '{}': {}: {}\n", f.line, f.column,
                       f.column <= r.lines[f.line - 1].size() ? r.lines[f.line - 1][f.column - 1] : "", f.kind,
                       f.detail);
    }
}

// --script: traditional or simplified; none for auto (guessed from the text once it is read).
result<std::optional<text_script>> script_option(const std::string& name) {
    if (name == "auto") return std::optional<text_script>();
    auto script = parse_text_script(name);
    if (!script || (*script != text_script::traditional && *script != text_script::simplified))
        return make_error(errc::usage, fmt::format("--script: '{}' is not a script to check by: use traditional, "
                                                   "simplified or auto", name));
    return std::optional<text_script>(*script);
}

// Each poem (or only those with faults), then the counts; the number of poems with faults.
uint64_t print_reports(const std::vector<verse_report>& reports, bool faults_only) {
    uint64_t faulty = 0, faults = 0, unchecked = 0;
    for (const auto& r : reports) {
        faulty += !r.faults.empty();
        faults += r.faults.size();
        unchecked += r.faults.empty() && !r.checked;
        if (faults_only && r.faults.empty()) continue;
        print_report(r);
    }
    fmt::print("{} poem(s): {} without faults, {} with {} fault(s), {} not checked (not regulated verse)\n",
               reports.size(), reports.size() - faulty - unchecked, faulty, faults, unchecked);
    return faulty;
}

// The settings of a check of regulated verse.
struct verse_args {
    std::string path = "-", form_spec, readings{prosody_table::default_path}, script_name = "auto", template_text,
                keywords_text;
    bool quiet = false;
};

// --form / --template / --keywords as the checker takes them.
struct verse_holds {
    poem_form form;
    std::optional<poem_template> tmpl;
    std::vector<std::string> keywords;
};

result<verse_holds> read_holds(const verse_args& a) {
    verse_holds h;
    if (!a.form_spec.empty()) {
        auto f = parse_poem_form(a.form_spec);
        if (!f) return f.err();
        h.form = std::move(*f);
    }
    if (!a.template_text.empty()) {
        if (!a.form_spec.empty()) return make_error(errc::usage, "--template gives the form: leave out --form");
        auto t = parse_poem_template(a.template_text);
        if (!t) return t.err();
        h.tmpl = std::move(*t);
        h.form = h.tmpl->form;
    }
    if (!a.keywords_text.empty()) {
        auto k = parse_keywords(a.keywords_text);
        if (!k) return k.err();
        h.keywords = std::move(*k);
    }
    return h;
}

// Regulated verse (and templates, keywords): exit_ok, or exit_failure when a poem has faults (as lyrics).
int verse_poems(const verse_args& a) {
    auto holds = read_holds(a);
    if (!holds) return report_error(holds.err());
    auto script = script_option(a.script_name);
    if (!script) return report_error(script.err());
    auto table = prosody_table::load(a.readings);
    if (!table) return report_error(table.err());
    text_config tc;
    tc.unit = token_unit::codepoint;
    auto text = load_text(a.path, tc);
    if (!text) return report_error(text.err());
    std::string utf8;
    for (size_t i = 0; i < text->ids.size(); ++i) utf8 += text->tokens[text->ids[i]];
    if (!*script) {
        auto guessed = guess_script(text->tokens);
        if (!guessed) return report_error(guessed.err());
        *script = *guessed;
        fmt::print(stderr, "charlm: read as {} text (--script auto: from its characters)\n", to_string(**script));
    }
    const bool held = !a.form_spec.empty() || holds->tmpl;
    auto reports = check_verse(utf8, *table, held ? &holds->form : nullptr, **script);
    if (holds->tmpl || !holds->keywords.empty())
        for (auto& r : reports) check_fixed(r, holds->tmpl ? &*holds->tmpl : nullptr, holds->keywords);
    return print_reports(reports, a.quiet) > 0 ? exit_failure : exit_ok;
}

}  // namespace

int cmd_verse(int argc, char** argv) {
    verse_args a;
    bool detect = false;
    lyric_config lyrics;
    option_groups groups;
    po::options_description& desc = groups["charlm verse options"];
    desc.add_options()
        ("text", po::value(&a.path)->default_value(a.path), "poems to check, blank lines between them ('-': standard input)")
        ("form", po::value(&a.form_spec), "hold every poem to this form (as generate --form); default: recognize it")
        ("template", po::value(&a.template_text), "hold every poem to this template (as generate --template): its "
         "form and each fixed character in place")
        ("keywords", po::value(&a.keywords_text), "every poem must have each of these words (as generate --keywords) "
         "inside one line")
        ("faults-only", po::bool_switch(&a.quiet), "print only the poems with faults")
        ("script", po::value(&a.script_name)->default_value(a.script_name),
         "traditional: a character the readings list keeps its own; simplified: it also takes those of the "
         "traditional characters that simplify to it; auto: guessed from the text's characters")
        ("readings", po::value(&a.readings)->default_value(a.readings),
         "Middle Chinese readings (Debian package rime-data-zyenpheng)")
        ("detect", po::bool_switch(&detect), "lyrics: report the rhyme scheme each stanza follows (as generate's "
         "lyric options, which check lyrics instead of regulated verse)");
    add_options(groups, lyric_options(), lyrics);
    po::options_description all = groups.all();
    po::positional_options_description pos;
    pos.add("text", 1);
    po::variables_map vm;
    bool done = false;
    const auto bind = [&](const po::variables_map& v) { return take_options(lyric_options(), v, lyrics); };
    if (auto s = parse_command(argc, argv, "charlm verse [FILE] [options]", all, &pos, vm, &done, bind); !s.ok())
        return report_error(s.err());
    if (done) return exit_ok;
    if (!(detect || lyrics.active() || !lyrics.syllables.empty() || !lyrics.line_length.empty())) return verse_poems(a);
    if (!a.form_spec.empty() || !a.template_text.empty() || !a.keywords_text.empty())
        return report_error(make_error(errc::usage, "verse: --form, --template and --keywords check regulated verse; "
                                                    "lyrics are checked by --rhyme-scheme: give one or the other"));
    lyrics.checking = true;
    lyrics.middle_chinese_path = a.readings;
    if (auto s = lyrics.validate(); !s.ok()) return report_error(s.err());
    return verse_lyrics(a.path, lyrics, detect, a.quiet);
}

}  // namespace charlm::cli
