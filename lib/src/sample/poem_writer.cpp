// Sampling poems that keep their form, as rows of one batch: at each step each row takes the
// poem_constraint's forced token, or a draw (the user's temperature / top-k / top-p) from the tokens
// it allows; where those hold almost no probability the row backs up: the line (up to 4 times),
// then the couplet (4 times), then the whole poem, and after 64 backups any allowed token is taken
// however unlikely. A backup restores the row's recurrent state saved where the line, couplet or
// poem began (the mood and prefix are read once, never again); the other rows go on. The batch
// steps until every row is done, so N candidates cost one model step per token, not N.
// Not here: the per-position rules (poem_constraint.cpp), choosing among candidates
// (poem_generate.cpp), printing (app/).
#include <fmt/core.h>

#include <omp.h>

#include <cmath>
#include <limits>
#include <optional>

#include "sample/poem_impl.h"

namespace charlm::poem {

namespace {

constexpr uint32_t line_tries = 4, couplet_tries = 4;
constexpr uint64_t relax_after = 64;       // backups of one poem before the mass threshold is dropped
constexpr uint64_t give_up_after = 20000;  // only dead ends (nothing allowed) are left by then

// One row's recurrent state: (L, H) of h (and c for an LSTM), cut from the batch's (L, N, H).
struct row_model {
    std::vector<float> h, c;
};

row_model row_of(const generator::saved_state& all, uint32_t row, uint32_t rows, uint32_t layers) {
    row_model m;
    const size_t hidden = all.h.size() / (static_cast<size_t>(layers) * rows);
    for (uint32_t l = 0; l < layers; ++l) {
        const size_t at = (static_cast<size_t>(l) * rows + row) * hidden;
        m.h.insert(m.h.end(), all.h.begin() + static_cast<ptrdiff_t>(at), all.h.begin() + static_cast<ptrdiff_t>(at + hidden));
        if (!all.c.empty())
            m.c.insert(m.c.end(), all.c.begin() + static_cast<ptrdiff_t>(at), all.c.begin() + static_cast<ptrdiff_t>(at + hidden));
    }
    return m;
}

void put_row(generator::saved_state& all, const row_model& m, uint32_t row, uint32_t rows, uint32_t layers) {
    const size_t hidden = m.h.size() / layers;
    for (uint32_t l = 0; l < layers; ++l) {
        const size_t at = (static_cast<size_t>(l) * rows + row) * hidden;
        std::copy_n(m.h.begin() + static_cast<ptrdiff_t>(l * hidden), hidden, all.h.begin() + static_cast<ptrdiff_t>(at));
        if (!m.c.empty())
            std::copy_n(m.c.begin() + static_cast<ptrdiff_t>(l * hidden), hidden, all.c.begin() + static_cast<ptrdiff_t>(at));
    }
}

// A place a row can back up to: the constraint's state, how many tokens were written, and the
// row's recurrent state and logits there.
struct snapshot {
    poem_constraint::state state;
    size_t fed = 0;
    row_model model;
    std::vector<float> logits;  // (V)
};

enum class backup_to { line, couplet, poem };

// Where a dead end goes back to: the line while it has tries left, then the couplet, then the
// whole poem; each new line (by writing, not by backing up) gives its tries back.
class backup_policy {
public:
    void entered_line(uint32_t line) {
        line_left_ = line_tries;
        if (line % 2 == 0) couplet_left_ = couplet_tries;
    }
    // line_written / couplet_written: whether the line / couplet has tokens to undo.
    backup_to choose(bool line_written, bool couplet_written, poem_stats& stats) {
        if (line_left_ > 0 && line_written) {
            --line_left_;
            ++stats.line_backups;
            return backup_to::line;
        }
        line_left_ = line_tries;
        if (couplet_left_ > 0 && couplet_written) {
            --couplet_left_;
            ++stats.couplet_backups;
            return backup_to::couplet;
        }
        couplet_left_ = couplet_tries;
        ++stats.restarts;
        return backup_to::poem;
    }

private:
    uint32_t line_left_ = line_tries, couplet_left_ = couplet_tries;
};

// A row's work space, one per thread.
struct row_scratch {
    std::vector<uint8_t> allowed;  // (V)
    std::vector<float> masked;     // (V) logits with the disallowed at -inf
    step_probs probs;
    sample_scratch sample;
};

// One poem being written in one row of the batch.
struct row_poem {
    poem_constraint::state s;
    uint32_t line = 0;
    std::vector<uint32_t> fed;  // the poem's tokens so far, the prefix first
    std::vector<double> nll;    // NLL of each token after the prefix
    snapshot poem_snap, line_snap, couplet_snap;
    backup_policy policy;
    poem_stats stats;
    double min_mass_now = 0;
    uint64_t rng = 0;
    std::vector<float> logits;  // (V) after the row's last token
    std::optional<row_model> restore;  // set by a backup: the state the row's next step starts from
    bool done = false;
    uint32_t token = 0;  // taken this round
};

class batch_writer {
public:
    batch_writer(const language_model& model, const poem_constraint& c, const sample_config& cfg, double min_mass,
                 uint32_t rows)
        : model_(model), c_(c), gen_(model, rows, cfg.precision), sampler_(sampler_of(cfg)), min_mass_(min_mass),
          v_(model.vocab().size()), rows_(rows), layers_(model.config().layers), gen_precision_(cfg.precision),
          scratch_(static_cast<size_t>(std::max(1, omp_get_max_threads()))) {}

    result<std::vector<poem_result>> write(const std::vector<uint32_t>& context, const std::vector<uint32_t>& prefix,
                                           const poem_constraint::state& start, uint64_t seed) {
        begin(context, prefix, start, seed);
        std::vector<int32_t> ids(rows_, static_cast<int32_t>(prefix.empty() ? context.back() : prefix.back()));
        std::vector<std::string> errors(rows_);
        while (true) {
            const generator::saved_state now = gen_.save();
            const auto n = static_cast<int64_t>(rows_);
#pragma omp parallel for schedule(dynamic) if (rows_ > 1)
            for (int64_t r = 0; r < n; ++r)
                errors[r] = decide(poems_[r], now, scratch_[static_cast<size_t>(omp_get_thread_num())]);
            for (const auto& e : errors)
                if (!e.empty()) return make_error(errc::input, e);
            if (!apply_restores(now)) break;
            for (uint32_t r = 0; r < rows_; ++r)
                if (!poems_[r].done) ids[r] = static_cast<int32_t>(poems_[r].token);
            const float* logits = gen_.step(ids.data());
            for (uint32_t r = 0; r < rows_; ++r)
                if (!poems_[r].done) poems_[r].logits.assign(logits + size_t{r} * v_, logits + size_t{r + 1} * v_);
        }
        std::vector<poem_result> out;
        for (auto& p : poems_) out.push_back(finish(p, prefix.size()));
        return out;
    }

private:
    // The context and prefix are read once by one row; every row starts from its state.
    void begin(const std::vector<uint32_t>& context, const std::vector<uint32_t>& prefix,
               const poem_constraint::state& start, uint64_t seed) {
        generator reader(model_, 1, gen_precision_);
        const float* logits = nullptr;
        for (uint32_t id : context) logits = step(reader, id);
        for (uint32_t id : prefix) logits = step(reader, id);
        gen_.copy_state_to_rows(reader);
        const row_model m = row_of(reader.save(), 0, 1, layers_);
        poems_.assign(rows_, row_poem{});
        for (uint32_t r = 0; r < rows_; ++r) {
            row_poem& p = poems_[r];
            p.s = start;
            p.line = start.line;
            p.fed = prefix;
            p.logits.assign(logits, logits + v_);
            p.poem_snap = p.line_snap = p.couplet_snap = snapshot{start, prefix.size(), m, p.logits};
            p.min_mass_now = min_mass_;
            p.rng = row_stream_state(seed, r);
        }
    }
    static const float* step(generator& g, uint32_t id) {
        const auto x = static_cast<int32_t>(id);
        return g.step(&x);
    }

    // The row's next token (forced, drawn, or after backups); an error once it can only back up.
    std::string decide(row_poem& p, const generator::saved_state& now, row_scratch& sc) {
        if (p.done) return {};
        const uint32_t r = static_cast<uint32_t>(&p - poems_.data());
        while (true) {
            if (p.s.line != p.line) enter_line(p, now, r);
            const int32_t forced = c_.next(p.s, sc.allowed);
            sc.probs.compute(p.logits.data(), v_);
            std::optional<uint32_t> tok;
            if (forced >= 0) tok = static_cast<uint32_t>(forced);
            else tok = draw(p, sc);
            if (tok) {
                take(p, *tok, sc);
                return {};
            }
            if (p.stats.backups() >= give_up_after)
                return fmt::format("no poem of form {} could be completed after {} backups: the model's vocabulary "
                                   "leaves no character for line {}, position {}; relax --tones or --rhyme, or change "
                                   "the fixed characters",
                                   c_.form().name, p.stats.backups(), p.s.line + 1, p.s.pos + 1);
            back_up(p);
        }
    }

    // A new line reached by writing: where its backups (and its couplet's) go.
    void enter_line(row_poem& p, const generator::saved_state& now, uint32_t r) {
        p.line = p.s.line;
        p.line_snap = snapshot{p.s, p.fed.size(), p.restore ? *p.restore : row_of(now, r, rows_, layers_), p.logits};
        if (p.line % 2 == 0) p.couplet_snap = p.line_snap;
        p.policy.entered_line(p.line);
    }

    // A draw from the allowed tokens, or none when they hold too little of the probability.
    std::optional<uint32_t> draw(row_poem& p, row_scratch& sc) {
        sc.masked.assign(p.logits.begin(), p.logits.end());
        double mass = 0;
        for (uint32_t i = 0; i < v_; ++i) {
            if (sc.allowed[i]) mass += sc.probs.w[i];
            else sc.masked[i] = -std::numeric_limits<float>::infinity();
        }
        mass /= sc.probs.total;
        if (!(mass > 0) || mass < p.min_mass_now) return std::nullopt;
        const uint32_t tok = sample_logits(sc.masked.data(), v_, sampler_, p.rng, sc.sample);
        CHARLM_ASSERT(sc.allowed[tok]);
        return tok;
    }

    void take(row_poem& p, uint32_t tok, const row_scratch& sc) {
        p.nll.push_back(sc.probs.nll(p.logits.data(), tok));
        c_.advance(p.s, tok);
        p.fed.push_back(tok);
        p.token = tok;
        p.done = c_.done(p.s);
    }

    void go_to(row_poem& p, const snapshot& to) {
        p.s = to.state;
        p.line = p.s.line;
        p.fed.resize(to.fed);
        p.nll.resize(to.fed - p.poem_snap.fed);
        p.restore = to.model;
        p.logits = to.logits;
    }

    // The one path of a row backing up: the policy chooses the snapshot, the state is restored.
    void back_up(row_poem& p) {
        switch (p.policy.choose(p.fed.size() > p.line_snap.fed, p.fed.size() > p.couplet_snap.fed, p.stats)) {
            case backup_to::line: go_to(p, p.line_snap); break;
            case backup_to::couplet:
                p.line_snap = p.couplet_snap;
                go_to(p, p.couplet_snap);
                break;
            case backup_to::poem:
                p.line_snap = p.couplet_snap = p.poem_snap;
                go_to(p, p.poem_snap);
                break;
        }
        if (p.stats.backups() >= relax_after) p.min_mass_now = 0;
    }

    // The rows that backed up continue from their snapshots' states; false when every row is done.
    bool apply_restores(const generator::saved_state& now) {
        bool any = false, active = false;
        generator::saved_state next = now;
        for (uint32_t r = 0; r < rows_; ++r) {
            row_poem& p = poems_[r];
            active |= !p.done;
            if (!p.restore) continue;
            if (!p.done) {
                put_row(next, *p.restore, r, rows_, layers_);
                any = true;
            }
            p.restore.reset();
        }
        if (any) gen_.restore(next);
        return active;
    }

    poem_result finish(const row_poem& p, size_t prefix_size) const {
        poem_result r;
        for (size_t i = 0; i < p.fed.size(); ++i) {
            r.text += model_.vocab().token(p.fed[i]);
            if (i + 1 == prefix_size) r.prefix_bytes = r.text.size();
        }
        r.stats = p.stats;
        for (double x : p.nll) r.stats.nll += x;
        r.stats.tokens = p.fed.size() - prefix_size;
        for (size_t i = prefix_size; i < p.fed.size(); ++i) r.pieces.push_back(model_.vocab().token(p.fed[i]));
        for (double x : p.nll) r.p.push_back(std::exp(-x));
        return r;
    }

    const language_model& model_;
    const poem_constraint& c_;
    generator gen_;  // `rows_` rows
    token_sampler sampler_;
    double min_mass_;
    uint32_t v_, rows_, layers_;
    precision gen_precision_;
    std::vector<row_poem> poems_;
    std::vector<row_scratch> scratch_;
};

// Constrained beam search: the K most likely poems under the unconstrained model (sum of the log
// probabilities of their tokens, forced ones included) among those the constraint allows, as K
// rows of one batch. Every hypothesis has as many tokens as the others at each step (the form fixes
// them), so the sums compare without length normalization. Ties go to the lower row, then the
// lower token id, so K = 1 takes the first argmax as greedy sampling does.
class beam_writer {
public:
    beam_writer(const language_model& model, const poem_constraint& c, precision p, uint32_t width)
        : model_(model), c_(c), gen_(model, width, p), precision_(p), v_(model.vocab().size()), k_(width),
          layers_(model.config().layers) {}

    result<std::vector<poem_result>> write(const std::vector<uint32_t>& context, const std::vector<uint32_t>& prefix,
                                           const poem_constraint::state& start) {
        begin(context, prefix, start);
        std::vector<int32_t> ids(k_, 0);
        row_scratch sc;
        while (!c_.done(hyps_.front().s)) {
            std::vector<candidate> all;
            for (uint32_t h = 0; h < hyps_.size(); ++h) extend(h, sc, all);
            if (all.empty())
                return make_error(errc::input,
                                  fmt::format("--beam: every hypothesis reached a dead end at line {} (no character "
                                              "the form allows is left, e.g. a rhyme group used up); sample instead "
                                              "(without --beam) or relax --rhyme or --tones",
                                              hyps_.front().s.line + 1));
            const size_t keep = std::min<size_t>(k_, all.size());
            std::partial_sort(all.begin(), all.begin() + static_cast<ptrdiff_t>(keep), all.end());
            all.resize(keep);
            reorder(all, ids);
            if (c_.done(hyps_.front().s)) break;
            const float* logits = gen_.step(ids.data());
            for (uint32_t h = 0; h < hyps_.size(); ++h) hyps_[h].logits.assign(logits + size_t{h} * v_, logits + size_t{h + 1} * v_);
        }
        std::vector<poem_result> out;
        for (const auto& h : hyps_) out.push_back(finish(h, prefix.size()));
        return out;
    }

private:
    struct hypothesis {
        poem_constraint::state s;
        std::vector<uint32_t> fed;
        std::vector<double> nll;
        double logp = 0;
        std::vector<float> logits;  // (V)
    };
    struct candidate {
        double logp;
        uint32_t hyp, token;
        double step_nll;
        bool operator<(const candidate& o) const {
            if (logp != o.logp) return logp > o.logp;
            return hyp != o.hyp ? hyp < o.hyp : token < o.token;
        }
    };

    void begin(const std::vector<uint32_t>& context, const std::vector<uint32_t>& prefix,
               const poem_constraint::state& start) {
        generator reader(model_, 1, precision_);
        const float* logits = nullptr;
        for (uint32_t id : context) logits = step(reader, id);
        for (uint32_t id : prefix) logits = step(reader, id);
        gen_.copy_state_to_rows(reader);
        hyps_.assign(1, hypothesis{start, prefix, {}, 0.0, std::vector<float>(logits, logits + v_)});
    }
    static const float* step(generator& g, uint32_t id) {
        const auto x = static_cast<int32_t>(id);
        return g.step(&x);
    }

    // The best continuations of hypothesis h (at most K: no more can survive).
    void extend(uint32_t h, row_scratch& sc, std::vector<candidate>& all) {
        const hypothesis& y = hyps_[h];
        const int32_t forced = c_.next(y.s, sc.allowed);
        sc.probs.compute(y.logits.data(), v_);
        const auto add = [&](uint32_t tok, std::vector<candidate>& to) {
            const double nll = sc.probs.nll(y.logits.data(), tok);
            to.push_back({y.logp - nll, h, tok, nll});
        };
        if (forced >= 0) return add(static_cast<uint32_t>(forced), all);
        std::vector<candidate> mine;
        for (uint32_t id = 0; id < v_; ++id)
            if (sc.allowed[id]) add(id, mine);
        const size_t keep = std::min<size_t>(k_, mine.size());
        std::partial_sort(mine.begin(), mine.begin() + static_cast<ptrdiff_t>(keep), mine.end());
        all.insert(all.end(), mine.begin(), mine.begin() + static_cast<ptrdiff_t>(keep));
    }

    // The survivors become rows 0 .. n-1, each with its parent's recurrent state, and take their token.
    void reorder(const std::vector<candidate>& chosen, std::vector<int32_t>& ids) {
        const generator::saved_state now = gen_.save();
        generator::saved_state next = now;
        std::vector<hypothesis> grown;
        for (uint32_t j = 0; j < chosen.size(); ++j) {
            const candidate& c = chosen[j];
            hypothesis y = hyps_[c.hyp];
            put_row(next, row_of(now, c.hyp, k_, layers_), j, k_, layers_);
            c_.advance(y.s, c.token);
            y.fed.push_back(c.token);
            y.nll.push_back(c.step_nll);
            y.logp = c.logp;
            ids[j] = static_cast<int32_t>(c.token);
            grown.push_back(std::move(y));
        }
        gen_.restore(next);
        hyps_ = std::move(grown);
    }

    poem_result finish(const hypothesis& y, size_t prefix_size) const {
        poem_result r;
        for (size_t i = 0; i < y.fed.size(); ++i) {
            r.text += model_.vocab().token(y.fed[i]);
            if (i + 1 == prefix_size) r.prefix_bytes = r.text.size();
        }
        for (double x : y.nll) r.stats.nll += x;
        r.stats.tokens = y.fed.size() - prefix_size;
        for (size_t i = prefix_size; i < y.fed.size(); ++i) r.pieces.push_back(model_.vocab().token(y.fed[i]));
        for (double x : y.nll) r.p.push_back(std::exp(-x));
        return r;
    }

    const language_model& model_;
    const poem_constraint& c_;
    generator gen_;
    precision precision_;
    uint32_t v_, k_, layers_;
    std::vector<hypothesis> hyps_;
};

}  // namespace

result<std::vector<poem_result>> write_poems(const language_model& model, const poem_constraint& c,
                                             const std::vector<uint32_t>& context, const std::vector<uint32_t>& prefix,
                                             const poem_constraint::state& start, const sample_config& cfg,
                                             uint32_t rows, double min_mass) {
    CHARLM_ASSERT(rows > 0 && !context.empty());
    batch_writer w(model, c, cfg, min_mass, rows);
    return w.write(context, prefix, start, cfg.seed);
}

}  // namespace charlm::poem

namespace charlm::poem {

result<std::vector<poem_result>> beam_poems(const language_model& model, const poem_constraint& c,
                                            const std::vector<uint32_t>& context, const std::vector<uint32_t>& prefix,
                                            const poem_constraint::state& start, precision p, uint32_t width) {
    CHARLM_ASSERT(width > 0 && !context.empty());
    beam_writer w(model, c, p, width);
    return w.write(context, prefix, start);
}

}  // namespace charlm::poem
