// Internals shared by the lyric checker and the lyric sampler: the one metre rule and the one
// rule of which earlier rhymes a line's end must (or must not) share.
// Not here: the readings (lyric_readings.cpp, lyric_rhyme.cpp).
#pragma once

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "charlm/lyrics.hpp"

namespace charlm::lyric {

// Iambic: the stressed syllables of a word of two or more syllables stand on even positions of the
// line (1-based); monosyllables and estimated words are free, as metrists count them.
// `stress` is the word's ('1'/'0' per syllable), `first` the line position of its first syllable.
inline bool iambic_fits(std::string_view stress, uint32_t first) {
    if (stress.size() < 2) return true;
    for (uint32_t i = 0; i < stress.size(); ++i)
        if (stress[i] == '1' && (first + i) % 2 == 1) return false;
    return true;
}

// The rhymes of a stanza so far: per letter, the classes all its lines share (empty vector and
// started false before its first line) and its lines' end words; which letter of each repetition
// of the scheme holds each class (letters of one repetition rhyme apart: a class is in at most one
// of their sets, as a letter whose first end shares a class with another's is refused and sets
// only narrow), so that a line is checked in the time of its own classes. Letter ids are
// scheme letter + 26 x repetition (lyric_shape::letter).
struct rhyme_state {
    std::vector<rhyme_classes> common;
    std::vector<uint8_t> started;
    std::vector<std::vector<std::string>> ends;  // per letter, its lines' end words (lower case)
    std::unordered_map<uint64_t, uint32_t> owner;  // (repetition, class) -> the letter whose set holds it
};

inline uint64_t owner_key(uint32_t letter, uint32_t c) { return static_cast<uint64_t>(letter / 26) << 32 | c; }

// A word is not its own rhyme: an end repeated within a letter (love / love) is refused.
enum class end_fit { ok, no_reading, no_rhyme, same_as_other, repeated };

inline std::string lower_end(std::string_view end) {
    std::string out(end);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// Whether a line of `letter` (a letter that recurs) may end in `classes`: a reading, one of the
// classes its letter's earlier lines share, not a word they ended in, and (on the letter's first
// line) no class that another letter holds. `other` receives the letter it clashes with.
inline end_fit fits_end(const rhyme_state& r, uint32_t letter, const rhyme_classes& classes, std::string_view end,
                        uint32_t* other = nullptr) {
    if (classes.empty()) return end_fit::no_reading;
    if (letter < r.started.size() && r.started[letter]) {
        const auto& ends = r.ends[letter];
        if (std::find(ends.begin(), ends.end(), lower_end(end)) != ends.end()) return end_fit::repeated;
        return share_class(r.common[letter], classes) ? end_fit::ok : end_fit::no_rhyme;
    }
    for (uint32_t c : classes)
        if (const auto it = r.owner.find(owner_key(letter, c)); it != r.owner.end()) {
            if (other) *other = it->second;
            return end_fit::same_as_other;
        }
    return end_fit::ok;
}

// Adds a line's end (one fits_end allowed) to its letter.
inline void add_end(rhyme_state& r, uint32_t letter, const rhyme_classes& classes, std::string_view end) {
    if (letter >= r.started.size()) {
        r.started.resize(letter + 1, 0);
        r.common.resize(letter + 1);
        r.ends.resize(letter + 1);
    }
    r.ends[letter].push_back(lower_end(end));
    const rhyme_classes now = r.started[letter] ? common_classes(r.common[letter], classes) : classes;
    for (uint32_t c : r.common[letter])
        if (!std::binary_search(now.begin(), now.end(), c)) r.owner.erase(owner_key(letter, c));
    for (uint32_t c : now) r.owner[owner_key(letter, c)] = letter;
    r.common[letter] = now;
    r.started[letter] = 1;
}

// Which tokens may come next in one part (stanza) of a lyric: Han characters inside a Chinese
// line, the newline only where the line has its length and an end that rhymes as the scheme says
// (a rhyming line's last position takes only characters that rhyme); English words of letters
// and apostrophes between spaces and punctuation, a word's syllables (the dictionary's, or the
// estimate) counted when a space, punctuation or the newline ends it, which is allowed only when
// the word fits the syllables left, the metre, and (closing the line) the rhyme. The state is
// small and copyable: the sampler keeps copies to back up to.
class constraint {
public:
    enum kind : uint8_t { other, han, letter, space, punct, newline_token };
    struct state {
        uint32_t line = 0;
        uint32_t length = 0;            // Han characters, or syllables of the line's finished words
        uint32_t tokens = 0;            // tokens of the line so far
        std::vector<std::string> tail;  // Chinese: the line's characters
        std::string word;               // English: the word being written
        uint32_t after = 0;             // English: tokens since the last letter
        bool last_space = false;        // the last token was a space
        bool closed = false;            // English: the syllables are complete; punctuation, then the newline
        bool end_ok = false;            // English: the last finished word may end the line
        rhyme_classes end;              // English: that word's rhymes
        std::string end_word;           // English: that word
        rhyme_state rhymes;
    };

    static result<constraint> make(const vocabulary& vocab, uint32_t newline, const lyric_shape& shape,
                                   const rhyme_book& book);
    state start() const { return {}; }
    bool done(const state& s) const { return s.line >= lines_; }
    // The token the shape fixes next, or -1 after setting allowed (V) to 1 for the tokens that keep it
    // (none: a dead end, back up).
    int32_t next(const state& s, std::vector<uint8_t>& allowed) const;
    void advance(state& s, uint32_t token) const;
    bool english() const { return english_; }
    const lyric_shape& shape() const { return shape_; }

private:
    struct word_end {
        bool mid = false, close = false;  // may go on in the line / may end it
        word_reading reading;
    };
    word_end finish_word(const state& s) const;
    // The last syllables of a line (at most zone_syllables left when a word begins): only
    // dictionary words, and of those only the ones that fit what is left (fewer syllables and the
    // metre, or exactly the rest, the metre and the rhyme), so the line's end is looked ahead.
    static constexpr uint32_t zone_syllables = 3;
    bool in_zone(const state& s) const;
    // English: the first line of a rhyming letter ends only in a word with a rhyme that at least
    // this many dictionary words share, so that the lines answering it have words to choose from
    // (a preference of the sampler, not a rule the checker holds lyrics to).
    static constexpr uint32_t min_rhyme_words = 40;
    bool english_end_fits(const state& s, const word_reading& r, std::string_view word) const;
    bool fits_zone(const state& s, const word_reading& r, std::string_view word) const;
    void allow_zone_letters(const state& s, std::vector<uint8_t>& allowed) const;
    bool chinese_end_fits(const state& s, const std::vector<std::string>& chars) const;
    uint32_t target(const state& s) const;
    void next_chinese(const state& s, std::vector<uint8_t>& allowed) const;
    void next_english(const state& s, std::vector<uint8_t>& allowed) const;

    lyric_shape shape_;
    const rhyme_book* book_ = nullptr;
    bool english_ = false;
    uint32_t lines_ = 0, newline_ = 0;
    std::vector<uint8_t> kind_;       // (V)
    std::vector<std::string> token_;  // (V)
    std::vector<std::string> lower_;  // (V) letters in lower case
    std::vector<rhyme_classes> han_classes_;  // (V) Chinese: a character's classes whatever comes before
    std::vector<uint8_t> context_matters_;    // (V) ... unless a word may settle them
};

}  // namespace charlm::lyric
