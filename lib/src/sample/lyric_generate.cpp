// Sampling lyrics that keep their shape: each part (verse, bridge, ...) is written under the
// lyric constraint; a chorus is written once and then fed to the model verbatim wherever it comes
// again, so that what follows reads as the continuation of the whole song. Parts are a blank line
// apart (the model reads the blank line); labels such as "[Chorus]" are printed, not read.
// Where the allowed tokens hold almost no probability the writer backs up: the English word (4
// times), the line (4 times), then the part; after 64 backups any allowed token is taken.
// Not here: the per-token rules (lyric_constraint.cpp), printing (app/).
#include <fmt/core.h>

#include <optional>

#include "charlm/lyrics.hpp"
#include "sample/lyric_impl.h"
#include "sample/sampling_impl.h"

namespace charlm {

namespace {

using lyric::constraint;

constexpr uint32_t word_tries = 4, line_tries = 4;
constexpr uint64_t relax_after = 64, give_up_after = 20000;

// A place to back up to: the constraint's state, the tokens written, the model's state and logits.
struct snapshot {
    constraint::state state;
    size_t fed = 0;
    generator::saved_state model;
    std::vector<float> logits;  // (V)
};

bool repeats_verbatim(std::string part) {
    for (char& c : part) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return part == "chorus" || part == "refrain" || part == "hook" || part == "副歌";
}

class lyric_writer {
public:
    lyric_writer(const language_model& model, const constraint& c, const sample_config& cfg, double min_mass,
                 uint32_t newline, const lyric_limits& limits)
        : model_(model), c_(c), gen_(model, 1, cfg.precision), sampler_(sampler_of(cfg)), min_mass_(min_mass),
          v_(model.vocab().size()), newline_(newline), limits_(limits) {
        logits_ = step(newline);  // a song starts a line
        start_ = here();
    }

    // One song of `parts` after `prefix` (checked: it starts the first line).
    result<lyric_result> write(const std::vector<std::string>& parts, bool labels, const std::vector<uint32_t>& prefix,
                               uint64_t rng) {
        go_to(start_);
        fed_.clear();
        nll_.clear();
        stats_ = lyric_stats{};
        std::string text;
        std::vector<uint32_t> chorus;
        for (size_t p = 0; p < parts.size(); ++p) {
            CHARLM_TRY(within_limits());
            if (p > 0) take(newline_, nullptr);  // the blank line between parts
            const size_t begin = fed_.size();
            if (repeats_verbatim(parts[p]) && !chorus.empty()) {
                for (uint32_t t : chorus) take(t, nullptr);
            } else {
                CHARLM_TRY(write_part(p == 0 ? prefix : std::vector<uint32_t>{}, rng));
                if (repeats_verbatim(parts[p])) chorus.assign(fed_.begin() + static_cast<long>(begin), fed_.end());
            }
            if (p > 0) text += "\n";
            if (labels) text += fmt::format("[{}{}]\n", static_cast<char>(std::toupper(static_cast<unsigned char>(parts[p][0]))), parts[p].substr(1));
            for (size_t i = begin; i < fed_.size(); ++i) text += model_.vocab().token(fed_[i]);
        }
        for (double x : nll_) stats_.nll += x;
        stats_.tokens = nll_.size();
        return lyric_result{std::move(text), stats_};
    }

private:
    status within_limits() const {
        if (limits_.keep_going && !limits_.keep_going())
            return make_error(errc::interrupted, "the song was stopped before its end");
        if (limits_.max_tokens > 0 && fed_.size() > limits_.max_tokens)
            return make_error(errc::usage, fmt::format("a song here may have at most {} tokens (--max-length); ask for "
                                                       "fewer or shorter lines or parts",
                                                       limits_.max_tokens));
        return status::success();
    }
    const float* step(uint32_t id) {
        const auto x = static_cast<int32_t>(id);
        return gen_.step(&x);
    }
    snapshot here() const { return {s_, fed_.size(), gen_.save(), std::vector<float>(logits_, logits_ + v_)}; }
    void go_to(const snapshot& to) {
        s_ = to.state;
        fed_.resize(to.fed);
        nll_.resize(to.fed);
        gen_.restore(to.model);
        saved_logits_ = to.logits;
        logits_ = saved_logits_.data();
    }

    // Feeds a token (through the constraint when writing a part), counting its NLL (`computed`:
    // probs_ already holds this step's probabilities).
    void take(uint32_t tok, constraint::state* s, bool computed = false) {
        if (!computed) probs_.compute(logits_, v_);
        nll_.push_back(probs_.nll(logits_, tok));
        if (s) c_.advance(*s, tok);
        fed_.push_back(tok);
        logits_ = step(tok);
    }

    status write_part(const std::vector<uint32_t>& prefix, uint64_t& rng) {
        s_ = c_.start();
        for (uint32_t t : prefix) take(t, &s_);
        part_ = line_ = word_ = here();
        uint32_t line = s_.line, word_left = word_tries, line_left = line_tries;
        min_mass_now_ = min_mass_;
        while (!c_.done(s_)) {
            CHARLM_TRY(within_limits());
            if (s_.line != line) {
                line = s_.line;
                line_ = here();
                line_left = line_tries;
            }
            if (c_.english() && s_.word.empty() && fed_.size() != word_.fed) {  // a word begins here
                word_ = here();
                word_left = word_tries;
            }
            const int32_t forced = c_.next(s_, allowed_);
            if (forced >= 0) {
                take(static_cast<uint32_t>(forced), &s_);
                continue;
            }
            if (const auto tok = draw(rng)) {
                take(*tok, &s_, true);
                continue;
            }
            if (stats_.backups() >= give_up_after)
                return make_error(errc::input, fmt::format("no lyric could be completed after {} backups (line {}): "
                                                           "the model's vocabulary leaves nothing that fits; relax "
                                                           "--rhyme-scheme, --syllables, --meter or --line-length",
                                                           stats_.backups(), s_.line + 1));
            if (c_.english() && word_left > 0 && fed_.size() > word_.fed) {
                --word_left;
                ++stats_.word_backups;
                go_to(word_);
            } else if (line_left > 0 && fed_.size() > line_.fed) {
                --line_left;
                ++stats_.line_backups;
                go_to(line_);
                word_ = line_;
            } else {
                ++stats_.part_backups;
                go_to(part_);
                line_ = word_ = part_;
                line = s_.line;
                line_left = line_tries;
            }
            if (stats_.backups() >= relax_after) min_mass_now_ = 0;
        }
        return status::success();
    }

    std::optional<uint32_t> draw(uint64_t& rng) {
        probs_.compute(logits_, v_);
        masked_.assign(logits_, logits_ + v_);
        double mass = 0;
        for (uint32_t i = 0; i < v_; ++i) {
            if (allowed_[i]) mass += probs_.w[i];
            else masked_[i] = -std::numeric_limits<float>::infinity();
        }
        mass /= probs_.total;
        if (!(mass > 0) || mass < min_mass_now_) return std::nullopt;
        const uint32_t tok = sample_logits(masked_.data(), v_, sampler_, rng, scratch_);
        CHARLM_ASSERT(allowed_[tok]);
        return tok;
    }

    const language_model& model_;
    const constraint& c_;
    generator gen_;
    token_sampler sampler_;
    double min_mass_, min_mass_now_ = 0;
    uint32_t v_, newline_;
    const lyric_limits& limits_;
    const float* logits_ = nullptr;
    std::vector<float> saved_logits_;
    snapshot start_, part_, line_, word_;
    constraint::state s_;
    std::vector<uint32_t> fed_;  // the song's tokens so far
    std::vector<double> nll_;    // (fed_.size())
    lyric_stats stats_;
    std::vector<uint8_t> allowed_;
    std::vector<float> masked_;
    sampling::step_probs probs_;
    sample_scratch scratch_;
};

// The prefix starts the first line: each of its tokens must be allowed where it stands.
status check_prefix(const constraint& c, const vocabulary& vocab, const std::string& prefix,
                    const std::vector<uint32_t>& ids) {
    constraint::state s = c.start();
    std::vector<uint8_t> allowed;
    for (size_t i = 0; i < ids.size(); ++i) {
        const int32_t forced = c.done(s) ? -2 : c.next(s, allowed);
        if (forced == -2 || (forced >= 0 ? static_cast<uint32_t>(forced) != ids[i] : !allowed[ids[i]]) ||
            (s.line > 0))
            return make_error(errc::usage, fmt::format("--prefix '{}' cannot start the lyric: its token {} '{}' does "
                                                       "not fit the first line's shape (the prefix starts line 1; "
                                                       "no newline in it)",
                                                       prefix, i + 1, vocab.token(ids[i]) == "\n" ? "\\n" : vocab.token(ids[i])));
        c.advance(s, ids[i]);
    }
    return status::success();
}

bool writes_english(const vocabulary& vocab) {
    uint64_t han = 0, letters = 0;
    for (uint32_t id = 1; id < vocab.size(); ++id) {
        han += poem::is_han(vocab.token(id));
        letters += is_word_char(vocab.token(id));
    }
    return han < 16 && letters >= 16;
}

}  // namespace

lyric_stats& lyric_stats::operator+=(const lyric_stats& o) {
    word_backups += o.word_backups;
    line_backups += o.line_backups;
    part_backups += o.part_backups;
    restarts += o.restarts;
    nll += o.nll;
    tokens += o.tokens;
    return *this;
}

result<rhyme_book> lyric_readings(const language_model& model, const lyric_config& lc) {
    auto shape = lc.shape(writes_english(model.vocab()));
    if (!shape) return shape.err();
    auto script = sampling::script_of(model.text(), model.vocab());
    if (!script) return script.err();
    rhyme_book::paths paths;
    paths.pinyin = lc.pinyin_path;
    paths.cmu = lc.cmu_path;
    paths.middle_chinese = lc.middle_chinese_path;
    return rhyme_book::load(shape->system, paths, *script);
}

result<std::vector<lyric_result>> generate_lyrics(const language_model& model, const std::string& prefix,
                                                  const sample_config& cfg, const lyric_config& lc,
                                                  const lyric_sink& on_song, const rhyme_book* book,
                                                  const lyric_limits& limits) {
    CHARLM_TRY(cfg.validate());
    CHARLM_ASSERT(lc.active());
    const vocabulary& vocab = model.vocab();
    auto shape = lc.shape(writes_english(vocab));
    if (!shape) return shape.err();
    if (!vocab.contains("\n"))
        return make_error(errc::input, "the model's vocabulary has no newline, which ends every line of a lyric");
    std::optional<rhyme_book> loaded;
    if (!book) {
        auto b = lyric_readings(model, lc);
        if (!b) return b.err();
        book = &loaded.emplace(std::move(*b));
    }
    CHARLM_ASSERT(book->system() == shape->system);
    auto c = constraint::make(vocab, vocab.id("\n"), *shape, *book);
    if (!c) return c.err();
    auto prefix_ids = sampling::known_tokens(model, prefix, "--prefix", unknown_policy::error);
    if (!prefix_ids) return prefix_ids.err();
    CHARLM_TRY(check_prefix(*c, vocab, prefix, *prefix_ids));

    const sampling::thread_guard threads(model);
    lyric_writer writer(model, *c, cfg, 1e-4, vocab.id("\n"), limits);
    std::vector<lyric_result> out;
    for (uint32_t r = 0; r < cfg.num_samples; ++r) {
        auto song = writer.write(lc.parts(), lc.labels, *prefix_ids, row_stream_state(cfg.seed, r));
        if (!song) return song.err();
        const bool more = !on_song || on_song(r, *song);
        out.push_back(std::move(*song));
        if (!more) break;
    }
    return out;
}

}  // namespace charlm
