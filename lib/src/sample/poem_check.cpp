// Checks written poems against the rules of regulated verse, apart from the generator's
// constraint (it shares only the tone table and the 孤平 / 三平调 predicates): each poem's form,
// lines of the wrong length, 失对, 失粘, 孤平, 三平调 and 落韵, with line and character.
// Not here: reading files (app/cmd_verse.cpp).
#include <fmt/core.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <map>

#include "sample/poem_impl.h"

namespace charlm {

namespace poem {

std::vector<std::string> code_points(std::string_view s) {
    std::vector<std::string> out;
    int32_t i = 0;
    const auto n = static_cast<int32_t>(s.size());
    while (i < n) {
        const int32_t start = i;
        UChar32 c = 0;
        U8_NEXT(s.data(), i, n, c);
        out.emplace_back(s.substr(static_cast<size_t>(start), static_cast<size_t>(i - start)));
    }
    return out;
}

}  // namespace poem

namespace {

using poem::code_points;

bool ends_verse_line(std::string_view c) {
    return c == "，" || c == "。" || c == "？" || c == "！" || c == "；" || c == "," || c == "." || c == "?" ||
           c == "!" || c == ";";
}

bool has_verse_punctuation(std::string_view line) {
    for (const auto& c : code_points(line))
        if (ends_verse_line(c)) return true;
    return false;
}

struct block {
    uint64_t first_line = 0;  // 1-based text line of the first verse line
    std::string title;
    std::vector<std::pair<uint64_t, std::string>> lines;  // (text line, text)

    // The corpus format: a first line without verse punctuation over lines with it is the title.
    void take_title_line() {
        if (!title.empty() || lines.size() < 2 || has_verse_punctuation(lines[0].second)) return;
        for (size_t i = 1; i < lines.size(); ++i)
            if (has_verse_punctuation(lines[i].second)) {
                title = lines[0].second;
                lines.erase(lines.begin());
                return;
            }
    }
    std::string body() const {
        std::string out;
        for (const auto& [no, text] : lines) out += text + "\n";
        return out;
    }
};

std::vector<block> blocks_of(std::string_view text) {
    std::vector<block> out;
    block cur;
    uint64_t line_no = 0;
    size_t pos = 0;
    auto flush = [&] {
        cur.take_title_line();
        if (!cur.lines.empty()) {
            cur.first_line = cur.lines.front().first;
            out.push_back(cur);
        }
        cur = block{};
    };
    while (pos <= text.size()) {
        size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(pos, end - pos);
        ++line_no;
        while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) line.remove_suffix(1);
        if (line.empty()) {
            flush();
        } else if (line.starts_with("《")) {
            flush();
            cur.title = std::string(line);
        } else if (!line.starts_with("作者：") && !line.starts_with("作者:")) {
            cur.lines.emplace_back(line_no, std::string(line));
        }
        if (end == text.size()) break;
        pos = end + 1;
    }
    flush();
    return out;
}

// The verse lines of a block: its Han characters, cut at verse punctuation and newlines.
std::vector<std::vector<std::string>> verse_lines(const std::string& body) {
    std::vector<std::vector<std::string>> out;
    std::vector<std::string> cur;
    for (const auto& c : code_points(body)) {
        if (ends_verse_line(c) || c == "\n") {
            if (!cur.empty()) out.push_back(std::move(cur));
            cur.clear();
        } else if (poem::is_han(c)) {
            cur.push_back(c);
        }
    }
    if (!cur.empty()) out.push_back(std::move(cur));
    return out;
}

// The line lengths the poem is held to: the given form's, or 4 / 8 lines mostly of 5 or 7 (none
// when it is not regulated verse); sets r.form and the faults of the line count and lengths.
std::vector<uint32_t> recognize_form(verse_report& r, const poem_form* form) {
    const auto n = static_cast<uint32_t>(r.lines.size());
    std::vector<uint32_t> want;
    if (form) {
        want = form->lines;
        r.form = form->name;
        if (want.size() != n)
            r.faults.push_back({0, 0, "length", fmt::format("{} lines, not the {} of {}", n, want.size(), form->name)});
    } else {
        std::map<uint32_t, uint32_t> lengths;
        for (const auto& l : r.lines) ++lengths[static_cast<uint32_t>(l.size())];
        const uint32_t common =
            std::max_element(lengths.begin(), lengths.end(), [](auto& a, auto& b) { return a.second < b.second; })->first;
        if ((n == 4 || n == 8) && (common == 5 || common == 7)) {
            want.assign(n, common);
            r.form = (common == 5 ? "五" : "七") + std::string(n == 4 ? "绝" : "律");
        } else {
            r.form = fmt::format("{} lines", n);
        }
    }
    for (uint32_t l = 0; l < std::min<size_t>(n, want.size()); ++l)
        if (r.lines[l].size() != want[l])
            r.faults.push_back({l + 1, 0, "length", fmt::format("{} characters, not {}", r.lines[l].size(), want[l])});
    return want;
}

// The tones of a regulated poem's characters: 0 without a reading (or on a line of the wrong
// length), both bits when read both ways.
struct poem_tones {
    const verse_report& r;
    const prosody_table& table;
    text_script script;
    uint32_t len;  // characters per line

    uint8_t at(uint32_t l, uint32_t k) const {
        if (r.lines[l].size() != len) return 0;
        const auto* e = table.find(r.lines[l][k], script);
        return e ? e->tones : 0;
    }
    // The first line joins the rhyme; every other line ending in 平 does by its place.
    bool ends_level(uint32_t l) const {
        return l % 2 == 1 ? (at(l, len - 1) & tone_level) != 0 : l == 0 && poem::first_line_in_rhyme(at(l, len - 1));
    }
};

const char* tone_name(uint8_t t) { return t == tone_level ? "平" : "仄"; }

// 对 (positions 2, 4, 6 opposite inside a couplet) and 粘 (the same across couplets), only where
// both characters have one tone.
void check_parallels(verse_report& r, const poem_tones& t) {
    const auto n = static_cast<uint32_t>(r.lines.size());
    const std::vector<uint32_t> key = t.len == 5 ? std::vector<uint32_t>{1, 3} : std::vector<uint32_t>{1, 3, 5};
    for (uint32_t l = 0; l + 1 < n; ++l) {
        if (r.lines[l].size() != t.len || r.lines[l + 1].size() != t.len) continue;
        const bool couplet = l % 2 == 0;  // lines l, l+1 form a couplet: 对; else 粘 across
        for (uint32_t k : key) {
            const uint8_t a = t.at(l, k), b = t.at(l + 1, k);
            const auto& here = r.lines[l + 1][k];
            const auto& there = r.lines[l][k];
            for (uint8_t tone : {tone_level, tone_oblique}) {
                const uint8_t other = tone == tone_level ? tone_oblique : tone_level;
                if (couplet && a == tone && b == tone)
                    r.faults.push_back({l + 2, k + 1, "失对",
                                        fmt::format("'{}' is {} like '{}' in line {}", here, tone_name(tone), there, l + 1)});
                if (!couplet && a == tone && b == other)
                    r.faults.push_back({l + 2, k + 1, "失粘",
                                        fmt::format("'{}' is {} where '{}' in line {} is {}", here, tone_name(other),
                                                    there, l + 1, tone_name(tone))});
            }
        }
    }
}

// 孤平 and 三平调 on the lines that end in 平, only when no reading of the characters avoids them.
void check_level_lines(verse_report& r, const poem_tones& t) {
    const uint32_t len = t.len;
    for (uint32_t l = 0; l < r.lines.size(); ++l) {
        if (r.lines[l].size() != len || !t.ends_level(l)) continue;
        uint8_t level_only = 0, maybe_level = 0;  // bit k: position k
        for (uint32_t k = 0; k < len; ++k) {
            const uint8_t tone = t.at(l, k);
            if (tone == tone_level) level_only |= static_cast<uint8_t>(1u << k);
            if (tone == 0 || (tone & tone_level)) maybe_level |= static_cast<uint8_t>(1u << k);
        }
        if (poem::three_level_tail(level_only, len))
            r.faults.push_back({l + 1, len - 2, "三平调", "the line ends in three 平"});
        // Every character that may be 平 set to 平: if that is still 孤平, it is.
        const bool oblique_before_rhyme = t.at(l, len - 2) == tone_oblique;
        if (oblique_before_rhyme && poem::lone_level(static_cast<uint8_t>(maybe_level | 1u << (len - 1)), len)) {
            uint32_t lone = len - 5;
            while (lone < len - 1 && !(maybe_level >> lone & 1)) ++lone;
            r.faults.push_back({l + 1, lone + 1, "孤平", "one 平 between 仄 before the rhyme"});
        }
    }
}

// The rhyme: the level-tone group most of the even lines share (the first line, when it may end
// in 平, only breaks their ties); every rhyming line's last character must be in it.
void check_rhyme(verse_report& r, const poem_tones& t) {
    const auto n = static_cast<uint32_t>(r.lines.size());
    const uint32_t len = t.len;
    const auto last = [&](uint32_t l) {
        return r.lines[l].size() == len ? t.table.find(r.lines[l].back(), t.script) : nullptr;
    };
    std::vector<uint32_t> rhyming;
    for (uint32_t l = 1; l < n; l += 2) rhyming.push_back(l);
    std::vector<uint32_t> votes(max_rhyme_groups, 0);
    std::vector<uint32_t> voters = rhyming;
    if (t.at(0, len - 1) & tone_level) voters.push_back(0);
    for (uint32_t l : voters)
        if (const auto* e = last(l))
            for (size_t g = 0; g < max_rhyme_groups; ++g) votes[g] += e->level_rhymes.test(g) ? (l == 0 ? 1 : 2) : 0;
    const auto best = static_cast<size_t>(std::max_element(votes.begin(), votes.end()) - votes.begin());
    if (poem::first_line_in_rhyme(t.at(0, len - 1))) rhyming.insert(rhyming.begin(), 0);
    for (uint32_t l : rhyming) {
        if (r.lines[l].size() != len) continue;  // already a length fault
        const auto* e = last(l);
        if (e && votes[best] > 0 && e->level_rhymes.test(best)) continue;
        const std::string& c = r.lines[l].back();
        r.faults.push_back({l + 1, len, "落韵",
                            !e                        ? fmt::format("'{}' has no reading", c)
                            : !(e->tones & tone_level) ? fmt::format("'{}' is 仄", c)
                                                       : fmt::format("'{}' is not in the rhyme group {}", c,
                                                                     t.table.rhyme_name(best))});
    }
}

verse_report check_block(const block& b, const prosody_table& table, const poem_form* form, text_script script) {
    verse_report r;
    r.text_line = b.first_line;
    r.title = b.title;
    r.lines = verse_lines(b.body());
    const std::vector<uint32_t> want = recognize_form(r, form);
    r.checked = poem_form{r.form, want}.regulated() && want.size() == r.lines.size();
    if (!r.checked) return r;
    const poem_tones tones{r, table, script, want[0]};
    check_parallels(r, tones);
    check_level_lines(r, tones);
    check_rhyme(r, tones);
    std::sort(r.faults.begin(), r.faults.end(), [](const verse_fault& a, const verse_fault& b) {
        return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
    return r;
}

}  // namespace

std::vector<verse_report> check_verse(std::string_view utf8, const prosody_table& table, const poem_form* form,
                                      text_script script) {
    std::vector<verse_report> out;
    for (const block& b : blocks_of(utf8)) {
        verse_report r = check_block(b, table, form, script);
        if (!r.lines.empty()) out.push_back(std::move(r));
    }
    return out;
}

line_overlap copied_lines(const std::vector<std::string>& poems, std::string_view corpus, size_t given) {
    line_overlap o;
    for (const auto& p : poems) {
        std::string line;
        size_t at = 0;  // bytes of the poem read
        const auto flush = [&] {
            if (!line.empty() && at > given) {
                ++o.lines;
                o.copied += corpus.find(line) != std::string_view::npos;
            }
            line.clear();
        };
        for (const auto& c : code_points(p)) {
            if (ends_verse_line(c) || c == "\n") flush();
            else line += c;
            at += c.size();
        }
        flush();
    }
    return o;
}

}  // namespace charlm
