// Lyrics on the command line (issue 29): `charlm generate --rhyme-scheme ...` prints each song once
// it is complete (a backup may change any unfinished part), and `charlm verse --rhyme-scheme ...`
// or `--detect` prints per stanza its scheme, per line its end, rhyme classes, length or syllables
// and stress, and each fault, then one summary line; its exit status is 1 when a fault was found.
// The work is the library's (generate_lyrics, check_lyrics); this file reads, loads and prints.
#include <fmt/core.h>

#include "charlm/lyrics.hpp"
#include "charlm/poem.hpp"
#include "charlm/text.hpp"
#include "cli.hpp"
#include "commands.hpp"

namespace charlm::cli {

int print_lyrics(const language_model& model, const std::string& prefix, const sample_config& cfg,
                 const lyric_config& lc) {
    status shown;
    auto songs = generate_lyrics(model, prefix, cfg, lc, [&](uint32_t row, const lyric_result& song) {
        auto text = to_reader_script(model, cfg, song.text);
        if (!text) {
            shown = text.err();
            return false;
        }
        fmt::print("{}{}", row == 0 ? "" : "\n", *text);  // songs a blank line apart
        std::fflush(stdout);
        return true;
    });
    if (!shown.ok()) return report_error(shown.err());
    if (!songs) return report_error(songs.err());
    lyric_stats total;
    for (const auto& s : *songs) total += s.stats;
    fmt::print(stderr, "charlm: {} lyric(s), {} backup(s) ({} word, {} line, {} part), NLL {:.3f} per token\n",
               songs->size(), total.backups(), total.word_backups, total.line_backups, total.part_backups,
               total.tokens ? total.nll / static_cast<double>(total.tokens) : 0.0);
    return exit_ok;
}

namespace {

std::string joined(const std::vector<std::string>& v, const char* sep) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
    return out;
}

void print_stanza(const lyric_report& r, bool english) {
    fmt::print("line {}: {} line(s), scheme {}, {}\n", r.text_line, r.lines.size(), r.scheme,
               r.faults.empty() ? std::string("ok") : fmt::format("{} fault(s)", r.faults.size()));
    for (size_t i = 0; i < r.lines.size(); ++i) {
        const lyric_line& l = r.lines[i];
        fmt::print("  {:>2} {} {:<10} [{}] {} {}{}{}\n", i + 1, r.scheme[i], l.end.empty() ? "-" : l.end,
                   l.classes.empty() ? "no reading" : joined(l.classes, " | "), l.length,
                   english ? "syllables" : "characters", english && l.estimated ? " (estimated)" : "",
                   english ? " " + l.stress : "");
    }
    for (const auto& f : r.faults)
        if (f.line == 0) fmt::print("  {}: {}\n", f.kind, f.detail);
        else fmt::print("  line {}: {}: {}\n", f.line, f.kind, f.detail);
}

// Whether a text is English: its words (runs of letters, Han excluded) hold more bytes than the rest.
bool english_text(const std::string& utf8) {
    size_t letters = 0;
    for (const auto& w : english_words(utf8)) letters += w.size();
    return 2 * letters > utf8.size();
}

}  // namespace

int verse_lyrics(const std::string& path, const lyric_config& given, bool detect, bool faults_only) {
    text_config tc;
    tc.unit = token_unit::codepoint;
    auto text = load_text(path, tc);
    if (!text) return report_error(text.err());
    std::string utf8;
    for (size_t i = 0; i < text->ids.size(); ++i) utf8 += text->tokens[text->ids[i]];
    lyric_config lc = given;
    lc.checking = true;
    bool english = english_text(utf8);
    if (lc.rhyme_system != "auto") {
        auto system = parse_rhyme_system(lc.rhyme_system);
        if (!system) return report_error(system.err());
        english = is_english(*system);
    }
    auto shape = lc.shape(english);
    if (!shape) return report_error(shape.err());
    shape->lines = given.lines;  // a line count only when asked for
    if (!detect && shape->scheme.empty() && shape->syllables.empty() && shape->max_length == 0)
        return report_error(make_error(errc::usage, "verse: give --rhyme-scheme, --syllables or --line-length to check "
                                                    "lyrics by, or --detect to report their schemes"));
    auto script = guess_script(text->tokens);
    if (!script) return report_error(script.err());
    rhyme_book::paths paths;
    paths.pinyin = lc.pinyin_path;
    paths.cmu = lc.cmu_path;
    auto book = rhyme_book::load(shape->system, paths, *script);
    if (!book) return report_error(book.err());
    const auto reports = check_lyrics(utf8, *book, *shape);
    uint64_t faulty = 0, rhyme_lines = 0, rhyme_faults = 0, lines = 0, length_faults = 0, meter_faults = 0;
    for (const auto& r : reports) {
        faulty += !r.faults.empty();
        lines += r.lines.size();
        for (uint32_t i = 0; i < r.lines.size(); ++i) rhyme_lines += shape->rhymed(i, static_cast<uint32_t>(r.lines.size()));
        uint32_t last_meter_line = 0;
        for (const auto& f : r.faults) {
            rhyme_faults += f.kind == "rhyme";
            length_faults += f.kind == "length" || f.kind == "syllables";
            meter_faults += f.kind == "meter" && f.line != last_meter_line;  // faults come sorted by line
            if (f.kind == "meter") last_meter_line = f.line;
        }
        if (!faults_only || !r.faults.empty()) print_stanza(r, english);
    }
    fmt::print("{} stanza(s) by {}: {} without faults | rhyme {}/{} lines | {} {}/{} lines | meter {}/{} lines\n",
               reports.size(), to_string(shape->system), reports.size() - faulty, rhyme_lines - rhyme_faults,
               rhyme_lines, english ? "syllables" : "length", lines - length_faults, lines, lines - meter_faults,
               lines);
    return faulty ? exit_failure : exit_ok;
}

}  // namespace charlm::cli
