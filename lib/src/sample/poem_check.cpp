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

namespace {

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

bool ends_verse_line(std::string_view c) {
    return c == "，" || c == "。" || c == "？" || c == "！" || c == "；" || c == "," || c == "." || c == "?" ||
           c == "!" || c == ";";
}

struct block {
    uint64_t first_line = 0;
    std::string title;
    std::string body;
};

std::vector<block> blocks_of(std::string_view text) {
    std::vector<block> out;
    block cur;
    uint64_t line_no = 0;
    size_t pos = 0;
    auto flush = [&] {
        if (!cur.body.empty()) out.push_back(cur);
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
            if (cur.body.empty()) cur.first_line = line_no;
            cur.body += std::string(line) + "\n";
        }
        if (end == text.size()) break;
        pos = end + 1;
    }
    flush();
    return out;
}

}  // namespace

std::vector<verse_report> check_verse(std::string_view utf8, const prosody_table& table, const poem_form* form) {
    std::vector<verse_report> out;
    for (const block& b : blocks_of(utf8)) {
        verse_report r;
        r.text_line = b.first_line;
        r.title = b.title;
        std::vector<std::string> cur;
        for (const auto& c : code_points(b.body)) {
            if (ends_verse_line(c) || c == "\n") {
                if (!cur.empty()) r.lines.push_back(std::move(cur));
                cur.clear();
            } else if (poem::is_han(c)) {
                cur.push_back(c);
            }
        }
        if (!cur.empty()) r.lines.push_back(std::move(cur));
        if (r.lines.empty()) continue;
        const auto n = static_cast<uint32_t>(r.lines.size());

        // The form: given, or 4 / 8 lines mostly of 5 or 7.
        std::vector<uint32_t> want;
        if (form) {
            want = form->lines;
            r.form = form->name;
            if (want.size() != n)
                r.faults.push_back({0, 0, "length", fmt::format("{} lines, not the {} of {}", n, want.size(), form->name)});
        } else {
            std::map<uint32_t, uint32_t> lengths;
            for (const auto& l : r.lines) ++lengths[static_cast<uint32_t>(l.size())];
            const uint32_t common = std::max_element(lengths.begin(), lengths.end(), [](auto& a, auto& b) {
                                        return a.second < b.second;
                                    })->first;
            if ((n == 4 || n == 8) && (common == 5 || common == 7)) {
                want.assign(n, common);
                r.form = (common == 5 ? "五" : "七") + std::string(n == 4 ? "绝" : "律");
            } else {
                r.form = fmt::format("{} lines", n);
            }
        }
        for (uint32_t l = 0; l < std::min<size_t>(n, want.size()); ++l)
            if (r.lines[l].size() != want[l])
                r.faults.push_back({l + 1, 0, "length",
                                    fmt::format("{} characters, not {}", r.lines[l].size(), want[l])});
        const poem_form shape{r.form, want};
        if (!shape.regulated() || want.size() != n) {
            out.push_back(std::move(r));
            continue;
        }

        // Tones: 0 without a reading, both bits when read both ways; "fixed" means one tone.
        const uint32_t len = want[0];
        auto tones = [&](uint32_t l, uint32_t k) -> uint8_t {
            if (r.lines[l].size() != len) return 0;
            const auto* e = table.find(r.lines[l][k]);
            return e ? e->tones : 0;
        };
        auto fixed = [](uint8_t t, uint8_t want_tone) { return t == want_tone; };
        auto name = [](uint8_t t) { return t == tone_level ? "平" : "仄"; };
        const std::vector<uint32_t> key = len == 5 ? std::vector<uint32_t>{1, 3} : std::vector<uint32_t>{1, 3, 5};
        for (uint32_t l = 0; l + 1 < n; ++l) {
            if (r.lines[l].size() != len || r.lines[l + 1].size() != len) continue;
            const bool couplet = l % 2 == 0;  // lines l, l+1 form a couplet: 对; else 粘 across
            for (uint32_t k : key) {
                const uint8_t a = tones(l, k), b = tones(l + 1, k);
                for (uint8_t t : {tone_level, tone_oblique}) {
                    const uint8_t other = t == tone_level ? tone_oblique : tone_level;
                    if (couplet && fixed(a, t) && fixed(b, t))
                        r.faults.push_back({l + 2, k + 1, "失对",
                                            fmt::format("'{}' is {} like '{}' in line {}", r.lines[l + 1][k], name(t),
                                                        r.lines[l][k], l + 1)});
                    if (!couplet && fixed(a, t) && fixed(b, other))
                        r.faults.push_back({l + 2, k + 1, "失粘",
                                            fmt::format("'{}' is {} where '{}' in line {} is {}", r.lines[l + 1][k],
                                                        name(other), r.lines[l][k], l + 1, name(t))});
                }
            }
        }
        // 孤平 and 三平调 on the lines that end in 平 (the even ones, and the first when its last
        // character can only be 平), only when no reading of the characters avoids them.
        for (uint32_t l = 0; l < n; ++l) {
            const bool level_end = l % 2 == 1 ? (tones(l, len - 1) & tone_level) != 0 : l == 0 && tones(l, len - 1) == tone_level;
            if (r.lines[l].size() != len || !level_end) continue;
            uint8_t level_only = 0, maybe_level = 0;  // bit k: position k
            for (uint32_t k = 0; k < len; ++k) {
                const uint8_t t = tones(l, k);
                if (t == tone_level) level_only |= static_cast<uint8_t>(1u << k);
                if (t == 0 || (t & tone_level)) maybe_level |= static_cast<uint8_t>(1u << k);
            }
            if (poem::three_level_tail(level_only, len))
                r.faults.push_back({l + 1, len - 2, "三平调", "the line ends in three 平"});
            // Every character that may be 平 set to 平: if that is still 孤平, it is.
            const bool oblique_before_rhyme = tones(l, len - 2) == tone_oblique;
            if (oblique_before_rhyme && poem::lone_level(static_cast<uint8_t>(maybe_level | 1u << (len - 1)), len)) {
                uint32_t lone = len - 5;
                while (lone < len - 1 && !(maybe_level >> lone & 1)) ++lone;
                r.faults.push_back({l + 1, lone + 1, "孤平", "one 平 between 仄 before the rhyme"});
            }
        }
        // The rhyme: the level-tone group most of the even lines share.
        // Even lines count 2, the first line 1 when it may end in 平: it only breaks their ties.
        std::vector<uint32_t> rhyming;
        for (uint32_t l = 1; l < n; l += 2) rhyming.push_back(l);
        std::vector<uint32_t> votes(max_rhyme_groups, 0);
        std::vector<uint32_t> voters = rhyming;
        if (tones(0, len - 1) & tone_level) voters.push_back(0);
        for (uint32_t l : voters)
            if (const auto* e = r.lines[l].size() == len ? table.find(r.lines[l].back()) : nullptr)
                for (size_t g = 0; g < max_rhyme_groups; ++g) votes[g] += e->level_rhymes.test(g) ? (l == 0 ? 1 : 2) : 0;
        const auto best = static_cast<size_t>(std::max_element(votes.begin(), votes.end()) - votes.begin());
        if (tones(0, len - 1) == tone_level) rhyming.insert(rhyming.begin(), 0);
        for (uint32_t l : rhyming) {
            if (r.lines[l].size() != len) continue;  // already a length fault
            const auto* e = table.find(r.lines[l].back());
            if (e && votes[best] > 0 && e->level_rhymes.test(best)) continue;
            r.faults.push_back({l + 1, len, "落韵",
                                !e                        ? fmt::format("'{}' has no reading", r.lines[l].back())
                                : !(e->tones & tone_level) ? fmt::format("'{}' is 仄", r.lines[l].back())
                                                           : fmt::format("'{}' is not in the rhyme group {}",
                                                                         r.lines[l].back(), table.rhyme_name(best))});
        }
        std::sort(r.faults.begin(), r.faults.end(),
                  [](const verse_fault& a, const verse_fault& b) { return std::tie(a.line, a.column) < std::tie(b.line, b.column); });
        out.push_back(std::move(r));
    }
    return out;
}

line_overlap copied_lines(const std::vector<std::string>& poems, std::string_view corpus) {
    line_overlap o;
    for (const auto& p : poems) {
        std::string line;
        const auto flush = [&] {
            if (line.empty()) return;
            ++o.lines;
            o.copied += corpus.find(line) != std::string_view::npos;
            line.clear();
        };
        for (const auto& c : code_points(p)) {
            if (ends_verse_line(c) || c == "\n") flush();
            else line += c;
        }
        flush();
    }
    return o;
}

}  // namespace charlm
