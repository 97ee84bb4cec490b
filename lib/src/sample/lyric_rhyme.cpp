// The rhyme book of one system (the class of a line's end, by character or word), the lyric's
// shape (scheme letters, lengths, syllables) and the options that give it.
// English rhyme ids are the CMU rhymes ("ah v"); with english-loose each word also gets its eye
// rhyme ("~ove": the spelling from its last vowel letters on, a silent final e kept), so love and
// move rhyme there and not in strict english.
// Not here: the dictionaries' formats (lyric_readings.cpp), checking and sampling.
#include <fmt/core.h>
#include <unicode/uchar.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <charconv>

#include "charlm/lyrics.hpp"
#include "charlm/options.hpp"
#include "sample/poem_impl.h"

namespace charlm {

bool share_class(const rhyme_classes& a, const rhyme_classes& b) {
    for (uint32_t x : a)
        if (std::binary_search(b.begin(), b.end(), x)) return true;
    return false;
}

rhyme_classes common_classes(const rhyme_classes& a, const rhyme_classes& b) {
    rhyme_classes out;
    std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
    return out;
}

namespace {

bool vowel_letter(std::string_view w, size_t i) {
    const char c = w[i];
    return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u' || (c == 'y' && i > 0);
}

// "~" + the spelling from the last vowel group on; a final e after a consonant does not count as
// that group (love -> ~ove, day -> ~ay).
std::string eye_key(std::string_view w) {
    size_t end = w.size();
    if (end >= 3 && w[end - 1] == 'e' && !vowel_letter(w, end - 2)) --end;
    size_t i = end;
    while (i > 0 && !vowel_letter(w, i - 1)) --i;
    while (i > 0 && vowel_letter(w, i - 1)) --i;
    return std::string(1, '~').append(w.substr(i));
}

// The dictionary's spelling: lower case, ’ as ', apostrophes at either end dropped (quotes, not
// part of the word); one inside stays (Festival's CMU has no contractions, so "I'm" is not "im").
// The one reading of a word's letters for the checker and the sampler alike.
std::string lower_word(std::string_view w) {
    std::string out;
    for (size_t i = 0; i < w.size(); ++i) {
        if (w.substr(i).starts_with("’")) {
            out += '\'';
            i += std::string_view("’").size() - 1;
            continue;
        }
        out += static_cast<char>(std::tolower(static_cast<unsigned char>(w[i])));
    }
    const size_t first = out.find_first_not_of('\'');
    if (first == std::string::npos) return {};
    return out.substr(first, out.find_last_not_of('\'') - first + 1);
}

// Every dictionary word's rhyme ids (and eye rhyme ids when loose), and the ids' names.
void index_rhymes(const cmu_table& cmu, bool loose, std::unordered_map<std::string, rhyme_classes>& words,
                  std::vector<std::string>& names) {
    std::unordered_map<std::string, uint32_t> ids;
    const auto id_of = [&](const std::string& key) {
        auto [it, added] = ids.emplace(key, static_cast<uint32_t>(names.size()));
        if (added) names.push_back(key);
        return it->second;
    };
    for (const auto& [w, prons] : cmu.words()) {
        rhyme_classes& r = words[w];
        for (const auto& p : prons) r.push_back(id_of(p.rhyme));
        if (loose) r.push_back(id_of(eye_key(w)));
        std::sort(r.begin(), r.end());
        r.erase(std::unique(r.begin(), r.end()), r.end());
    }
}

}  // namespace

status rhyme_book::load_english(const std::string& path) {
    auto cmu = cmu_table::load(path);
    if (!cmu) return cmu.err();
    auto words = std::make_shared<std::unordered_map<std::string, rhyme_classes>>();
    auto names = std::make_shared<std::vector<std::string>>();
    index_rhymes(*cmu, system_ == rhyme_system::english_loose, *words, *names);
    cmu_ = std::make_shared<const cmu_table>(std::move(*cmu));
    word_rhymes_ = std::move(words);
    key_names_ = std::move(names);
    auto dictionary = std::make_shared<std::vector<entry>>();
    for (const auto& [w, prons] : cmu_->words())
        if (std::all_of(w.begin(), w.end(), [](char c) { return (c >= 'a' && c <= 'z') || c == '\''; }))
            dictionary->push_back({w, word(w)});
    std::sort(dictionary->begin(), dictionary->end(), [](const entry& a, const entry& b) { return a.word < b.word; });
    auto members = std::make_shared<std::vector<std::vector<uint32_t>>>(key_names_->size());
    for (uint32_t i = 0; i < dictionary->size(); ++i)
        for (uint32_t c : (*dictionary)[i].reading.rhymes) (*members)[c].push_back(i);
    dictionary_ = std::move(dictionary);
    class_members_ = std::move(members);
    return status::success();
}

status rhyme_book::load_chinese(const paths& p) {
    if (system_ == rhyme_system::pingshui) {
        auto t = prosody_table::load(p.middle_chinese);
        if (!t) return t.err();
        middle_ = std::make_shared<const prosody_table>(std::move(*t));
        return status::success();
    }
    auto t = pinyin_table::load(p.pinyin);
    if (!t) return t.err();
    pinyin_ = std::make_shared<const pinyin_table>(std::move(*t));
    return status::success();
}

result<rhyme_book> rhyme_book::load(rhyme_system s, const paths& p, text_script script) {
    rhyme_book b;
    b.system_ = s;
    b.script_ = script;
    CHARLM_TRY(is_english(s) ? b.load_english(p.cmu) : b.load_chinese(p));
    return b;
}

std::string rhyme_book::spelling(std::string_view w) { return lower_word(w); }

rhyme_classes rhyme_book::han_end(const std::vector<std::string>& chars) const {
    rhyme_classes out;
    if (chars.empty() || !poem::is_han(chars.back())) return out;
    if (middle_) {
        if (const auto* e = middle_->find(chars.back(), script_))
            for (size_t g = 0; g < max_rhyme_groups; ++g)
                if (e->level_rhymes.test(g)) out.push_back(static_cast<uint32_t>(g));
        return out;
    }
    CHARLM_ASSERT(pinyin_ != nullptr);
    for (const auto& syllable : pinyin_->end_readings(chars, script_))
        if (const int c = modern_class(syllable, system_); c >= 0) out.push_back(static_cast<uint32_t>(c));
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

word_reading rhyme_book::word(std::string_view w) const {
    CHARLM_ASSERT(cmu_ != nullptr);
    word_reading r;
    const std::string lw = lower_word(w);
    const auto* prons = cmu_->find(lw);
    if (!prons || lw.empty()) {
        r.estimated = true;
        r.syllables = lw.empty() ? 0 : estimate_syllables(lw);
        return r;
    }
    r.stress = prons->front().stress;
    r.syllables = static_cast<uint32_t>(r.stress.size());
    r.rhymes = word_rhymes_->at(lw);
    return r;
}

std::string rhyme_book::class_name(uint32_t id) const {
    if (key_names_) return id < key_names_->size() ? (*key_names_)[id] : "?";
    if (middle_) return id < middle_->rhyme_count() ? middle_->rhyme_name(id) : "?";
    const auto& names = modern_class_names(system_);
    return id < names.size() ? names[id] : "?";
}

bool is_word_char(std::string_view token) {
    if (token.empty()) return false;
    if (token == "'" || token == "’") return true;
    int32_t i = 0;
    UChar32 c = 0;
    U8_NEXT(token.data(), i, static_cast<int32_t>(token.size()), c);
    return c >= 0 && u_isalpha(c) && !poem::is_han(token);
}

std::vector<std::string> english_words(std::string_view line) {
    std::vector<std::string> out;
    std::string cur;
    int32_t i = 0;
    const auto n = static_cast<int32_t>(line.size());
    while (i < n) {
        const int32_t start = i;
        UChar32 c = 0;
        U8_NEXT(line.data(), i, n, c);
        const std::string_view piece = line.substr(static_cast<size_t>(start), static_cast<size_t>(i - start));
        if (is_word_char(piece)) {
            cur += piece == "’" ? std::string_view("'") : piece;
            continue;
        }
        if (!cur.empty()) out.push_back(std::move(cur));
        cur.clear();
    }
    if (!cur.empty()) out.push_back(std::move(cur));
    for (auto& w : out) {  // quotes around a word are not part of it
        while (!w.empty() && w.front() == '\'') w.erase(0, 1);
        while (!w.empty() && w.back() == '\'') w.pop_back();
    }
    std::erase_if(out, [](const std::string& w) { return w.empty(); });
    return out;
}

// --- the shape

uint32_t lyric_shape::letter(uint32_t line) const {
    if (scheme.empty()) return UINT32_MAX;
    const auto n = static_cast<uint32_t>(scheme.size());
    return static_cast<uint32_t>(scheme[line % n] - 'A') + 26 * (line / n);
}

bool lyric_shape::rhymed(uint32_t line, uint32_t total_lines) const {
    if (scheme.empty()) return false;
    const auto m = static_cast<uint32_t>(scheme.size());
    const uint32_t begin = line / m * m, end = std::min(total_lines, begin + m);
    for (uint32_t i = begin; i < end; ++i)
        if (i != line && scheme[i - begin] == scheme[line - begin]) return true;
    return false;
}

status parse_line_length(std::string_view spec, uint32_t& lo, uint32_t& hi) {
    const auto bad = [&] {
        return make_error(errc::usage, fmt::format("--line-length '{}' is not a length: use N or MIN-MAX Han "
                                                   "characters per line, 1 to {} (e.g. 7 or 6-10)",
                                                   spec, lyric_shape::max_line_length));
    };
    const auto number = [&](std::string_view s, uint32_t& out) {
        auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
        return ec == std::errc() && end == s.data() + s.size() && out >= 1 && out <= lyric_shape::max_line_length;
    };
    const size_t dash = spec.find('-');
    if (dash == std::string_view::npos) {
        if (!number(spec, lo)) return bad();
        hi = lo;
        return status::success();
    }
    if (!number(spec.substr(0, dash), lo) || !number(spec.substr(dash + 1), hi) || lo > hi) return bad();
    return status::success();
}

result<std::vector<uint32_t>> parse_syllables(std::string_view spec) {
    auto list = parse_id_list(spec);
    bool ok = list && list->size() <= lyric_shape::max_lines;
    for (uint32_t n : ok ? *list : std::vector<uint32_t>{}) ok = ok && n >= 1 && n <= lyric_shape::max_line_length;
    if (!ok)
        return make_error(errc::usage, fmt::format("--syllables '{}' is not a count of syllables: use N or a list "
                                                   "N1,N2,... (each 1 to {}), repeated over the lines",
                                                   spec, lyric_shape::max_line_length));
    return list;
}

// --- the options

namespace {

// "ABAB CDCD EFEF GG" -> "ABABCDCDEFEFGG"; letters only (either case).
result<std::string> parse_scheme(std::string_view spec) {
    std::string out;
    for (char c : spec) {
        if (c == ' ') continue;
        if (!std::isalpha(static_cast<unsigned char>(c)))
            return make_error(errc::usage, fmt::format("--rhyme-scheme '{}': use letters as in poetry (AABB, ABAB, "
                                                       "ABCB, AAAA, ABAB CDCD EFEF GG); '{}' is not a letter",
                                                       spec, c));
        out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    if (out.empty() || out.size() > lyric_shape::max_lines)
        return make_error(errc::usage, fmt::format("--rhyme-scheme '{}' must have 1 to {} letters", spec,
                                                   lyric_shape::max_lines));
    return out;
}

}  // namespace

std::vector<std::string> lyric_config::parts() const {
    std::vector<std::string> out;
    size_t at = 0;
    while (!structure.empty() && at <= structure.size()) {
        const size_t comma = std::min(structure.find(',', at), structure.size());
        std::string part = structure.substr(at, comma - at);  // spaces around a name are not part of it
        part.erase(0, std::min(part.find_first_not_of(' '), part.size()));
        part.erase(part.find_last_not_of(' ') + 1);
        out.push_back(std::move(part));
        at = comma + 1;
    }
    if (out.empty()) out.emplace_back("verse");
    return out;
}

status lyric_config::validate() const {
    if (!active() && !checking) {
        if (!line_length.empty() || !syllables.empty() || meter != "off" || labels)
            return make_error(errc::usage, "--line-length, --syllables, --meter and --labels shape lyrics: they need "
                                           "--rhyme-scheme, --lines or --structure");
        return status::success();
    }
    if (lines > lyric_shape::max_lines)
        return make_error(errc::usage, fmt::format("--lines must be at most {}", lyric_shape::max_lines));
    if (rhyme_scheme.empty() && lines == 0 && !checking)
        return make_error(errc::usage, "lyrics need --lines N or a --rhyme-scheme (whose letters count the lines)");
    if (rhyme_system != "auto")
        if (auto s = parse_rhyme_system(rhyme_system); !s) return s.err();
    if (meter != "off" && meter != "iambic")
        return make_error(errc::usage, fmt::format("--meter '{}': use off or iambic", meter));
    const auto p = parts();
    if (p.size() > 32) return make_error(errc::usage, "--structure has more than 32 parts");
    for (const auto& name : p)
        if (name.empty() || name.size() > 32 || name.find_first_of("[]\n") != std::string::npos)
            return make_error(errc::usage, fmt::format("--structure '{}': parts are names separated by commas, e.g. "
                                                       "verse,chorus,verse,chorus,bridge,chorus",
                                                       structure));
    return status::success();
}

result<lyric_shape> lyric_config::shape(bool english) const {
    CHARLM_TRY(validate());
    lyric_shape s;
    if (!rhyme_scheme.empty()) {
        auto scheme = parse_scheme(rhyme_scheme);
        if (!scheme) return scheme.err();
        s.scheme = std::move(*scheme);
    }
    s.lines = lines ? lines : static_cast<uint32_t>(s.scheme.size());
    auto system = rhyme_system == "auto" ? result<charlm::rhyme_system>(english ? rhyme_system::english
                                                                                : rhyme_system::shisanzhe)
                                         : parse_rhyme_system(rhyme_system);
    if (!system) return system.err();
    s.system = *system;
    if (is_english(s.system) != english)
        return make_error(errc::usage, fmt::format("--rhyme-system {} is for {} text, and the model writes {}",
                                                   to_string(s.system), english ? "Chinese" : "English",
                                                   english ? "English" : "Chinese"));
    if (english && !line_length.empty())
        return make_error(errc::usage, "--line-length counts Han characters; an English model's lines are counted "
                                       "in --syllables");
    if (!english && (!syllables.empty() || meter != "off"))
        return make_error(errc::usage, "--syllables and --meter are for English; a Chinese model's lines are "
                                       "counted with --line-length");
    if (!line_length.empty()) CHARLM_TRY(parse_line_length(line_length, s.min_length, s.max_length));
    if (!syllables.empty()) {
        auto syl = parse_syllables(syllables);
        if (!syl) return syl.err();
        s.syllables = std::move(*syl);
    }
    if (meter == "iambic" && s.syllables.empty())
        return make_error(errc::usage, "--meter iambic needs --syllables (e.g. 10 for pentameter)");
    s.metre = meter == "iambic" ? meter::iambic : meter::off;
    return s;
}

}  // namespace charlm
