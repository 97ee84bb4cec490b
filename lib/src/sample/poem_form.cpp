// The shape of a poem (the four forms of regulated verse and custom ones), the options' names, and
// the tone patterns of regulated verse as masks. Not here: the readings of characters
// (poem_prosody.cpp) or the step-by-step constraint (poem_constraint.cpp).
#include <fmt/core.h>
#include <unicode/uscript.h>
#include <unicode/utf8.h>

#include <charconv>

#include "sample/poem_impl.h"

namespace charlm {

bool poem_form::regulated() const {
    if (lines.size() != 4 && lines.size() != 8) return false;
    for (uint32_t n : lines)
        if (n != lines[0]) return false;
    return lines[0] == 5 || lines[0] == 7;
}

result<poem_form> parse_poem_form(std::string_view spec) {
    struct named {
        std::string_view zh, ascii, traditional;
        uint32_t count, length;
    };
    static constexpr named forms[] = {{"五绝", "wujue", "五絕", 4, 5},
                                      {"七绝", "qijue", "七絕", 4, 7},
                                      {"五律", "wulv", "五律", 8, 5},
                                      {"七律", "qilv", "七律", 8, 7}};
    for (const auto& f : forms)
        if (spec == f.zh || spec == f.ascii || spec == f.traditional)
            return poem_form{std::string(f.zh), std::vector<uint32_t>(f.count, f.length)};
    const auto usage = [spec](std::string_view why) {
        return make_error(errc::usage,
                          fmt::format("--form '{}' {}; use 五绝, 七绝, 五律, 七律 (wujue, qijue, wulv, qilv), "
                                      "NxL (N lines of L characters, e.g. 6x5) or a list of line lengths (5,7,5,7)",
                                      spec, why));
    };
    const auto number = [&](std::string_view s, uint32_t max, uint32_t& out) {
        auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
        return ec == std::errc() && end == s.data() + s.size() && out >= 1 && out <= max;
    };
    poem_form f{std::string(spec), {}};
    if (const size_t x = spec.find('x'); x != std::string_view::npos) {
        uint32_t count = 0, length = 0;
        if (!number(spec.substr(0, x), poem_form::max_lines, count) ||
            !number(spec.substr(x + 1), poem_form::max_line_length, length))
            return usage(fmt::format("is not a known form (NxL needs 1 to {} lines of 1 to {} characters)",
                                     poem_form::max_lines, poem_form::max_line_length));
        f.lines.assign(count, length);
        return f;
    }
    size_t start = 0;
    while (true) {
        const size_t comma = spec.find(',', start);
        uint32_t length = 0;
        if (!number(spec.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start),
                    poem_form::max_line_length, length))
            return usage(fmt::format("is not a known form (line lengths must be 1 to {})", poem_form::max_line_length));
        f.lines.push_back(length);
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    if (f.lines.size() > poem_form::max_lines) return usage(fmt::format("has more than {} lines", poem_form::max_lines));
    return f;
}

namespace poem {

bool level_second(uint32_t line, bool first_level_second) {
    const uint32_t k = line % 4;
    return (k == 0 || k == 3) == first_level_second;
}

bool level_end(uint32_t line, bool first_rhymed) { return line % 2 == 1 || (line == 0 && first_rhymed); }

uint8_t canonical_line(uint32_t length, bool level_second5, bool level_end) {
    // 五言, position 1 first (bit 0): 仄仄平平仄 平平仄仄平 平平平仄仄 仄仄仄平平.
    constexpr uint8_t p = 1;
    auto five = [](bool second, bool end) -> uint8_t {
        if (!second && !end) return 0b01100;          // 仄仄平平仄
        if (second && end) return 0b10011;            // 平平仄仄平
        if (second && !end) return 0b00111;           // 平平平仄仄
        return 0b11000;                               // 仄仄仄平平
    };
    if (length == 5) return five(level_second5, level_end);
    CHARLM_ASSERT(length == 7);
    // 七言: two of the line's position-2 tone, then the 五言 line of the opposite one.
    return static_cast<uint8_t>((level_second5 ? (p | p << 1) : 0) | five(!level_second5, level_end) << 2);
}

bool three_level_tail(uint8_t tones, uint32_t length) {
    const uint32_t tail = 0b111u << (length - 3);
    return (tones & tail) == tail;
}

bool lone_level(uint8_t tones, uint32_t length) {
    if (!(tones >> (length - 1) & 1)) return false;   // only lines ending in 平
    const uint32_t first = length - 5;                // the 五言 part
    if (tones >> (length - 2) & 1) return false;      // a 平 next to the rhyme
    int level = 0;
    for (uint32_t k = first; k < length - 1; ++k) level += tones >> k & 1;
    return level <= 1;
}

std::vector<uint8_t> allowed_lines(uint32_t length, bool second, bool end, tone_rule rule) {
    const uint8_t canon = canonical_line(length, second, end);
    if (rule == tone_rule::strict) return {canon};
    uint8_t free = length == 7 ? 0b0010101 : 0b00101;  // positions 1, 3 (5)
    std::vector<uint8_t> out;
    for (uint32_t m = 0; m < (1u << length); ++m) {
        const auto t = static_cast<uint8_t>(m);
        if ((t & ~free) != (canon & ~free)) continue;
        if (t != canon && (three_level_tail(t, length) || lone_level(t, length))) continue;
        out.push_back(t);
    }
    return out;
}

bool is_han(std::string_view token) {
    if (token.empty()) return false;
    int32_t i = 0;
    UChar32 c = 0;
    U8_NEXT(token.data(), i, static_cast<int32_t>(token.size()), c);
    if (c < 0) return false;
    UErrorCode ec = U_ZERO_ERROR;
    return uscript_getScript(c, &ec) == USCRIPT_HAN && U_SUCCESS(ec);
}

}  // namespace poem
}  // namespace charlm
