// Tone class and level-tone rhyme group of each character, from the Middle Chinese spellings of
// Debian's rime-data-zyenpheng (the 廣韻 system in Polyhedron's romanization), read at run time:
// the package is GPL-3 and no copy of it is part of charlm.
//
// Tone: a spelling ending in -x is 上, in -h or -d 去 (-d is the departing tone of the -i finals
// 泰 夬 廢 祭), in -p -t -k 入 (all three 仄); anything else is 平. A character whose readings differ
// in tone counts as both.
// Rhyme: a level reading's final is the spelling without its initial (the longest of the initials
// below), with the 重紐 medial j read as i (dropped before i or y), the i that the palatal initials (章 組, 日, 以: cj chj
// zj sj zsj nj j) absorb put back, and the r of the retroflex initials (知 莊 組: tr, sr, ...)
// dropped before i or y. The finals then fall into the 30 level-tone groups of 平水韵 by the
// merges of the rhyme books (東: ung iung; 冬: uung yung; ...; see group_of_final); a final outside
// the list forms a group of its own.
// Simplified characters: ICU's Hant-Hans maps every traditional character of the table to its
// simplified form; in simplified text a character takes the union of the readings of all the
// traditional characters that map to it and of its own (发 gets 發's and 髮's, 干 gets 干's, 乾's
// and 幹's), so it counts as either tone where they differ. In traditional text a character the
// table lists keeps its own readings only (弦 is 平, not also 絃's 去; 干 is 寒, not also 乾's 仙);
// the union is for the forms the table does not list (simplified-only characters) (issue 32).
// Not here: how the tones make a pattern (poem_form.cpp).
#include <fmt/core.h>
#include <unicode/translit.h>
#include <unicode/unistr.h>
#include <unicode/utf8.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include "charlm/poem.hpp"
#include "sample/poem_impl.h"

namespace charlm {

namespace {

// The 30 level-tone groups of 平水韵 and the normalized finals each takes.
struct group_def {
    const char* name;
    std::initializer_list<std::string_view> finals;
};
const group_def level_groups[] = {
    {"東", {"ung", "iung"}},
    {"冬", {"uung", "yung"}},
    {"江", {"rung"}},
    {"支", {"ie", "ye", "i", "ii", "yi"}},
    {"微", {"ioi", "yoi"}},
    {"魚", {"io"}},
    {"虞", {"yo", "o"}},
    {"齊", {"e", "ue"}},
    {"佳", {"re", "rue", "rai", "ruai"}},
    {"灰", {"ai", "uai"}},
    {"真", {"in", "yn"}},
    {"文", {"yon", "ion"}},
    {"元", {"yan", "ian", "on", "uon"}},
    {"寒", {"an", "uan"}},
    {"刪", {"ran", "ruan", "ren", "ruen"}},
    {"先", {"en", "uen", "ien", "yen"}},
    {"蕭", {"eu", "ieu"}},
    {"肴", {"rau"}},
    {"豪", {"au"}},
    {"歌", {"a", "ua", "ya"}},
    {"麻", {"ra", "rua", "ia"}},
    {"陽", {"ang", "iang", "uang", "yang"}},
    {"庚", {"rang", "ruang", "reng", "rueng", "ieng", "yeng"}},
    {"青", {"eng", "ueng"}},
    {"蒸", {"ing", "ong", "uong"}},
    {"尤", {"iu", "u", "y"}},
    {"侵", {"im"}},
    {"覃", {"om", "am"}},
    {"鹽", {"iem", "em", "iam"}},
    {"咸", {"rem", "ram", "yam"}},
};

// Initials, longest first so that "zsj" wins over "zs" and "z".
constexpr std::string_view initials[] = {"zsj", "chj", "cj", "zj", "sj", "nj", "zs", "ch", "ph", "th", "kh", "gh",
                                         "ng",  "p",   "b",  "m",  "t",  "d",  "n",  "l",  "c",  "z",  "s",  "k",
                                         "g",   "q",   "h",  "j"};

uint8_t tone_of(std::string_view spelling) {
    switch (spelling.back()) {
        case 'x': case 'h': case 'd': case 'p': case 't': case 'k': return tone_oblique;
        default: return tone_level;
    }
}

std::string final_of(std::string_view spelling) {
    std::string_view initial;
    for (auto i : initials)
        if (spelling.starts_with(i)) {
            initial = i;
            break;
        }
    std::string f(spelling.substr(initial.size()));
    if (f.starts_with('j')) {  // 重紐 A: pje 卑 rhymes with pie 陂, pjin 賓 with pin 彬, kjyi 葵 with kyi 龜
        if (f.size() > 1 && (f[1] == 'i' || f[1] == 'y')) f.erase(0, 1);
        else f[0] = 'i';
    }
    else if (initial.ends_with('j') && !f.starts_with('i') && !f.starts_with('y')) f = std::string("i") + f;
    if (f.size() >= 2 && f[0] == 'r' && (f[1] == 'i' || f[1] == 'y')) f.erase(0, 1);
    return f;
}

char32_t first_code_point(std::string_view s, int32_t* length = nullptr) {
    int32_t i = 0;
    UChar32 c = -1;
    if (!s.empty()) U8_NEXT(s.data(), i, static_cast<int32_t>(s.size()), c);
    if (length) *length = i;
    return c < 0 ? 0 : static_cast<char32_t>(c);
}

}  // namespace

namespace {

// The readings of one character as the table spells them, added to its entry.
void add_reading(prosody_table::entry& e, std::string_view spelling, std::unordered_map<std::string, size_t>& groups,
                 std::vector<std::string>& names) {
    const uint8_t tone = tone_of(spelling);
    e.tones |= tone;
    if (tone != tone_level) return;
    auto [it, added] = groups.emplace(final_of(spelling), names.size());
    if (added) {
        if (names.size() >= max_rhyme_groups) {  // no room: the reading keeps its tone only
            groups.erase(it);
            return;
        }
        names.push_back(it->first);
    }
    e.level_rhymes.set(it->second);
}

// One "character<TAB>spelling[<TAB>weight]" line of the dictionary's body: the character's code
// point and its spelling, or 0 for a line that is not a one-character reading.
char32_t reading_of(std::string_view line, std::string_view& spelling) {
    const size_t tab = line.find('\t');
    if (line.empty() || line[0] == '#' || tab == std::string_view::npos) return 0;
    const std::string_view ch = line.substr(0, tab);
    spelling = line.substr(tab + 1);
    spelling = spelling.substr(0, spelling.find('\t'));
    int32_t length = 0;
    const char32_t cp = first_code_point(ch, &length);
    if (cp == 0 || static_cast<size_t>(length) != ch.size() || spelling.empty()) return 0;
    for (char c : spelling)
        if (c < 'a' || c > 'z') return 0;
    return cp;
}

std::unique_ptr<icu::Transliterator> transliterator(const char* id, UErrorCode& ec) {
    return std::unique_ptr<icu::Transliterator>(icu::Transliterator::createInstance(id, UTRANS_FORWARD, ec));
}

// ICU's transliteration of each character (one transliteration of all, one a line; so never a
// newline among `cps`); a character that does not come out as one character maps to itself.
std::vector<char32_t> transliterate_each(icu::Transliterator& tr, const std::vector<char32_t>& cps) {
    icu::UnicodeString all;
    for (char32_t cp : cps) {
        CHARLM_ASSERT(cp != U'\n');
        all.append(static_cast<UChar32>(cp));
        all.append(static_cast<UChar>(u'\n'));
    }
    tr.transliterate(all);
    std::vector<char32_t> out(cps);
    int32_t pos = 0;
    for (size_t i = 0; i < cps.size(); ++i) {
        const int32_t end = all.indexOf(static_cast<UChar>(u'\n'), pos);
        if (end < 0) break;
        if (all.countChar32(pos, end - pos) == 1) out[i] = static_cast<char32_t>(all.char32At(pos));
        pos = end + 1;
    }
    return out;
}

}  // namespace

result<prosody_table> prosody_table::load(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return make_error(errc::io, fmt::format("cannot read the Middle Chinese readings '{}' ({}) that --rhyme and "
                                                "--tones need; install Debian's rime-data-zyenpheng "
                                                "(apt-get install rime-data-zyenpheng)",
                                                path, std::strerror(errno)));
    prosody_table t;
    std::unordered_map<std::string, size_t> groups;
    for (const auto& g : level_groups) {
        for (auto f : g.finals) groups.emplace(std::string(f), t.rhyme_names_.size());
        t.rhyme_names_.emplace_back(g.name);
    }
    std::string line;
    bool body = false;
    while (std::getline(in, line)) {
        if (!body) {  // the YAML header ends with "..."
            body = line == "...";
            continue;
        }
        std::string_view spelling;
        if (const char32_t cp = reading_of(line, spelling)) add_reading(t.own_[cp], spelling, groups, t.rhyme_names_);
    }
    if (!body || t.own_.size() < 1000)
        return make_error(errc::format, fmt::format("'{}' holds {} readings, not a Rime dictionary of Middle Chinese "
                                                    "readings; reinstall rime-data-zyenpheng",
                                                    path, t.own_.size()));
    CHARLM_TRY(t.add_simplified_forms());
    return t;
}

// Each traditional character's readings also go to the character ICU's Hant-Hans gives for it:
// merged_ holds, for every character some other one simplifies to, the union with its own.
status prosody_table::add_simplified_forms() {
    UErrorCode ec = U_ZERO_ERROR;
    auto hans = transliterator("Hant-Hans", ec);
    if (U_FAILURE(ec) || !hans)
        return make_error(errc::internal, fmt::format("ICU has no Hant-Hans transliterator ({}): simplified characters "
                                                      "cannot be given readings; check the libicu installation",
                                                      u_errorName(ec)));
    std::vector<char32_t> traditional;
    traditional.reserve(own_.size());
    for (const auto& [cp, e] : own_) traditional.push_back(cp);
    const std::vector<char32_t> simplified = transliterate_each(*hans, traditional);
    for (size_t i = 0; i < traditional.size(); ++i) {
        const char32_t s = simplified[i];
        if (s == traditional[i]) continue;
        auto [it, added] = merged_.try_emplace(s);
        if (added)
            if (const auto own = own_.find(s); own != own_.end()) it->second = own->second;
        it->second.tones |= own_.at(traditional[i]).tones;
        it->second.level_rhymes |= own_.at(traditional[i]).level_rhymes;
    }
    return status::success();
}

const prosody_table::entry* prosody_table::find(std::string_view character, text_script script) const {
    const char32_t cp = first_code_point(character);
    const auto& first = script == text_script::traditional ? own_ : merged_;
    const auto& second = script == text_script::traditional ? merged_ : own_;
    if (const auto it = first.find(cp); it != first.end()) return &it->second;
    const auto it = second.find(cp);
    return it == second.end() ? nullptr : &it->second;
}

result<text_script> guess_script(const std::vector<std::string>& characters) {
    UErrorCode ec = U_ZERO_ERROR;
    auto hans = transliterator("Hant-Hans", ec);
    auto hant = transliterator("Hans-Hant", ec);
    if (U_FAILURE(ec) || !hans || !hant)
        return make_error(errc::internal, fmt::format("ICU has no Hant-Hans / Hans-Hant transliterator ({}); check "
                                                      "the libicu installation",
                                                      u_errorName(ec)));
    std::vector<char32_t> cps;  // Han characters only (a newline would shift transliterate_each's lines)
    for (const auto& c : characters)
        if (poem::is_han(c)) cps.push_back(first_code_point(c));
    const std::vector<char32_t> to_simplified = transliterate_each(*hans, cps);
    const std::vector<char32_t> to_traditional = transliterate_each(*hant, cps);
    size_t traditional_only = 0, simplified_only = 0;
    for (size_t i = 0; i < cps.size(); ++i) {
        traditional_only += to_simplified[i] != cps[i];
        simplified_only += to_traditional[i] != cps[i];
    }
    return traditional_only > simplified_only ? text_script::traditional : text_script::simplified;
}

}  // namespace charlm
