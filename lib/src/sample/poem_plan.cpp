// What the user fixes in a poem and how candidates are ranked: templates (a form with some
// characters fixed), keywords and their plan (one word a line, where the tones and rhyme allow it),
// the checks `charlm verse` makes of both, and the score --best-of ranks candidates by.
// Not here: the constraint that forces fixed characters (poem_constraint.cpp), sampling.
#include <fmt/core.h>

#include <algorithm>
#include <set>

#include "sample/poem_impl.h"

namespace charlm {

namespace {

bool is_mark(std::string_view c) {
    return c == "，" || c == "。" || c == "？" || c == "！" || c == "；" || c == "," || c == "." || c == "?" ||
           c == "!" || c == ";" || c == "\n";
}

bool is_free(std::string_view c) { return c == "＿" || c == "_"; }

std::string form_name(const std::vector<uint32_t>& lines) {
    const poem_form f{"", lines};
    if (f.regulated())
        return std::string(lines[0] == 5 ? "五" : "七") + (lines.size() == 4 ? "绝" : "律");
    std::string name;
    for (uint32_t n : lines) name += fmt::format("{}{}", name.empty() ? "" : ",", n);
    return name;
}

// The verse lines of a text: its Han characters, cut at verse punctuation and newlines.
std::vector<std::string> lines_of(std::string_view text) {
    std::vector<std::string> out(1);
    for (const auto& c : poem::code_points(text)) {
        if (is_mark(c)) {
            if (!out.back().empty()) out.emplace_back();
        } else if (poem::is_han(c)) {
            out.back() += c;
        }
    }
    if (out.back().empty()) out.pop_back();
    return out;
}

}  // namespace

result<poem_template> parse_poem_template(std::string_view text) {
    poem_template t;
    std::vector<uint32_t> lines(1, 0);
    uint32_t at = 0;  // characters read, for the message
    for (const auto& c : poem::code_points(text)) {
        ++at;
        if (is_mark(c)) {
            if (lines.back() > 0) lines.push_back(0);
        } else if (c == " " || c == "\t" || c == "\r" || c == "\u3000") {
            continue;
        } else if (is_free(c) || poem::is_han(c)) {
            if (!is_free(c))
                t.chars.push_back({static_cast<uint32_t>(lines.size() - 1), lines.back(), c});
            ++lines.back();
        } else {
            return make_error(errc::usage, fmt::format("--template: '{}' (character {}) is neither a Han character "
                                                       "nor ＿ or _ (a free character) nor a mark ending a line "
                                                       "(，。？！；); e.g. 床前＿＿光，＿＿＿＿霜。",
                                                       c, at));
        }
    }
    if (lines.back() == 0) lines.pop_back();
    if (lines.empty())
        return make_error(errc::usage, "--template has no line: write the poem with ＿ or _ for each free character, "
                                       "e.g. 床前＿＿光，＿＿＿＿霜。");
    if (lines.size() > poem_form::max_lines)
        return make_error(errc::usage, fmt::format("--template has {} lines, more than the {} a poem may have",
                                                   lines.size(), poem_form::max_lines));
    for (size_t l = 0; l < lines.size(); ++l)
        if (lines[l] > poem_form::max_line_length)
            return make_error(errc::usage, fmt::format("--template line {} has {} characters, more than the {} a line "
                                                       "may have",
                                                       l + 1, lines[l], poem_form::max_line_length));
    t.form = poem_form{form_name(lines), lines};
    return t;
}

result<std::vector<std::string>> parse_keywords(std::string_view text) {
    std::vector<std::string> out(1);
    for (const auto& c : poem::code_points(text)) {
        if (c == "," || c == "，" || c == "、") out.emplace_back();
        else if (c != " " && c != "\t" && c != "\u3000") out.back() += c;
    }
    for (size_t i = 0; i < out.size(); ++i)
        if (out[i].empty())
            return make_error(errc::usage, fmt::format("--keywords '{}': word {} is empty; separate words with one "
                                                       "comma, e.g. 春,江,月",
                                                       text, i + 1));
    return out;
}

void check_fixed(verse_report& r, const poem_template* t, const std::vector<std::string>& keywords) {
    if (t) {
        const auto& want = t->form.lines;
        if (r.lines.size() != want.size())
            r.faults.push_back({0, 0, "template", fmt::format("{} lines, not the {} of the template", r.lines.size(),
                                                              want.size())});
        for (size_t l = 0; l < std::min(want.size(), r.lines.size()); ++l)
            if (r.lines[l].size() != want[l])
                r.faults.push_back({static_cast<uint32_t>(l + 1), 0, "template",
                                    fmt::format("{} characters, not the template's {}", r.lines[l].size(), want[l])});
        for (const auto& f : t->chars) {
            if (f.line >= r.lines.size() || f.pos >= r.lines[f.line].size()) continue;  // a length fault already
            if (r.lines[f.line][f.pos] != f.character)
                r.faults.push_back({f.line + 1, f.pos + 1, "template",
                                    fmt::format("'{}' where the template fixes '{}'", r.lines[f.line][f.pos],
                                                f.character)});
        }
    }
    for (const auto& k : keywords) {
        bool found = false;
        for (const auto& line : r.lines) {
            std::string joined;
            for (const auto& c : line) joined += c;
            found |= joined.find(k) != std::string::npos;
        }
        if (!found) r.faults.push_back({0, 0, "keyword", fmt::format("'{}' is in no line", k)});
    }
}

poem_score score_poem(const poem_result& poem, const poem_weights& w, std::string_view corpus) {
    poem_score s;
    s.nll = poem.stats.tokens ? poem.stats.nll / static_cast<double>(poem.stats.tokens) : 0.0;
    std::set<std::string> seen_chars, seen_lines;
    for (const auto& c : poem::code_points(poem.text))
        if (poem::is_han(c)) s.repeats += !seen_chars.insert(c).second;
    for (const auto& l : lines_of(poem.text)) s.repeated_lines += !seen_lines.insert(l).second;
    if (!corpus.empty()) s.copied_lines = static_cast<uint32_t>(copied_lines({poem.text}, corpus, poem.prefix_bytes).copied);
    s.total = s.nll + w.repeat * s.repeats + w.line * s.repeated_lines + w.copy * s.copied_lines;
    return s;
}

std::string poem_score::describe(const poem_weights& w) const {
    std::string out = fmt::format("{:.3f} = NLL {:.3f}", total, nll);
    if (repeats) out += fmt::format(" + {} x {} repeated character(s)", w.repeat, repeats);
    if (repeated_lines) out += fmt::format(" + {} x {} repeated line(s)", w.line, repeated_lines);
    if (copied_lines) out += fmt::format(" + {} x {} copied line(s)", w.copy, copied_lines);
    return out;
}

namespace poem {

namespace {

// Where a word of `n` characters may start in a line of `len`, most wanted first: at a
// two-character boundary (0, 2, 4: the 2 + 3 and 2 + 2 + 3 rhythm), then the others, and a place
// that takes the line's last character (its rhyme) last.
std::vector<uint32_t> slot_order(uint32_t len, uint32_t n) {
    std::vector<uint32_t> out;
    for (uint32_t p = 0; p + n <= len; ++p) out.push_back(p);
    std::stable_sort(out.begin(), out.end(), [&](uint32_t a, uint32_t b) {
        return std::make_tuple(a + n == len, a % 2, a) < std::make_tuple(b + n == len, b % 2, b);
    });
    return out;
}

}  // namespace

result<std::vector<fixed_char>> plan_keywords(poem_constraint& c, const vocabulary& vocab, std::vector<fixed_char> fixed,
                                              const std::vector<std::string>& words,
                                              const std::vector<std::vector<uint32_t>>& ids) {
    const auto& lines = c.form().lines;
    const auto count = static_cast<uint32_t>(lines.size());
    if (words.size() > count)
        return make_error(errc::usage, fmt::format("--keywords has {} words but --form {} has {} lines; the plan puts "
                                                   "one word in a line",
                                                   words.size(), c.form().name, count));
    const uint32_t longest = *std::max_element(lines.begin(), lines.end());
    std::vector<bool> used(count, false);
    for (size_t i = 0; i < words.size(); ++i) {
        const auto n = static_cast<uint32_t>(ids[i].size());
        if (n > longest)
            return make_error(errc::usage, fmt::format("--keywords '{}' has {} characters, longer than a line of --form "
                                                       "{} ({} at most)",
                                                       words[i], n, c.form().name, longest));
        const auto planned = static_cast<uint32_t>(i * count / words.size());
        std::string first_reason;
        bool placed = false;
        for (uint32_t step = 0; step < count && !placed; ++step) {
            const uint32_t line = (planned + step) % count;
            if (used[line] || n > lines[line]) continue;
            for (uint32_t p : slot_order(lines[line], n)) {
                std::vector<fixed_char> trial = fixed;
                for (uint32_t k = 0; k < n; ++k)
                    trial.push_back({line, p + k, ids[i][k], fmt::format("keyword '{}' character", words[i])});
                const status s = c.set_fixed(vocab, trial, false);
                if (s.ok()) {
                    fixed = std::move(trial);
                    used[line] = placed = true;
                    break;
                }
                if (first_reason.empty()) first_reason = s.err().message;
            }
        }
        if (!placed)
            return make_error(errc::usage, fmt::format("--keywords '{}' fits in no line left: {}", words[i],
                                                       first_reason.empty() ? "every line is taken or too short"
                                                                            : first_reason));
    }
    CHARLM_TRY(c.set_fixed(vocab, fixed));
    return fixed;
}

}  // namespace poem
}  // namespace charlm
