// The per-step constraint of one part of a lyric (see lyric_impl.h). Word boundaries on a
// character model: a word is a run of letters and apostrophes; it ends when a space, punctuation
// or the newline is drawn, and only then are its syllables counted (a partial word is not
// counted: a letter is allowed while the line has syllables left). Lines hold at most 64
// syllables or characters and 400 tokens.
// Not here: sampling and backing up (lyric_generate.cpp), the readings (lyric_rhyme.cpp).
#include <fmt/core.h>

#include <algorithm>

#include "sample/lyric_impl.h"
#include "sample/poem_impl.h"

namespace charlm::lyric {

namespace {

constexpr uint32_t max_line_tokens = 400, max_trailing = 2, max_word_letters = 24;

constraint::kind kind_of(std::string_view t) {
    if (t == "\n") return constraint::newline_token;
    if (poem::is_han(t)) return constraint::han;
    if (is_word_char(t)) return constraint::letter;
    if (t == " ") return constraint::space;
    static constexpr std::string_view marks[] = {",", ".", "!", "?", ";", ":", "-", "\"", "“", "”", "—", "…"};
    return std::find(std::begin(marks), std::end(marks), t) != std::end(marks) ? constraint::punct : constraint::other;
}

}  // namespace

result<constraint> constraint::make(const vocabulary& vocab, uint32_t newline, const lyric_shape& shape,
                                    const rhyme_book& book) {
    constraint c;
    c.shape_ = shape;
    c.book_ = &book;
    c.english_ = is_english(shape.system);
    c.lines_ = shape.lines;
    c.newline_ = newline;
    c.kind_.assign(vocab.size(), other);
    c.token_.resize(vocab.size());
    c.lower_.assign(1, std::string());
    uint32_t usable = 0, spaces = 0;
    for (uint32_t id = 1; id < vocab.size(); ++id) {
        c.token_[id] = vocab.token(id);
        c.kind_[id] = kind_of(c.token_[id]);
        c.lower_.push_back(lower_end(c.token_[id]));
        usable += c.kind_[id] == (c.english_ ? letter : han);
        spaces += c.kind_[id] == space;
    }
    if (!c.english_) {
        c.han_classes_.resize(vocab.size());
        c.context_matters_.assign(vocab.size(), 0);
        for (uint32_t id = 1; id < vocab.size(); ++id)
            if (c.kind_[id] == han) {
                c.han_classes_[id] = book.han_end({c.token_[id]});
                c.context_matters_[id] = book.context_matters(c.token_[id]);
            }
    }
    // Letters of one repetition rhyme apart: a Chinese system has only so many classes.
    std::string recurring;
    for (uint32_t i = 0; i < std::min<uint32_t>(c.lines_, static_cast<uint32_t>(shape.scheme.size())); ++i)
        if (shape.rhymed(i, c.lines_) && recurring.find(shape.scheme[i]) == std::string::npos) recurring += shape.scheme[i];
    const size_t classes = shape.system == rhyme_system::pingshui ? 30 : modern_class_names(shape.system).size();
    if (!c.english_ && recurring.size() > classes)
        return make_error(errc::usage, fmt::format("--rhyme-scheme {} asks for {} different rhymes at once, and {} has "
                                                   "{} classes; use fewer letters",
                                                   shape.scheme, recurring.size(), to_string(shape.system), classes));
    if (usable < 16 || (c.english_ && spaces == 0))
        return make_error(errc::input, fmt::format("the model knows {} {}{}: train it on {} lyrics", usable,
                                                   c.english_ ? "letters" : "Han characters",
                                                   c.english_ && spaces == 0 ? " and no space" : "",
                                                   c.english_ ? "English" : "Chinese"));
    return c;
}

uint32_t constraint::target(const state& s) const {
    if (!english_) return shape_.max_length ? shape_.max_length : lyric_shape::max_line_length;
    const uint32_t t = shape_.syllables_at(s.line);
    return t ? t : lyric_shape::max_line_length;
}

bool constraint::chinese_end_fits(const state& s, const std::vector<std::string>& chars) const {
    if (!shape_.rhymed(s.line, lines_)) return true;
    return !chars.empty() && fits_end(s.rhymes, shape_.letter(s.line), book_->han_end(chars), chars.back()) == end_fit::ok;
}

void constraint::next_chinese(const state& s, std::vector<uint8_t>& allowed) const {
    const uint32_t max = target(s), min = std::max<uint32_t>(shape_.min_length, 1);
    if (s.length >= min && chinese_end_fits(s, s.tail)) allowed[newline_] = 1;
    if (s.length >= max) return;
    const bool last = s.length + 1 == max && shape_.rhymed(s.line, lines_);
    std::vector<std::string> chars(s.tail.end() - std::min<size_t>(3, s.tail.size()), s.tail.end());
    chars.emplace_back();
    const uint32_t letter = shape_.letter(s.line);
    for (uint32_t id = 1; id < kind_.size(); ++id) {
        if (kind_[id] != han) continue;
        if (!last) {
            allowed[id] = 1;
            continue;
        }
        chars.back() = token_[id];  // a character no word settles is read the same after anything
        allowed[id] = context_matters_[id] ? chinese_end_fits(s, chars)
                                           : fits_end(s.rhymes, letter, han_classes_[id], token_[id]) == end_fit::ok;
    }
}

constraint::word_end constraint::finish_word(const state& s) const {
    word_end e;
    e.reading = book_->word(s.word);
    const word_reading& r = e.reading;
    const uint32_t len = s.length + r.syllables, want = shape_.syllables_at(s.line);
    const bool metre = shape_.metre == meter::off || r.estimated || iambic_fits(r.stress, s.length + 1);
    if (!metre || r.syllables == 0 || (in_zone(s) && r.estimated)) return e;
    e.mid = len < target(s);
    const bool rhyme = !shape_.rhymed(s.line, lines_) || english_end_fits(s, r, rhyme_book::spelling(s.word));
    e.close = (want == 0 || len == want) && rhyme;
    return e;
}

// Inside a line: word, then one mark at most and a space, then the next word; the word that
// completes the syllables is followed only by marks (at most 2) and the newline.
void constraint::next_english(const state& s, std::vector<uint8_t>& allowed) const {
    const auto allow = [&](kind k) {
        for (uint32_t id = 1; id < kind_.size(); ++id)
            if (kind_[id] == k) allowed[id] = 1;
    };
    if (s.closed) {
        allowed[newline_] = 1;
        if (s.after < max_trailing) allow(punct);
        return;
    }
    if (!s.word.empty()) {
        const word_end e = finish_word(s);
        if (e.mid) allow(space);
        if (e.mid || e.close) allow(punct);
        if (e.close) allowed[newline_] = 1;
        if (in_zone(s)) allow_zone_letters(s, allowed);
        else if (s.word.size() < max_word_letters) allow(letter);
        return;
    }
    if (s.last_space || s.tokens == 0) {
        if (in_zone(s)) allow_zone_letters(s, allowed);
        else allow(letter);
        return;
    }
    allow(space);  // after a mark
    if (s.end_ok && shape_.syllables_at(s.line) == 0) allowed[newline_] = 1;
}

bool constraint::in_zone(const state& s) const {
    const uint32_t want = shape_.syllables_at(s.line);
    return want != 0 && want - s.length <= zone_syllables;
}

bool constraint::fits_zone(const state& s, const word_reading& r, std::string_view word) const {
    const uint32_t left = shape_.syllables_at(s.line) - s.length;
    if (r.syllables > left || (shape_.metre == meter::iambic && !iambic_fits(r.stress, s.length + 1))) return false;
    if (r.syllables < left || !shape_.rhymed(s.line, lines_)) return true;
    return english_end_fits(s, r, word);
}

bool constraint::english_end_fits(const state& s, const word_reading& r, std::string_view word) const {
    const uint32_t letter = shape_.letter(s.line);
    if (r.estimated || fits_end(s.rhymes, letter, r.rhymes, word) != end_fit::ok) return false;
    if (letter < s.rhymes.started.size() && s.rhymes.started[letter]) return true;
    return std::any_of(r.rhymes.begin(), r.rhymes.end(), [&](uint32_t c) { return book_->class_words(c) >= min_rhyme_words; });
}

// A letter is allowed when the word it makes is the start of a dictionary word that fits. The
// words a prefix can become are one range of the sorted dictionary; once a next letter is known to
// fit, the search jumps past the rest of its words. A line answering an earlier rhyme looks for
// its last word only among the words of that rhyme (the classes' own lists), and for the words
// before it (fewer syllables than are left) without the rhyme.
void constraint::allow_zone_letters(const state& s, std::vector<uint8_t>& allowed) const {
    const auto& dict = book_->dictionary();
    const std::string prefix = lower_end(s.word);
    std::vector<uint8_t> next_letter(256, 0);  // by the byte after the prefix
    const uint32_t rhyme_letter = shape_.letter(s.line), left = shape_.syllables_at(s.line) - s.length;
    const bool answering = shape_.rhymed(s.line, lines_) && rhyme_letter < s.rhymes.started.size() &&
                           s.rhymes.started[rhyme_letter];
    const auto metre = [&](const word_reading& r) {
        return shape_.metre == meter::off || iambic_fits(r.stress, s.length + 1);
    };
    // Words of `range` (indices into the dictionary, in spelling order) that `fits`.
    const auto scan = [&](auto begin, auto end, auto word_of, auto fits) {
        auto it = std::lower_bound(begin, end, prefix, [&](const auto& x, const std::string& p) { return word_of(x) < p; });
        while (it != end && word_of(*it).starts_with(prefix)) {
            const std::string& w = word_of(*it);
            const auto c = w.size() > prefix.size() ? static_cast<unsigned char>(w[prefix.size()]) : 0;
            if (c != 0 && !next_letter[c] && fits(*it)) next_letter[c] = 1;
            if (c == 0 || !next_letter[c]) {
                ++it;
                continue;
            }
            const std::string after = prefix + static_cast<char>(c + 1);
            it = std::lower_bound(it, end, after, [&](const auto& x, const std::string& p) { return word_of(x) < p; });
        }
    };
    const auto entry_word = [](const rhyme_book::entry& e) -> const std::string& { return e.word; };
    if (!answering) {
        scan(dict.begin(), dict.end(), entry_word, [&](const rhyme_book::entry& e) { return fits_zone(s, e.reading, e.word); });
    } else {
        if (left > 1)
            scan(dict.begin(), dict.end(), entry_word,
                 [&](const rhyme_book::entry& e) { return e.reading.syllables < left && metre(e.reading); });
        const auto index_word = [&](uint32_t i) -> const std::string& { return dict[i].word; };
        for (uint32_t c : s.rhymes.common[rhyme_letter]) {
            const auto& members = book_->class_members(c);
            scan(members.begin(), members.end(), index_word,
                 [&](uint32_t i) { return dict[i].reading.syllables == left && fits_zone(s, dict[i].reading, dict[i].word); });
        }
    }
    for (uint32_t id = 1; id < kind_.size(); ++id)
        if (kind_[id] == letter && lower_[id].size() == 1) allowed[id] = next_letter[static_cast<unsigned char>(lower_[id][0])];
}

int32_t constraint::next(const state& s, std::vector<uint8_t>& allowed) const {
    CHARLM_ASSERT(!done(s));
    allowed.assign(kind_.size(), 0);
    if (s.tokens >= max_line_tokens) return -1;
    if (english_) {
        if (s.closed && s.after >= max_trailing) return static_cast<int32_t>(newline_);
        next_english(s, allowed);
    } else {
        next_chinese(s, allowed);
    }
    return -1;
}

void constraint::advance(state& s, uint32_t token) const {
    CHARLM_ASSERT(!done(s) && token < kind_.size());
    const kind k = static_cast<kind>(kind_[token]);
    ++s.tokens;
    s.last_space = k == space;
    if (k == letter && english_) {
        s.word += token_[token];
        s.after = 0;
        return;
    }
    if (english_ && !s.word.empty()) {  // a word ends
        const word_end e = finish_word(s);
        s.length += e.reading.syllables;
        s.end_ok = e.close;
        s.end = e.reading.estimated ? rhyme_classes{} : e.reading.rhymes;
        s.end_word = rhyme_book::spelling(s.word);
        s.closed = e.close && shape_.syllables_at(s.line) != 0;
        s.word.clear();
    }
    if (k == han) {
        s.tail.push_back(token_[token]);
        ++s.length;
        return;
    }
    if (k != newline_token) {
        ++s.after;
        return;
    }
    if (shape_.rhymed(s.line, lines_))
        add_end(s.rhymes, shape_.letter(s.line), english_ ? s.end : book_->han_end(s.tail),
                english_ ? s.end_word : s.tail.back());
    state next_line;
    next_line.line = s.line + 1;
    next_line.rhymes = std::move(s.rhymes);
    s = std::move(next_line);
}

}  // namespace charlm::lyric
