// The per-step constraint of a poem: which tokens keep the form at the next position (Han
// characters inside a line, of the tone the patterns still allow, of the rhyme group at a rhyming
// line's end) and which token the form fixes (punctuation, newline, an acrostic head).
// Not here: sampling and backing up (poem_generate.cpp), the readings (poem_prosody.cpp).
#include <fmt/core.h>

#include <algorithm>

#include "sample/poem_impl.h"

namespace charlm {

namespace {

constexpr uint8_t opening_level = 1, opening_oblique = 2;  // the first line's tone at position 2

const char* tone_name(uint8_t tones) {
    return tones == tone_level ? "平" : tones == tone_oblique ? "仄" : tones == 0 ? "without a reading" : "平 or 仄";
}

}  // namespace

result<poem_marks> poem_marks::of(const vocabulary& vocab, const text_config& text) {
    poem_marks m;
    const std::pair<std::string_view, uint32_t*> wanted[] = {{"，", &m.comma}, {"。", &m.stop}, {"\n", &m.newline}};
    for (const auto& [mark, id] : wanted) {
        // The mark as the model's text settings write it (NFKC makes '，' a ',').
        auto tokens = segment_utf8(mark, text);
        const std::string token = tokens && tokens->size() == 1 ? tokens->front() : std::string(mark);
        const std::string shown = mark == "\n" ? "\\n" : std::string(mark);
        if (!vocab.contains(token))
            return make_error(errc::input,
                              fmt::format("the model's vocabulary has no '{}'{}, which every poem needs; train the "
                                          "model on poems written with '，' and '。', one couplet a line",
                                          token == "\n" ? "\\n" : token,
                                          token == mark ? std::string()
                                                        : fmt::format(" ('{}' after --normalize {})", shown,
                                                                      to_string(text.normalize))));
        *id = vocab.id(token);
    }
    return m;
}

result<poem_constraint> poem_constraint::make(const vocabulary& vocab, const poem_marks& marks, poem_form form,
                                              std::vector<fixed_char> fixed, rhyme_rule rhyme, tone_rule tones,
                                              const prosody_table* table, text_script script) {
    CHARLM_ASSERT(!form.lines.empty());
    if (tones != tone_rule::off && !form.regulated())
        return make_error(errc::usage, fmt::format("--tones needs regulated verse (五绝, 七绝, 五律 or 七律: 4 or 8 "
                                                   "lines of 5 or 7 characters), not --form {}",
                                                   form.name));
    CHARLM_ASSERT(table != nullptr || (tones == tone_rule::off && rhyme == rhyme_rule::off));

    poem_constraint c;
    c.form_ = std::move(form);
    c.rhyme_ = rhyme;
    c.tones_ = tones;
    c.comma_ = marks.comma;
    c.stop_ = marks.stop;
    c.newline_ = marks.newline;
    c.info_.resize(vocab.size());
    uint32_t han = 0;
    for (uint32_t id = 1; id < vocab.size(); ++id) {
        token_info& ti = c.info_[id];
        ti.han = poem::is_han(vocab.token(id));
        han += ti.han;
        if (table && ti.han)
            if (const auto* e = table->find(vocab.token(id), script)) {
                ti.tones = e->tones;
                ti.level_rhymes = e->level_rhymes;
            }
    }
    constexpr uint32_t min_han = 16;
    if (han < min_han)
        return make_error(errc::input, fmt::format("the model knows only {} Han characters (at least {} are needed to "
                                                   "write a poem); train it on Chinese poems",
                                                   han, min_han));
    c.make_plain_masks();
    CHARLM_TRY(c.set_fixed(vocab, std::move(fixed)));
    return c;
}

status poem_constraint::set_fixed(const vocabulary& vocab, std::vector<fixed_char> fixed, bool every_position) {
    fixed_ = std::move(fixed);
    fixed_rhymes_.clear();
    start_rhymes_.set();
    CHARLM_TRY(check_places(vocab));
    CHARLM_TRY(check_fixed_tones(vocab));
    CHARLM_TRY(check_positions(vocab, every_position));
    return check_fixed_rhymes(vocab);
}

const fixed_char* poem_constraint::fixed_at(uint32_t line, uint32_t pos) const {
    if (line >= fixed_index_.size() || pos >= fixed_index_[line].size() || fixed_index_[line][pos] < 0) return nullptr;
    return &fixed_[static_cast<size_t>(fixed_index_[line][pos])];
}

// Every fixed character inside the form, one per place, a Han character of the vocabulary.
status poem_constraint::check_places(const vocabulary& vocab) {
    auto& index = fixed_index_;
    index.clear();
    for (uint32_t n : form_.lines) index.emplace_back(n, -1);
    for (size_t i = 0; i < fixed_.size(); ++i) {
        const fixed_char& f = fixed_[i];
        CHARLM_ASSERT(f.id < vocab.size() && info_[f.id].han);
        if (f.line >= form_.lines.size())
            return make_error(errc::usage, fmt::format("{} '{}' would stand in line {}, but --form {} has {} lines",
                                                       f.what, vocab.token(f.id), f.line + 1, form_.name,
                                                       form_.lines.size()));
        if (f.pos >= form_.lines[f.line])
            return make_error(errc::usage, fmt::format("{} '{}' would stand at character {} of line {}, which has {}",
                                                       f.what, vocab.token(f.id), f.pos + 1, f.line + 1,
                                                       form_.lines[f.line]));
        int32_t& at = index[f.line][f.pos];
        if (at >= 0 && fixed_[static_cast<size_t>(at)].id != f.id)
            return make_error(errc::usage, fmt::format("{} '{}' and {} '{}' both need line {} character {}", f.what,
                                                       vocab.token(f.id), fixed_[static_cast<size_t>(at)].what,
                                                       vocab.token(fixed_[static_cast<size_t>(at)].id), f.line + 1,
                                                       f.pos + 1));
        at = static_cast<int32_t>(i);
    }
    return status::success();
}

bool poem_constraint::fixed_fits(uint16_t pattern, uint32_t line) const {
    for (uint32_t k = 0; k < fixed_index_[line].size(); ++k) {
        if (fixed_index_[line][k] < 0) continue;
        const uint8_t t = info_[fixed_[static_cast<size_t>(fixed_index_[line][k])].id].tones;
        if (t != 0 && !(t & ((pattern >> k & 1) ? tone_level : tone_oblique))) return false;
    }
    return true;
}

// The openings (平起, 仄起) whose patterns every line's fixed characters fit: the poem starts
// with those, so no fixed character is a dead end of the tones.
status poem_constraint::check_fixed_tones(const vocabulary& vocab) {
    start_openings_ = tones_ == tone_rule::off ? 0 : opening_level | opening_oblique;
    if (tones_ == tone_rule::off) return status::success();
    uint8_t openings = opening_level | opening_oblique;
    for (uint32_t line = 0; line < form_.lines.size(); ++line) {
        uint8_t fits = 0;
        for (uint16_t p : line_patterns(line, openings)) fits |= static_cast<uint8_t>(p >> 8);
        if (!fits) {
            std::string listed;
            const fixed_char* last = nullptr;
            for (uint32_t k = 0; k < fixed_index_[line].size(); ++k)
                if (const fixed_char* f = fixed_at(line, k)) {
                    listed += fmt::format("{}{}'{}' ({}, line {} character {})", listed.empty() ? "" : ", ",
                                          last && last->what == f->what ? "" : f->what + " ", vocab.token(f->id),
                                          tone_name(info_[f->id].tones), line + 1, k + 1);
                    last = f;
                }
            return make_error(errc::usage,
                              fmt::format("{}: no {} tone pattern allows that in line {} given the lines before it; "
                                          "use --tones {}or other characters",
                                          listed, to_string(tones_), line + 1,
                                          tones_ == tone_rule::strict ? "loose, --tones off " : "off "));
        }
        openings = fits;
    }
    start_openings_ = openings;
    return status::success();
}

// Whatever was written before, every position must have a token that fits (the fixed character,
// where there is one): else no backup can help, and the poem is refused before the first step.
status poem_constraint::check_positions(const vocabulary& vocab, bool every_position) const {
    std::vector<uint8_t> allowed;
    for (uint32_t line = 0; line < form_.lines.size(); ++line)
        for (uint32_t k = 0; k < form_.lines[line]; ++k) {
            if (!every_position && !fixed_at(line, k)) continue;
            state s = start();
            s.line = line;
            s.pos = k;
            s.patterns = line_patterns(line, s.openings);
            if (next(s, allowed) >= 0 || std::find(allowed.begin(), allowed.end(), 1) != allowed.end()) continue;
            const std::string need = rhymes_at(line) && k + 1 == form_.lines[line] ? "a level-tone rhyme"
                                     : first_end_unrhymed(line, k)
                                         ? "a character that may be 仄 (line 1 does not rhyme with --rhyme even; "
                                           "--rhyme=first makes it rhyme)"
                                         : "a character";
            if (const fixed_char* f = fixed_at(line, k))
                return make_error(errc::usage,
                                  fmt::format("{} '{}' (line {}) can never stand there: the form needs {} at line {} "
                                              "character {}, and '{}' is {}; use another character{}",
                                              f->what, vocab.token(f->id), line + 1, need, line + 1, k + 1,
                                              vocab.token(f->id), tone_name(info_[f->id].tones),
                                              rhyme_ == rhyme_rule::off ? "" : " or --rhyme off"));
            return make_error(errc::input,
                              fmt::format("the model's vocabulary has no character that fits line {} character {} of "
                                          "--form {} (it needs {}); relax --tones or --rhyme",
                                          line + 1, k + 1, form_.name, need));
        }
    return status::success();
}

// Fixed characters at rhyme positions must share a group and not repeat, which no backup can
// change either; the rhyme then starts in their common groups.
status poem_constraint::check_fixed_rhymes(const vocabulary& vocab) {
    start_rhymes_.set();
    fixed_rhymes_.clear();
    const fixed_char* before = nullptr;
    for (uint32_t line = 0; line < form_.lines.size(); ++line) {
        const fixed_char* f = rhymes_at(line) ? fixed_at(line, form_.lines[line] - 1) : nullptr;
        if (!f || !(info_[f->id].tones & tone_level)) continue;  // 仄 or unread: check_positions says why
        const bool repeat = std::find(fixed_rhymes_.begin(), fixed_rhymes_.end(), f->id) != fixed_rhymes_.end();
        if (before && (repeat || (start_rhymes_ & info_[f->id].level_rhymes).none()))
            return make_error(errc::usage,
                              fmt::format("{}{} '{}' (line {}) and {}'{}' (line {}) are rhymes, and they {}; use other "
                                          "characters or --rhyme off",
                                          before->what, before->what == f->what ? "s" : "", vocab.token(before->id),
                                          before->line + 1, before->what == f->what ? "" : f->what + " ",
                                          vocab.token(f->id), line + 1,
                                          repeat ? "repeat" : "share no rhyme group with the rhymes before"));
        start_rhymes_ &= info_[f->id].level_rhymes;
        fixed_rhymes_.push_back(f->id);
        before = f;
    }
    return status::success();
}

bool poem_constraint::first_end_unrhymed(uint32_t line, uint32_t k) const {
    return line == 0 && rhyme_ == rhyme_rule::even && k + 1 == form_.lines[0];
}

bool poem_constraint::rhymes_at(uint32_t line) const {
    if (rhyme_ == rhyme_rule::off) return false;
    return line % 2 == 1 || (line == 0 && rhyme_ == rhyme_rule::first_and_even);
}

std::vector<uint16_t> poem_constraint::line_patterns(uint32_t line, uint8_t openings) const {
    std::vector<uint16_t> out;
    if (tones_ == tone_rule::off) return out;
    const bool first_rhymed = rhyme_ == rhyme_rule::first_and_even;
    for (uint8_t o : {opening_level, opening_oblique}) {
        if (!(openings & o)) continue;
        const bool second = poem::level_second(line, o == opening_level);
        for (uint8_t m : poem::allowed_lines(form_.lines[line], second, poem::level_end(line, first_rhymed), tones_))
            if (const auto p = static_cast<uint16_t>(o << 8 | m); fixed_fits(p, line)) out.push_back(p);
    }
    return out;
}

poem_constraint::state poem_constraint::start() const {
    state s;
    s.openings = start_openings_;
    s.patterns = line_patterns(0, s.openings);
    s.rhymes = start_rhymes_;
    return s;
}

int32_t poem_constraint::next(const state& s, std::vector<uint8_t>& allowed) const {
    CHARLM_ASSERT(!done(s));
    const uint32_t len = form_.lines[s.line];
    const bool last_line = s.line + 1 == form_.lines.size();
    if (s.pos == len) return static_cast<int32_t>(s.line % 2 == 1 || last_line ? stop_ : comma_);
    if (s.pos == len + 1) return static_cast<int32_t>(newline_);

    const uint32_t k = s.pos;
    bool ok_level = true, ok_oblique = true;
    if (tones_ != tone_rule::off) {
        ok_level = ok_oblique = false;
        for (uint16_t p : s.patterns) ((p >> k & 1) ? ok_level : ok_oblique) = true;
    }
    const bool rhyme_here = rhymes_at(s.line) && k == len - 1;
    const bool unrhymed_end = first_end_unrhymed(s.line, k);
    const fixed_char* fixed = fixed_at(s.line, k);
    if (!fixed && !rhyme_here) {  // the common case: one of the masks made once
        allowed = plain_masks_[(ok_level ? 1u : 0u) | (ok_oblique ? 2u : 0u) | (unrhymed_end ? 4u : 0u)];
        return -1;
    }
    const auto fits = [&](uint32_t id) {
        const token_info& t = info_[id];
        if (!fits_place(t, ok_level, ok_oblique, unrhymed_end, fixed != nullptr)) return false;
        if (rhyme_here) {
            if ((t.level_rhymes & s.rhymes).none()) return false;
            if (std::find(s.rhyme_tokens.begin(), s.rhyme_tokens.end(), id) != s.rhyme_tokens.end()) return false;
            if (!fixed && std::find(fixed_rhymes_.begin(), fixed_rhymes_.end(), id) != fixed_rhymes_.end())
                return false;
        }
        return true;
    };
    allowed.assign(info_.size(), 0);
    if (fixed) return fits(fixed->id) ? static_cast<int32_t>(fixed->id) : -1;
    for (uint32_t id = 1; id < info_.size(); ++id) allowed[id] = fits(id);
    return -1;
}

// A token at a place of a line, apart from the rhyme: a Han character of a tone the patterns still
// allow there (one without a reading only where either tone is allowed, unless the user fixed it:
// the checker never faults one either), and not a 平-only end of an unrhymed line 1 (the checker's rule).
bool poem_constraint::fits_place(const token_info& t, bool ok_level, bool ok_oblique, bool unrhymed_end,
                                 bool fixed) const {
    if (!t.han) return false;
    const bool unread_ok = t.tones == 0 && (fixed || (ok_level && ok_oblique));
    if (tones_ != tone_rule::off &&
        !(((t.tones & tone_level) && ok_level) || ((t.tones & tone_oblique) && ok_oblique) || unread_ok))
        return false;
    return !(unrhymed_end && poem::first_line_in_rhyme(t.tones));
}

void poem_constraint::make_plain_masks() {
    plain_masks_.assign(8, std::vector<uint8_t>(info_.size(), 0));
    for (uint32_t key = 0; key < 8; ++key)
        for (uint32_t id = 1; id < info_.size(); ++id)
            plain_masks_[key][id] = fits_place(info_[id], key & 1, key & 2, key & 4, false);
}

void poem_constraint::advance(state& s, uint32_t token) const {
    CHARLM_ASSERT(!done(s) && token < info_.size());
    const uint32_t len = form_.lines[s.line];
    const bool last_line = s.line + 1 == form_.lines.size();
    if (s.pos < len) {
        const token_info& t = info_[token];
        const uint32_t k = s.pos;
        if (tones_ != tone_rule::off && t.tones != 0) {
            std::erase_if(s.patterns, [&](uint16_t p) { return !(t.tones & ((p >> k & 1) ? tone_level : tone_oblique)); });
            CHARLM_ASSERT(!s.patterns.empty());
        }
        if (rhymes_at(s.line) && k == len - 1) {
            s.rhymes &= t.level_rhymes;
            s.rhyme_tokens.push_back(token);
        }
        ++s.pos;
        return;
    }
    const bool newline_next = s.pos == len && s.line % 2 == 1 && !last_line;
    if (newline_next) {
        ++s.pos;
        return;
    }
    // The line is complete: the openings its surviving patterns came from go on to the next one.
    if (tones_ != tone_rule::off) {
        uint8_t openings = 0;
        for (uint16_t p : s.patterns) openings |= static_cast<uint8_t>(p >> 8);
        s.openings = openings;
    }
    ++s.line;
    s.pos = 0;
    s.patterns = done(s) ? std::vector<uint16_t>{} : line_patterns(s.line, s.openings);
}

}  // namespace charlm
