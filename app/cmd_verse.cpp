// `charlm verse [FILE]`: reads poems and prints, per poem, its form and the line and character of
// each fault of regulated verse (length, 失对, 失粘, 孤平, 三平调, 落韵), and with --template or
// --keywords the characters not in place. The checking is the library's
// check_verse(); this file reads the text, loads the tone table, decides the script (--script, or
// guessed from the text) and prints.
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

// Each poem (or only those with faults), then the counts.
void print_reports(const std::vector<verse_report>& reports, bool faults_only) {
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
}

}  // namespace

int cmd_verse(int argc, char** argv) {
    std::string path = "-", form_spec, readings(prosody_table::default_path), script_name = "auto", template_text,
                keywords_text;
    bool quiet = false;
    po::options_description desc("charlm verse options");
    desc.add_options()
        ("text", po::value(&path)->default_value(path), "poems to check, blank lines between them ('-': standard input)")
        ("form", po::value(&form_spec), "hold every poem to this form (as generate --form); default: recognize it")
        ("template", po::value(&template_text), "hold every poem to this template (as generate --template): its form "
         "and each fixed character in place")
        ("keywords", po::value(&keywords_text), "every poem must have each of these words (as generate --keywords) "
         "inside one line")
        ("faults-only", po::bool_switch(&quiet), "print only the poems with faults")
        ("script", po::value(&script_name)->default_value(script_name),
         "traditional: a character the readings list keeps its own; simplified: it also takes those of the "
         "traditional characters that simplify to it; auto: guessed from the text's characters")
        ("readings", po::value(&readings)->default_value(readings),
         "Middle Chinese readings (Debian package rime-data-zyenpheng)");
    po::positional_options_description pos;
    pos.add("text", 1);
    po::variables_map vm;
    bool done = false;
    if (auto s = parse_command(argc, argv, "charlm verse [FILE] [options]", desc, &pos, vm, &done); !s.ok())
        return report_error(s.err());
    if (done) return exit_ok;
    poem_form form;
    if (!form_spec.empty()) {
        auto f = parse_poem_form(form_spec);
        if (!f) return report_error(f.err());
        form = std::move(*f);
    }
    std::optional<poem_template> tmpl;
    if (!template_text.empty()) {
        if (!form_spec.empty()) return report_error(make_error(errc::usage, "--template gives the form: leave out --form"));
        auto t = parse_poem_template(template_text);
        if (!t) return report_error(t.err());
        tmpl = std::move(*t);
        form = tmpl->form;
    }
    std::vector<std::string> keywords;
    if (!keywords_text.empty()) {
        auto k = parse_keywords(keywords_text);
        if (!k) return report_error(k.err());
        keywords = std::move(*k);
    }
    auto script = script_option(script_name);
    if (!script) return report_error(script.err());
    auto table = prosody_table::load(readings);
    if (!table) return report_error(table.err());
    text_config tc;
    tc.unit = token_unit::codepoint;
    auto text = load_text(path, tc);
    if (!text) return report_error(text.err());
    std::string utf8;
    for (size_t i = 0; i < text->ids.size(); ++i) utf8 += text->tokens[text->ids[i]];
    if (!*script) {
        auto guessed = guess_script(text->tokens);
        if (!guessed) return report_error(guessed.err());
        *script = *guessed;
        fmt::print(stderr, "charlm: read as {} text (--script auto: from its characters)\n", to_string(**script));
    }
    auto reports = check_verse(utf8, *table, form_spec.empty() && !tmpl ? nullptr : &form, **script);
    if (tmpl || !keywords.empty())
        for (auto& r : reports) check_fixed(r, tmpl ? &*tmpl : nullptr, keywords);
    print_reports(reports, quiet);
    return exit_ok;
}

}  // namespace charlm::cli
