// Sampling poems that keep their form: at each step the poem_constraint's forced token, or a draw
// (the user's temperature / top-k / top-p) from the tokens it allows; where those hold almost no
// probability the poem backs up: the line (up to 4 times), then the couplet (4 times), then the
// whole poem, and after 64 backups any allowed token is taken however unlikely. A backup restores
// the model's recurrent state saved where the line, couplet or poem began: the mood and prefix are
// read once, never again.
// Not here: the per-position rules (poem_constraint.cpp), printing (app/).
#include <fmt/core.h>

#include <omp.h>

#include <cmath>
#include <limits>
#include <optional>

#include "charlm/poem.hpp"
#include "layers/softmax_xent.h"
#include "sample/poem_impl.h"
#include "sample/sampling_impl.h"

namespace charlm {

namespace {

using sampling::known_tokens;
using sampling::script_of;
using sampling::step_probs;
using sampling::thread_guard;

constexpr uint32_t line_tries = 4, couplet_tries = 4;
constexpr uint64_t relax_after = 64;     // backups of one poem before the mass threshold is dropped
constexpr uint64_t give_up_after = 20000;  // only dead ends (nothing allowed) are left by then

// A place a poem can back up to: the constraint's state, how many tokens were written, and the
// model's recurrent state and logits there.
struct snapshot {
    poem_constraint::state state;
    size_t fed = 0;
    generator::saved_state model;
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

class poem_writer {
public:
    poem_writer(const language_model& model, const poem_constraint& c, const std::vector<uint32_t>& context,
                const sample_config& cfg, double min_mass)
        : model_(model), c_(c), gen_(model, 1, cfg.precision), sampler_(sampler_of(cfg)), min_mass_(min_mass),
          v_(model.vocab().size()) {
        for (uint32_t id : context) logits_ = step(id);
    }

    // One poem after `prefix` (already checked against the constraint, ending in state `start`).
    result<poem_result> write(const std::vector<uint32_t>& prefix, const poem_constraint::state& start,
                              uint64_t rng) {
        begin(prefix, start);
        while (!c_.done(s_)) {
            if (s_.line != line_) enter_line();
            const int32_t forced = c_.next(s_, allowed_);
            probs_.compute(logits_, v_);
            if (forced >= 0) {
                take(static_cast<uint32_t>(forced));
            } else if (const auto tok = draw(rng)) {
                take(*tok);
            } else {
                if (stats_.backups() >= give_up_after)
                    return make_error(errc::input,
                                      fmt::format("no poem of form {} could be completed after {} backups: the "
                                                  "model's vocabulary leaves no character for line {}, position "
                                                  "{}; relax --tones or --rhyme, or change the --acrostic",
                                                  c_.form().name, stats_.backups(), s_.line + 1, s_.pos + 1));
                back_up();
            }
        }
        return finish(prefix.size());
    }

private:
    const float* step(uint32_t id) {
        const auto x = static_cast<int32_t>(id);
        return gen_.step(&x);
    }
    snapshot here() const { return {s_, fed_.size(), gen_.save(), std::vector<float>(logits_, logits_ + v_)}; }
    void go_to(const snapshot& to) {
        s_ = to.state;
        line_ = s_.line;
        fed_.resize(to.fed);
        nll_.resize(to.fed - prefix_size_);
        gen_.restore(to.model);
        saved_logits_ = to.logits;
        logits_ = saved_logits_.data();
    }

    // The model reads the prefix once per poem from the state after the context.
    void begin(const std::vector<uint32_t>& prefix, const poem_constraint::state& start) {
        if (!after_context_) after_context_ = snapshot{start, 0, gen_.save(), std::vector<float>(logits_, logits_ + v_)};
        prefix_size_ = 0;
        go_to(*after_context_);
        s_ = start;
        line_ = s_.line;
        prefix_size_ = prefix.size();
        fed_ = prefix;
        for (uint32_t id : prefix) logits_ = step(id);
        poem_snap_ = line_snap_ = couplet_snap_ = here();
        policy_ = backup_policy{};
        stats_ = poem_stats{};
        min_mass_now_ = min_mass_;
    }

    // A new line reached by writing: where its backups (and its couplet's) go.
    void enter_line() {
        line_ = s_.line;
        line_snap_ = here();
        if (line_ % 2 == 0) couplet_snap_ = line_snap_;
        policy_.entered_line(line_);
    }

    // A draw from the allowed tokens, or none when they hold too little of the probability.
    std::optional<uint32_t> draw(uint64_t& rng) {
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

    void take(uint32_t tok) {
        nll_.push_back(probs_.nll(logits_, tok));
        c_.advance(s_, tok);
        fed_.push_back(tok);
        if (!c_.done(s_)) logits_ = step(tok);
    }

    // The one path of a poem backing up: the policy chooses the snapshot, the state is restored.
    void back_up() {
        switch (policy_.choose(fed_.size() > line_snap_.fed, fed_.size() > couplet_snap_.fed, stats_)) {
            case backup_to::line: go_to(line_snap_); break;
            case backup_to::couplet:
                line_snap_ = couplet_snap_;
                go_to(couplet_snap_);
                break;
            case backup_to::poem:
                line_snap_ = couplet_snap_ = poem_snap_;
                go_to(poem_snap_);
                break;
        }
        if (stats_.backups() >= relax_after) min_mass_now_ = 0;
    }

    poem_result finish(size_t prefix_size) {
        poem_result r;
        for (size_t i = 0; i < fed_.size(); ++i) {
            r.text += model_.vocab().token(fed_[i]);
            if (i + 1 == prefix_size) r.prefix_bytes = r.text.size();
        }
        for (double x : nll_) stats_.nll += x;
        stats_.tokens = fed_.size() - prefix_size;
        r.stats = stats_;
        for (size_t i = prefix_size; i < fed_.size(); ++i) r.pieces.push_back(model_.vocab().token(fed_[i]));
        for (double x : nll_) r.p.push_back(std::exp(-x));
        return r;
    }

    const language_model& model_;
    const poem_constraint& c_;
    generator gen_;  // one row
    token_sampler sampler_;
    double min_mass_;
    uint32_t v_;
    const float* logits_ = nullptr;   // (V) after the last token read
    std::vector<float> saved_logits_;  // (V) the logits of the snapshot last restored
    std::optional<snapshot> after_context_;

    // The poem being written.
    poem_constraint::state s_;
    uint32_t line_ = 0;
    size_t prefix_size_ = 0;
    std::vector<uint32_t> fed_;  // the poem's tokens so far, the prefix first
    std::vector<double> nll_;    // (fed_.size() - prefix_size_) NLL of each generated token
    snapshot poem_snap_, line_snap_, couplet_snap_;
    backup_policy policy_;
    poem_stats stats_;
    double min_mass_now_ = 0;

    std::vector<uint8_t> allowed_;  // (V)
    std::vector<float> masked_;     // (V) logits with the disallowed at -inf
    step_probs probs_;
    sample_scratch scratch_;
};

}  // namespace

status poem_config::validate() const {
    if (!(min_mass >= 0 && min_mass < 1))
        return make_error(errc::usage, fmt::format("the minimum allowed mass must be in [0, 1), got {}", min_mass));
    if (!active() && (needs_prosody() || !mood.empty()))
        return make_error(errc::usage, "--rhyme, --tones and --mood need --form or --acrostic");
    return status::success();
}

poem_stats& poem_stats::operator+=(const poem_stats& o) {
    line_backups += o.line_backups;
    couplet_backups += o.couplet_backups;
    restarts += o.restarts;
    nll += o.nll;
    tokens += o.tokens;
    return *this;
}

namespace {

// The acrostic's heads: characters the model knows, each a Han character.
result<std::vector<uint32_t>> acrostic_heads(const language_model& model, const poem_config& pc) {
    auto heads = known_tokens(model, pc.acrostic, "--acrostic", unknown_policy::error);
    if (!heads) return heads.err();
    for (uint32_t h : *heads)
        if (!poem::is_han(model.vocab().token(h)))
            return make_error(errc::usage, fmt::format("--acrostic head '{}' is not a Han character; every head starts "
                                                       "a line of Chinese characters",
                                                       model.vocab().token(h)));
    if (heads->empty() && !pc.acrostic.empty())
        return make_error(errc::usage, "--acrostic is empty after the model's preprocessing");
    return heads;
}

// --form, or without one a line of seven characters per head (a 4-character head makes a 七绝).
result<poem_form> form_of(const poem_config& pc, size_t heads) {
    if (!pc.form.empty()) return parse_poem_form(pc.form);
    if (heads > poem_form::max_lines)
        return make_error(errc::usage, fmt::format("--acrostic has {} characters, more than the {} lines a poem may "
                                                   "have",
                                                   heads, poem_form::max_lines));
    poem_form form;
    form.lines.assign(heads, 7);
    form.name = heads == 4 ? "七绝" : heads == 8 ? "七律" : fmt::format("{}x7", heads);
    return form;
}

// The prefix starts the first line: each of its characters must be allowed where it stands.
result<poem_constraint::state> after_prefix(const poem_constraint& c, const vocabulary& vocab,
                                            const std::string& prefix, const std::vector<uint32_t>& ids) {
    const poem_form& form = c.form();
    poem_constraint::state s = c.start();
    std::vector<uint8_t> allowed;
    for (size_t i = 0; i < ids.size(); ++i) {
        if (s.line > 0 || s.pos >= form.lines[0])
            return make_error(errc::usage, fmt::format("--prefix has {} characters but the first line of --form {} has "
                                                       "{}; with a form the prefix starts the first line",
                                                       ids.size(), form.name, form.lines[0]));
        const int32_t forced = c.next(s, allowed);
        if (forced >= 0 ? static_cast<uint32_t>(forced) != ids[i] : !allowed[ids[i]])
            return make_error(errc::usage,
                              fmt::format("--prefix '{}' cannot start the poem: its character {} '{}' {}", prefix, i + 1,
                                          vocab.token(ids[i]),
                                          forced >= 0 ? fmt::format("must be the acrostic head '{}'",
                                                                    vocab.token(static_cast<uint32_t>(forced)))
                                                      : std::string("does not fit the form, tones or rhyme there")));
        c.advance(s, ids[i]);
    }
    return s;
}

// The context the poem follows: the mood, then a line break; without a mood, a line break.
result<std::vector<uint32_t>> context_of(const language_model& model, const poem_config& pc, unknown_policy unknown,
                                         uint32_t newline) {
    std::vector<uint32_t> context;
    if (!pc.mood.empty()) {
        auto mood = known_tokens(model, pc.mood, "--mood", unknown);
        if (!mood) return mood.err();
        context = std::move(*mood);
    }
    if (context.empty() || context.back() != newline) context.push_back(newline);
    return context;
}

// The tone table asked for, loaded into `loaded` when the caller gave none.
result<const prosody_table*> prosody_for(const poem_config& pc, const prosody_table* table, prosody_table& loaded) {
    if (!pc.needs_prosody() || table) return table;
    auto t = prosody_table::load(pc.prosody_path);
    if (!t) return t.err();
    loaded = std::move(*t);
    return &loaded;
}

}  // namespace

result<std::vector<poem_result>> generate_poems(const language_model& model, const std::string& prefix,
                                                const sample_config& cfg, const poem_config& pc,
                                                const prosody_table* table, const poem_sink& on_poem) {
    CHARLM_TRY(cfg.validate());
    CHARLM_TRY(pc.validate());
    CHARLM_ASSERT(pc.active());
    auto heads = acrostic_heads(model, pc);
    if (!heads) return heads.err();
    auto form = form_of(pc, heads->size());
    if (!form) return form.err();
    prosody_table loaded;
    auto prosody = prosody_for(pc, table, loaded);
    if (!prosody) return prosody.err();
    auto marks = poem_marks::of(model.vocab(), model.text());
    if (!marks) return marks.err();
    auto script = *prosody ? script_of(model.text(), model.vocab()) : result<text_script>(text_script::simplified);
    if (!script) return script.err();
    auto c = poem_constraint::make(model.vocab(), *marks, std::move(*form), *heads, pc.rhyme, pc.tones, *prosody,
                                   *script);
    if (!c) return c.err();
    auto prefix_ids = known_tokens(model, prefix, "--prefix", unknown_policy::error);
    if (!prefix_ids) return prefix_ids.err();
    auto start = after_prefix(*c, model.vocab(), prefix, *prefix_ids);
    if (!start) return start.err();
    auto context = context_of(model, pc, cfg.unknown, marks->newline);
    if (!context) return context.err();

    const thread_guard threads(model);
    poem_writer writer(model, *c, *context, cfg, pc.min_mass);
    std::vector<poem_result> out;
    for (uint32_t r = 0; r < cfg.num_samples; ++r) {
        auto poem = writer.write(*prefix_ids, *start, row_stream_state(cfg.seed, r));
        if (!poem) return poem.err();
        const bool more = !on_poem || on_poem(r, *poem);
        out.push_back(std::move(*poem));
        if (!more) break;
    }
    return out;
}

}  // namespace charlm
