// Lyrics on the command line (issue 29): `charlm generate --rhyme-scheme ...` prints each song once
// it is complete (a backup may change any unfinished part), and `charlm verse --rhyme-scheme ...`
// or `--detect` prints per stanza its scheme, per line its end, rhyme classes, length or syllables
// and stress, and each fault, then one summary line; its exit status is 1 when a fault was found.
// The work is the library's (generate_lyrics, check_lyrics); this file reads, loads and prints.
#include <fmt/core.h>

#include <set>

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

// The summary's counts: designated lines (of a recurring letter) and those among them that answer
// an earlier line of their letter (the ones a free text rhymes by chance or not), lines of the
// wrong length or syllables, lines with a metre fault.
struct stanza_counts {
    uint64_t faulty = 0, lines = 0, rhyme_lines = 0, rhyme_faults = 0, answers = 0, answer_faults = 0;
    uint64_t length_faults = 0, meter_lines = 0;
    void add(const lyric_report& r, const lyric_shape& shape) {
        const auto n = static_cast<uint32_t>(r.lines.size());
        faulty += !r.faults.empty();
        lines += n;
        std::vector<uint8_t> rhyme_fault(n + 1, 0), meter_fault(n + 1, 0);
        for (const auto& f : r.faults) {
            if (f.kind == "rhyme") rhyme_fault[f.line] = 1;
            if (f.kind == "meter") meter_fault[f.line] = 1;
            length_faults += f.kind == "length" || f.kind == "syllables";
        }
        std::set<uint32_t> seen;  // letters
        for (uint32_t i = 0; i < n; ++i) {
            meter_lines += meter_fault[i + 1];
            if (!shape.rhymed(i, n)) continue;
            ++rhyme_lines;
            rhyme_faults += rhyme_fault[i + 1];
            const bool answering = !seen.insert(shape.letter(i)).second;
            answers += answering;
            answer_faults += answering && rhyme_fault[i + 1];
        }
    }
};

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
        if (is_english(*system) != english)  // every line would be read as unrhymed: all 'X', no fault
            return report_error(make_error(errc::usage, fmt::format("verse: --rhyme-system {} is for {} text, and {} "
                                                                    "is mostly {}; leave --rhyme-system out (auto)",
                                                                    lc.rhyme_system, english ? "Chinese" : "English",
                                                                    path == "-" ? "the input" : path,
                                                                    english ? "English" : "Chinese")));
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
    paths.middle_chinese = lc.middle_chinese_path;
    auto book = rhyme_book::load(shape->system, paths, *script);
    if (!book) return report_error(book.err());
    const auto reports = check_lyrics(utf8, *book, *shape);
    stanza_counts total;
    for (const auto& r : reports) {
        total.add(r, *shape);
        if (!faults_only || !r.faults.empty()) print_stanza(r, english);
    }
    fmt::print("{} stanza(s) by {}: {} without faults | rhyme {}/{} lines ({}/{} answering an earlier line) | {} {}/{} "
               "lines | meter {}/{} lines\n",
               reports.size(), to_string(shape->system), reports.size() - total.faulty,
               total.rhyme_lines - total.rhyme_faults, total.rhyme_lines, total.answers - total.answer_faults,
               total.answers, english ? "syllables" : "length", total.lines - total.length_faults, total.lines,
               total.lines - total.meter_lines, total.lines);
    const uint64_t faulty = total.faulty;
    return faulty ? exit_failure : exit_ok;
}

}  // namespace charlm::cli
