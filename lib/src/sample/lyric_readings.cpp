// The readings lyrics rhyme and scan by, read at run time from Debian packages (never copied into
// charlm): toneless pinyin from rime-data-luna-pinyin (LGPL-3) and English syllables, stress and
// rhymes from festlex-cmu (CMUdict 0.4, Festival's lexicon format); and the modern finals' classes.
// Finals: the syllable without its initial; y/w spellings and j q x + u read as the finals they
// write (yu -> v, wei -> uei, ju -> v), iu un ui as iou uen uei, zhi chi shi ri zi ci si as -i.
// Not here: which line must rhyme with which (lyric_check.cpp, lyric_constraint.cpp).
#include <fmt/core.h>
#include <unicode/translit.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "charlm/lyrics.hpp"

namespace charlm {

namespace {

// Classes by final; "-i" is the apical vowel of zhi chi shi ri zi ci si.
struct class_def {
    const char* name;
    std::initializer_list<std::string_view> finals;
};
const class_def shisanzhe_classes[] = {
    {"发花", {"a", "ia", "ua"}},          {"梭波", {"o", "uo", "e", "io"}},     {"乜斜", {"ie", "ve"}},
    {"一七", {"i", "-i", "v", "er"}},     {"姑苏", {"u"}},                      {"怀来", {"ai", "uai"}},
    {"灰堆", {"ei", "uei"}},              {"遥条", {"ao", "iao"}},              {"油求", {"ou", "iou"}},
    {"言前", {"an", "ian", "uan", "van"}}, {"人辰", {"en", "in", "uen", "vn"}}, {"江阳", {"ang", "iang", "uang"}},
    {"中东", {"eng", "ing", "ong", "iong", "ueng"}},
};
const class_def xinyun_classes[] = {
    {"麻", {"a", "ia", "ua"}},          {"波", {"o", "uo", "e", "io"}},     {"皆", {"ie", "ve"}},
    {"开", {"ai", "uai"}},              {"微", {"ei", "uei"}},              {"豪", {"ao", "iao"}},
    {"尤", {"ou", "iou"}},              {"寒", {"an", "ian", "uan", "van"}}, {"文", {"en", "in", "uen", "vn"}},
    {"唐", {"ang", "iang", "uang"}},    {"庚", {"eng", "ing", "ong", "iong", "ueng"}},
    {"齐", {"i", "er", "v"}},           {"支", {"-i"}},                     {"姑", {"u"}},
};

template <size_t N>
std::vector<std::string> names_of(const class_def (&defs)[N]) {
    std::vector<std::string> out;
    for (const auto& d : defs) out.emplace_back(d.name);
    return out;
}

std::string final_of(std::string_view s) {
    static constexpr std::string_view initials[] = {"zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l",
                                                     "g",  "k",  "h",  "j", "q", "x", "r", "z", "c", "s"};
    if (s.starts_with('y')) {
        const std::string_view rest = s.substr(1);
        if (rest.starts_with('u') || rest.starts_with('v')) return std::string(1, 'v').append(rest.substr(1));
        if (rest.starts_with('i')) return std::string(rest);
        return rest == "ou" ? std::string("iou") : std::string(1, 'i').append(rest);
    }
    if (s.starts_with('w')) {
        const std::string_view rest = s.substr(1);
        if (rest == "u") return "u";
        if (rest == "ei") return "uei";
        if (rest == "en") return "uen";
        return std::string(1, 'u').append(rest);
    }
    std::string_view initial;
    for (auto i : initials)
        if (s.starts_with(i)) {
            initial = i;
            break;
        }
    std::string f(s.substr(initial.size()));
    if ((initial == "j" || initial == "q" || initial == "x") && f.starts_with('u')) f[0] = 'v';
    if (f == "ue") f = "ve";  // nue, lue
    if (f == "iu") f = "iou";
    if (f == "ui") f = "uei";
    if (f == "un") f = "uen";
    if (f == "i" && (initial == "zh" || initial == "ch" || initial == "sh" || initial == "r" || initial == "z" ||
                     initial == "c" || initial == "s"))
        f = "-i";
    return f;
}

// A dictionary line "text<TAB>syllables[<TAB>weight]": false for comments, headers and 0% readings.
bool split_entry(std::string_view line, std::string_view& text, std::vector<std::string>& syllables) {
    const size_t tab = line.find('\t');
    if (line.empty() || line[0] == '#' || tab == std::string_view::npos) return false;
    text = line.substr(0, tab);
    std::string_view rest = line.substr(tab + 1);
    const size_t tab2 = rest.find('\t');
    if (tab2 != std::string_view::npos) {
        const std::string_view weight = rest.substr(tab2 + 1);
        if (weight == "0%" || weight == "0") return false;
        rest = rest.substr(0, tab2);
    }
    syllables.clear();
    size_t at = 0;
    while (at <= rest.size()) {
        const size_t sp = std::min(rest.find(' ', at), rest.size());
        if (sp > at) syllables.emplace_back(rest.substr(at, sp - at));
        at = sp + 1;
    }
    for (const auto& s : syllables)
        for (char c : s)
            if (c < 'a' || c > 'z') return false;
    return !syllables.empty() && !text.empty();
}

size_t code_points(std::string_view s) {
    size_t n = 0;
    for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    return n;
}

void add_unique(std::vector<std::string>& v, const std::string& s) {
    if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
}

// ICU's transliteration `id` of each string (one transliteration of all, a string a line); a
// string whose line cannot be found maps to itself.
result<std::vector<std::string>> transliterate_each(const char* id, const std::vector<std::string>& in) {
    UErrorCode ec = U_ZERO_ERROR;
    std::unique_ptr<icu::Transliterator> tr(icu::Transliterator::createInstance(id, UTRANS_FORWARD, ec));
    if (U_FAILURE(ec) || !tr)
        return make_error(errc::internal, fmt::format("ICU has no {} transliterator ({}); check the libicu "
                                                      "installation", id, u_errorName(ec)));
    std::string all;
    for (const auto& k : in) all += k + "\n";
    icu::UnicodeString u = icu::UnicodeString::fromUTF8(all);
    tr->transliterate(u);
    std::string out;
    u.toUTF8String(out);
    std::vector<std::string> result(in);
    size_t at = 0;
    for (size_t i = 0; i < in.size(); ++i) {
        const size_t nl = out.find('\n', at);
        if (nl == std::string::npos) break;
        result[i] = out.substr(at, nl - at);
        at = nl + 1;
    }
    return result;
}

template <class Map>
std::vector<std::string> keys_of(const Map& m) {
    std::vector<std::string> out;
    for (const auto& [k, v] : m) out.push_back(k);
    return out;
}

}  // namespace

int modern_class(std::string_view syllable, rhyme_system s) {
    CHARLM_ASSERT(s == rhyme_system::shisanzhe || s == rhyme_system::xinyun);
    const std::string f = final_of(syllable);
    const auto find = [&](const auto& defs) {
        int id = 0;
        for (const auto& d : defs) {
            for (auto x : d.finals)
                if (x == f) return id;
            ++id;
        }
        return -1;
    };
    return s == rhyme_system::shisanzhe ? find(shisanzhe_classes) : find(xinyun_classes);
}

const std::vector<std::string>& modern_class_names(rhyme_system s) {
    static const std::vector<std::string> zhe = names_of(shisanzhe_classes), xin = names_of(xinyun_classes);
    return s == rhyme_system::xinyun ? xin : zhe;
}

result<pinyin_table> pinyin_table::load(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return make_error(errc::io, fmt::format("cannot read the pinyin readings '{}' ({}) that Chinese rhymes "
                                                "(--rhyme-system 十三辙 or 新韵) need; install Debian's "
                                                "rime-data-luna-pinyin (apt-get install rime-data-luna-pinyin)",
                                                path, std::strerror(errno)));
    pinyin_table t;
    std::string line;
    bool body = false;
    std::string_view text;
    std::vector<std::string> syllables;
    while (std::getline(in, line)) {
        if (!body) {  // the YAML header ends with "..."
            body = line == "...";
            continue;
        }
        if (!split_entry(line, text, syllables)) continue;
        const size_t n = code_points(text);
        if (n != syllables.size() || n > 4) continue;
        add_unique(n == 1 ? t.chars_[std::string(text)] : t.words_[std::string(text)], syllables.back());
    }
    if (!body || t.chars_.size() < 1000)
        return make_error(errc::format, fmt::format("'{}' holds {} characters' readings, not Rime's luna_pinyin "
                                                    "dictionary; reinstall rime-data-luna-pinyin",
                                                    path, t.chars_.size()));
    // Only words whose last character has several readings settle anything.
    std::erase_if(t.words_, [&](const auto& w) {
        const std::string& word = w.first;
        size_t last = word.size() - 1;
        while (last > 0 && (static_cast<unsigned char>(word[last]) & 0xC0) == 0x80) --last;
        const auto it = t.chars_.find(word.substr(last));
        return it == t.chars_.end() || it->second.size() < 2;
    });
    CHARLM_TRY(t.add_simplified_forms());
    return t;
}

// Simplified text: a character that ICU's Hans-Hant changes (开 -> 開) is read as the traditional
// characters that Hant-Hans simplifies to it (the table gives 开 the readings of the variant of 幵,
// jian); one it leaves alone (了) keeps its own readings and gains theirs (瞭: liao). Words in
// traditional characters are also entered simplified.
status pinyin_table::add_simplified_forms() {
    const std::vector<std::string> traditional = keys_of(chars_);
    auto simplified = transliterate_each("Hant-Hans", traditional);
    if (!simplified) return simplified.err();
    std::unordered_map<std::string, std::vector<std::string>> sources;
    for (size_t i = 0; i < traditional.size(); ++i)
        if ((*simplified)[i] != traditional[i] && code_points((*simplified)[i]) == 1)
            for (const auto& r : chars_.at(traditional[i])) add_unique(sources[(*simplified)[i]], r);
    const std::vector<std::string> targets = keys_of(sources);
    auto back = transliterate_each("Hans-Hant", targets);
    if (!back) return back.err();
    for (size_t i = 0; i < targets.size(); ++i) {
        std::vector<std::string> merged;
        if (const auto own = chars_.find(targets[i]); own != chars_.end() && (*back)[i] == targets[i]) merged = own->second;
        for (const auto& r : sources[targets[i]]) add_unique(merged, r);
        simplified_chars_[targets[i]] = std::move(merged);
    }
    const std::vector<std::string> words = keys_of(words_);
    auto simple_words = transliterate_each("Hant-Hans", words);
    if (!simple_words) return simple_words.err();
    for (size_t i = 0; i < words.size(); ++i)
        if ((*simple_words)[i] != words[i])
            for (const auto& r : std::vector<std::string>(words_[words[i]])) add_unique(words_[(*simple_words)[i]], r);
    for (const auto& [w, r] : words_) {
        size_t last = w.size() - 1;
        while (last > 0 && (static_cast<unsigned char>(w[last]) & 0xC0) == 0x80) --last;
        word_ends_.insert(w.substr(last));
    }
    return status::success();
}

std::vector<std::string> pinyin_table::end_readings(const std::vector<std::string>& chars, text_script script) const {
    if (chars.empty()) return {};
    for (size_t n = std::min<size_t>(4, chars.size()); n >= 2; --n) {
        std::string w;
        for (size_t i = chars.size() - n; i < chars.size(); ++i) w += chars[i];
        if (const auto it = words_.find(w); it != words_.end()) return it->second;
    }
    if (script != text_script::traditional)
        if (const auto it = simplified_chars_.find(chars.back()); it != simplified_chars_.end()) return it->second;
    const auto it = chars_.find(chars.back());
    return it == chars_.end() ? std::vector<std::string>{} : it->second;
}

namespace {

// One entry of Festival's lexicon: ("word" pos (((ph ph) 1) ((ph) 0))) -> word and pronunciation.
bool parse_cmu_line(std::string_view line, std::string& word, pronunciation& p) {
    if (line.size() < 4 || line[0] != '(' || line[1] != '"') return false;
    const size_t q = line.find('"', 2);
    if (q == std::string_view::npos) return false;
    word.assign(line.substr(2, q - 2));
    for (char& c : word) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const size_t body = line.find("((", q);
    if (body == std::string_view::npos) return false;
    std::vector<std::pair<std::string, char>> syllables;  // (phones, stress)
    size_t at = body + 1;
    while ((at = line.find("((", at)) != std::string_view::npos) {
        const size_t close = line.find(')', at);
        if (close == std::string_view::npos || close + 2 >= line.size()) return false;
        syllables.emplace_back(std::string(line.substr(at + 2, close - at - 2)), line[close + 2]);
        at = close;
    }
    if (syllables.empty()) return false;
    p.stress.clear();
    size_t last_stressed = 0;
    for (size_t i = 0; i < syllables.size(); ++i) {
        p.stress += syllables[i].second == '0' ? '0' : '1';
        if (syllables[i].second != '0') last_stressed = i;
    }
    if (p.stress.find('1') == std::string::npos) last_stressed = syllables.size() - 1;
    // The rhyme: the stressed syllable from its vowel (its onset consonants dropped) and all after.
    static constexpr std::string_view vowels[] = {"aa", "ae", "ah", "ao", "aw", "ax", "ay", "eh", "er",
                                                  "ey", "ih", "iy", "ow", "oy", "uh", "uw"};
    std::string first;  // the stressed syllable from its vowel on (its onset dropped)
    bool in_rhyme = false;
    size_t pos = 0;
    const std::string& syl = syllables[last_stressed].first;
    while (pos < syl.size()) {
        const size_t sp = std::min(syl.find(' ', pos), syl.size());
        const std::string phone = syl.substr(pos, sp - pos);
        in_rhyme = in_rhyme || std::find(std::begin(vowels), std::end(vowels), phone) != std::end(vowels);
        if (in_rhyme) first += (first.empty() ? "" : " ") + phone;
        pos = sp + 1;
    }
    p.rhyme = first;
    for (size_t i = last_stressed + 1; i < syllables.size(); ++i) p.rhyme += " " + syllables[i].first;
    // Unstressed schwa and the stressed ah are one vowel for rhyme (above / of, "ax" in Festival).
    for (size_t i = 0; (i = p.rhyme.find("ax", i)) != std::string::npos;) p.rhyme.replace(i, 2, "ah");
    return true;
}

}  // namespace

result<cmu_table> cmu_table::load(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return make_error(errc::io, fmt::format("cannot read the CMU pronouncing dictionary '{}' ({}) that English "
                                                "rhymes, syllables and metre need; install Debian's festlex-cmu "
                                                "(apt-get install festlex-cmu)",
                                                path, std::strerror(errno)));
    cmu_table t;
    std::string line, word;
    pronunciation p;
    while (std::getline(in, line))
        if (parse_cmu_line(line, word, p)) {
            auto& v = t.words_[word];
            if (std::none_of(v.begin(), v.end(), [&](const pronunciation& q) { return q.rhyme == p.rhyme && q.stress == p.stress; }))
                v.push_back(p);
        }
    if (t.words_.size() < 10000)
        return make_error(errc::format, fmt::format("'{}' holds {} words, not the CMU dictionary in Festival's format; "
                                                    "reinstall festlex-cmu",
                                                    path, t.words_.size()));
    return t;
}

const std::vector<pronunciation>* cmu_table::find(std::string_view lower_word) const {
    const auto it = words_.find(std::string(lower_word));
    return it == words_.end() ? nullptr : &it->second;
}

uint32_t estimate_syllables(std::string_view w) {
    const auto vowel = [&](size_t i) {
        const char c = w[i];
        return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u' || (c == 'y' && i > 0);
    };
    uint32_t groups = 0;
    for (size_t i = 0; i < w.size(); ++i)
        if (vowel(i) && (i == 0 || !vowel(i - 1))) ++groups;
    const size_t n = w.size();
    const bool silent_e = n >= 3 && w[n - 1] == 'e' && !vowel(n - 2) && !(w[n - 2] == 'l' && !vowel(n - 3));
    if (silent_e && groups > 1) --groups;
    return std::max<uint32_t>(groups, 1);
}

result<rhyme_system> parse_rhyme_system(std::string_view name) {
    if (name == "十三辙" || name == "十三轍" || name == "shisanzhe") return rhyme_system::shisanzhe;
    if (name == "新韵" || name == "新韻" || name == "中华新韵" || name == "中華新韻" || name == "xinyun")
        return rhyme_system::xinyun;
    if (name == "平水韵" || name == "平水韻" || name == "pingshui") return rhyme_system::pingshui;
    if (name == "english") return rhyme_system::english;
    if (name == "english-loose") return rhyme_system::english_loose;
    return make_error(errc::usage, fmt::format("--rhyme-system '{}' is not a rhyme system; use 十三辙 (shisanzhe), "
                                               "新韵 (xinyun), 平水韵 (pingshui), english or english-loose (eye "
                                               "rhymes too), or auto",
                                               name));
}

std::string to_string(rhyme_system s) {
    switch (s) {
        case rhyme_system::shisanzhe: return "十三辙";
        case rhyme_system::xinyun: return "新韵";
        case rhyme_system::pingshui: return "平水韵";
        case rhyme_system::english: return "english";
        case rhyme_system::english_loose: return "english-loose";
    }
    return "?";
}

}  // namespace charlm
