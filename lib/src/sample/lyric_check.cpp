// Checks written lyrics, apart from the sampler (it shares only the readings and lyric_impl.h's
// rules): per stanza its detected scheme, per line its end, rhyme classes, length or syllables and
// stress, and each fault against the scheme, lengths, syllables and metre asked for.
// Not here: reading files and printing (app/cmd_verse.cpp).
#include <fmt/core.h>
#include <unicode/utf8.h>

#include <unordered_map>

#include "sample/lyric_impl.h"
#include "sample/poem_impl.h"

namespace charlm {

namespace {

struct stanza {
    std::vector<std::pair<uint64_t, std::string>> lines;  // (text line, text)
};

bool is_label(std::string_view line) { return line.size() >= 2 && line.front() == '[' && line.back() == ']'; }

std::vector<stanza> stanzas_of(std::string_view text) {
    std::vector<stanza> out(1);
    uint64_t no = 0;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(pos, end - pos);
        ++no;
        pos = end + 1;
        while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) line.remove_suffix(1);
        while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
        if (line.empty()) {
            if (!out.back().lines.empty()) out.emplace_back();
        } else if (!is_label(line)) {
            out.back().lines.emplace_back(no, std::string(line));
        }
    }
    if (out.back().lines.empty()) out.pop_back();
    return out;
}

std::vector<std::string> han_chars(std::string_view s) {
    std::vector<std::string> out;
    int32_t i = 0;
    const auto n = static_cast<int32_t>(s.size());
    while (i < n) {
        const int32_t start = i;
        UChar32 c = 0;
        U8_NEXT(s.data(), i, n, c);
        std::string piece(s.substr(static_cast<size_t>(start), static_cast<size_t>(i - start)));
        if (poem::is_han(piece)) out.push_back(std::move(piece));
    }
    return out;
}

// A line's end, classes, length and stress; metre faults go to `faults` (line `no`, 1-based).
rhyme_classes read_line(lyric_line& l, const rhyme_book& book, const lyric_shape& shape, uint32_t no,
                        std::vector<lyric_fault>& faults) {
    if (!is_english(book.system())) {
        const auto chars = han_chars(l.text);
        l.length = static_cast<uint32_t>(chars.size());
        l.end = chars.empty() ? "" : chars.back();
        return book.han_end(chars);
    }
    rhyme_classes end;
    for (const auto& w : english_words(l.text)) {
        const word_reading r = book.word(w);
        if (shape.metre == meter::iambic && !r.estimated && !lyric::iambic_fits(r.stress, l.length + 1))
            faults.push_back({no, "meter", fmt::format("'{}' ({}) has a stress on an odd syllable of the line", w,
                                                       r.stress)});
        for (uint32_t i = 0; i < r.syllables; ++i)
            l.stress += r.estimated || r.syllables == 1 ? '.' : r.stress[i] == '1' ? '/' : 'x';
        l.length += r.syllables;
        l.estimated = l.estimated || r.estimated;
        l.end = w;
        end = r.rhymes;
    }
    return end;
}

// Letters as poetry gives them: the first earlier line a line rhymes with lends it its letter
// (the earliest line holding any of its classes).
std::string detect(const std::vector<rhyme_classes>& ends) {
    std::string out;
    std::unordered_map<uint32_t, size_t> first;  // class -> first line that holds it
    char next = 'A';
    for (size_t i = 0; i < ends.size(); ++i) {
        size_t earliest = i;
        for (uint32_t c : ends[i])
            if (const auto it = first.find(c); it != first.end()) earliest = std::min(earliest, it->second);
        const char letter = ends[i].empty() ? 'X' : earliest < i ? out[earliest] : next <= 'W' ? next++ : '?';
        out += letter;
        for (uint32_t c : ends[i]) first.emplace(c, i);
    }
    return out;
}

void check_rhymes(lyric_report& r, const std::vector<rhyme_classes>& ends, const lyric_shape& shape, rhyme_system system) {
    lyric::rhyme_state state;
    const auto n = static_cast<uint32_t>(ends.size());
    if (shape.scheme.empty()) return;
    std::vector<uint32_t> first_line(26 * (n / shape.scheme.size() + 1), UINT32_MAX);  // per letter
    for (uint32_t i = 0; i < n; ++i) {
        if (!shape.rhymed(i, n)) continue;
        const uint32_t letter = shape.letter(i);
        uint32_t other = 0;
        const lyric_line& l = r.lines[i];
        const std::string end = is_english(system) ? rhyme_book::spelling(l.end) : l.end;
        switch (lyric::fits_end(state, letter, ends[i], end, &other)) {
            case lyric::end_fit::ok: break;
            case lyric::end_fit::no_reading:
                r.faults.push_back({i + 1, "rhyme", fmt::format("'{}' has no reading and cannot rhyme", l.end)});
                continue;
            case lyric::end_fit::no_rhyme:
                r.faults.push_back({i + 1, "rhyme", fmt::format("'{}' does not rhyme with '{}' (line {})", l.end,
                                                                r.lines[first_line[letter]].end,
                                                                first_line[letter] + 1)});
                continue;
            case lyric::end_fit::repeated:
                r.faults.push_back({i + 1, "rhyme", fmt::format("'{}' repeats the end of an earlier line of its "
                                                                "letter; a rhyme needs another word", l.end)});
                continue;
            case lyric::end_fit::same_as_other:
                r.faults.push_back({i + 1, "rhyme", fmt::format("'{}' rhymes with '{}' (line {}), which the scheme "
                                                                "gives another letter",
                                                                l.end, r.lines[first_line[other]].end,
                                                                first_line[other] + 1)});
                continue;
        }
        if (letter < first_line.size() && first_line[letter] == UINT32_MAX) first_line[letter] = i;
        lyric::add_end(state, letter, ends[i], end);
    }
}

lyric_report check_stanza(const stanza& s, const rhyme_book& book, const lyric_shape& shape) {
    lyric_report r;
    r.text_line = s.lines.front().first;
    std::vector<rhyme_classes> ends;
    for (const auto& [no, text] : s.lines) {
        lyric_line l;
        l.text_line = no;
        l.text = text;
        const auto line_no = static_cast<uint32_t>(r.lines.size() + 1);
        ends.push_back(read_line(l, book, shape, line_no, r.faults));
        for (uint32_t c : ends.back()) l.classes.push_back(book.class_name(c));
        const uint32_t want = shape.syllables_at(line_no - 1);
        if (is_english(book.system()) && want && l.length != want)
            r.faults.push_back({line_no, "syllables", fmt::format("{} syllables{}, not {}", l.length,
                                                                  l.estimated ? " (some estimated)" : "", want)});
        if (!is_english(book.system()) && shape.max_length && (l.length < shape.min_length || l.length > shape.max_length))
            r.faults.push_back({line_no, "length", fmt::format("{} characters, not {}{}", l.length, shape.min_length,
                                                               shape.min_length == shape.max_length ? std::string()
                                                               : fmt::format(" to {}", shape.max_length))});
        r.lines.push_back(std::move(l));
    }
    r.scheme = detect(ends);
    if (shape.lines && r.lines.size() != shape.lines)
        r.faults.push_back({0, "lines", fmt::format("{} lines, not {}", r.lines.size(), shape.lines)});
    check_rhymes(r, ends, shape, book.system());
    std::stable_sort(r.faults.begin(), r.faults.end(),
                     [](const lyric_fault& a, const lyric_fault& b) { return a.line < b.line; });
    return r;
}

}  // namespace

std::vector<lyric_report> check_lyrics(std::string_view utf8, const rhyme_book& book, const lyric_shape& shape) {
    std::vector<lyric_report> out;
    for (const stanza& s : stanzas_of(utf8)) out.push_back(check_stanza(s, book, shape));
    return out;
}

}  // namespace charlm
