// Sampling poems that keep their form: at each step the poem_constraint's forced token, or a draw
// (the user's temperature / top-k / top-p) from the tokens it allows; where those hold almost no
// probability the poem backs up: the line (up to 4 times), then the couplet (4 times), then the
// whole poem, and after 64 backups any allowed token is taken however unlikely. A backup re-reads
// the kept text into a fresh state (a poem is a few dozen tokens).
// Not here: the per-position rules (poem_constraint.cpp), printing (app/).
#include <fmt/core.h>

#include <omp.h>

#include <cmath>
#include <limits>
#include <optional>

#include "charlm/poem.hpp"
#include "layers/softmax_xent.h"
#include "sample/poem_impl.h"

namespace charlm {

namespace {

constexpr uint32_t line_tries = 4, couplet_tries = 4;
constexpr uint64_t relax_after = 64;     // backups of one poem before the mass threshold is dropped
constexpr uint64_t give_up_after = 20000;  // only dead ends (nothing allowed) are left by then

// Tokens of `text` in the model's vocabulary, or an error naming the unknown ones.
result<std::vector<uint32_t>> known_tokens(const language_model& model, const std::string& text, std::string_view what,
                                           unknown_policy policy) {
    auto tokens = segment_utf8(text, model.text());
    if (!tokens) return tokens.err();
    std::vector<uint32_t> ids;
    std::string unknown;
    uint32_t count = 0;
    for (const auto& t : *tokens) {
        if (model.vocab().contains(t)) ids.push_back(model.vocab().id(t));
        else if (policy == unknown_policy::unk) ids.push_back(vocabulary::unk_id);
        else if (policy == unknown_policy::error && count++ < 10)
            unknown += fmt::format("{}'{}' ({})", unknown.empty() ? "" : ", ", t, describe_code_points(t));
    }
    if (count > 0)
        return make_error(errc::usage, fmt::format("{} has {} character(s) the model never saw: {}{}; leave them out",
                                                   what, count, unknown, count > 10 ? ", ..." : ""));
    return ids;
}

// The model's probabilities at one step: w (V) = exp(logit - max), their sum, for the allowed
// tokens' share and the NLL of the chosen one.
struct step_probs {
    std::vector<float> w;
    float max = 0;
    double total = 0;
    void compute(const float* logits, uint32_t v) {
        w.resize(v);
        max = -std::numeric_limits<float>::infinity();
        for (uint32_t i = 0; i < v; ++i) max = logits[i] > max ? logits[i] : max;
        for (uint32_t i = 0; i < v; ++i) w[i] = std::isnan(logits[i]) ? -INFINITY : logits[i] - max;
        nn::fast_exp(w.data(), w.data(), v);
        total = 0;
        for (uint32_t i = 0; i < v; ++i) total += w[i];
    }
    double nll(const float* logits, uint32_t id) const { return std::log(total) - (logits[id] - max); }
};

class poem_writer {
public:
    poem_writer(const language_model& model, const poem_constraint& c, const std::vector<uint32_t>& context,
                const sample_config& cfg, double min_mass)
        : model_(model), c_(c), context_(context), sampler_(sampler_of(cfg)), min_mass_(min_mass),
          v_(model.vocab().size()) {}

    // One poem after `prefix` (already checked against the constraint, ending in state `start`).
    result<poem_result> write(const std::vector<uint32_t>& prefix, const poem_constraint::state& start,
                              uint64_t rng) {
        poem_stats stats;
        std::vector<uint32_t> fed = prefix;  // the poem's tokens so far
        std::vector<double> nll;             // (fed.size() - prefix.size()) NLL of each generated token
        struct snapshot {
            poem_constraint::state state;
            size_t fed = 0;
        };
        const snapshot poem_snap{start, fed.size()};
        snapshot line_snap = poem_snap, couplet_snap = poem_snap;
        uint32_t line_left = line_tries, couplet_left = couplet_tries;
        poem_constraint::state s = start;
        uint32_t line = s.line;
        double min_mass = min_mass_;
        const float* logits = refeed(fed);
        while (!c_.done(s)) {
            if (s.line != line) {  // a new line reached by writing, not by backing up
                line = s.line;
                line_snap = {s, fed.size()};
                line_left = line_tries;
                if (line % 2 == 0) {
                    couplet_snap = line_snap;
                    couplet_left = couplet_tries;
                }
            }
            const int32_t forced = c_.next(s, allowed_);
            probs_.compute(logits, v_);
            uint32_t tok = 0;
            if (forced >= 0) {
                tok = static_cast<uint32_t>(forced);
            } else {
                masked_.assign(logits, logits + v_);
                double mass = 0;
                for (uint32_t i = 0; i < v_; ++i) {
                    if (allowed_[i]) mass += probs_.w[i];
                    else masked_[i] = -std::numeric_limits<float>::infinity();
                }
                mass /= probs_.total;
                if (!(mass > 0) || mass < min_mass) {
                    // Back up: the line while it has tries left, then the couplet, then the poem.
                    if (stats.backups() >= give_up_after)
                        return make_error(errc::input,
                                          fmt::format("no poem of form {} could be completed after {} backups: the "
                                                      "model's vocabulary leaves no character for line {}, position "
                                                      "{}; relax --tones or --rhyme, or change the --acrostic",
                                                      c_.form().name, stats.backups(), s.line + 1, s.pos + 1));
                    const snapshot* to = &poem_snap;
                    if (line_left > 0 && fed.size() > line_snap.fed) {
                        --line_left;
                        ++stats.line_backups;
                        to = &line_snap;
                    } else if (couplet_left > 0 && fed.size() > couplet_snap.fed) {
                        --couplet_left;
                        ++stats.couplet_backups;
                        line_snap = couplet_snap;
                        line_left = line_tries;
                        to = &couplet_snap;
                    } else {
                        ++stats.restarts;
                        line_snap = couplet_snap = poem_snap;
                        line_left = line_tries;
                        couplet_left = couplet_tries;
                    }
                    if (stats.backups() >= relax_after) min_mass = 0;
                    s = to->state;
                    line = s.line;
                    fed.resize(to->fed);
                    nll.resize(to->fed - prefix.size());
                    logits = refeed(fed);
                    continue;
                }
                tok = sample_logits(masked_.data(), v_, sampler_, rng, scratch_);
                CHARLM_ASSERT(allowed_[tok]);
            }
            nll.push_back(probs_.nll(logits, tok));
            c_.advance(s, tok);
            fed.push_back(tok);
            if (!c_.done(s)) {
                const auto id = static_cast<int32_t>(tok);
                logits = gen_->step(&id);
            }
        }
        poem_result r;
        for (uint32_t id : fed) r.text += model_.vocab().token(id);
        for (double x : nll) stats.nll += x;
        stats.tokens = nll.size();
        r.stats = stats;
        return r;
    }

private:
    // A fresh state that has read the context and `fed`; the logits after the last token.
    const float* refeed(const std::vector<uint32_t>& fed) {
        gen_.emplace(model_, 1);
        const float* logits = nullptr;
        for (uint32_t id : context_) {
            const auto x = static_cast<int32_t>(id);
            logits = gen_->step(&x);
        }
        for (uint32_t id : fed) {
            const auto x = static_cast<int32_t>(id);
            logits = gen_->step(&x);
        }
        return logits;
    }

    const language_model& model_;
    std::optional<generator> gen_;  // one row, remade by each backup
    const poem_constraint& c_;
    const std::vector<uint32_t>& context_;
    token_sampler sampler_;
    double min_mass_;
    uint32_t v_;
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

result<std::vector<poem_result>> generate_poems(const language_model& model, const std::string& prefix,
                                                const sample_config& cfg, const poem_config& pc,
                                                const prosody_table* table, const poem_sink& on_poem) {
    CHARLM_TRY(cfg.validate());
    CHARLM_TRY(pc.validate());
    CHARLM_ASSERT(pc.active());
    const vocabulary& vocab = model.vocab();

    // The heads: characters the model knows, each a Han character.
    auto heads = known_tokens(model, pc.acrostic, "--acrostic", unknown_policy::error);
    if (!heads) return heads.err();
    for (uint32_t h : *heads)
        if (!poem::is_han(vocab.token(h)))
            return make_error(errc::usage, fmt::format("--acrostic head '{}' is not a Han character; every head starts "
                                                       "a line of Chinese characters",
                                                       vocab.token(h)));
    poem_form form;
    if (!pc.form.empty()) {
        auto f = parse_poem_form(pc.form);
        if (!f) return f.err();
        form = std::move(*f);
    } else {
        // Without a form, one line of seven characters per head (a 4-character head makes a 七绝).
        form.lines.assign(heads->size(), 7);
        form.name = heads->size() == 4 ? "七绝" : heads->size() == 8 ? "七律" : fmt::format("{}x7", heads->size());
        if (heads->size() > poem_form::max_lines)
            return make_error(errc::usage, fmt::format("--acrostic has {} characters, more than the {} lines a poem "
                                                       "may have",
                                                       heads->size(), poem_form::max_lines));
    }
    if (heads->empty() && !pc.acrostic.empty())
        return make_error(errc::usage, "--acrostic is empty after the model's preprocessing");

    prosody_table loaded;
    if (pc.needs_prosody() && !table) {
        auto t = prosody_table::load(pc.prosody_path);
        if (!t) return t.err();
        loaded = std::move(*t);
        table = &loaded;
    }
    auto constraint = poem_constraint::make(vocab, form, *heads, pc.rhyme, pc.tones, table);
    if (!constraint) return constraint.err();
    const poem_constraint& c = *constraint;

    // The prefix starts the first line: each of its characters must be allowed where it stands.
    auto prefix_ids = known_tokens(model, prefix, "--prefix", unknown_policy::error);
    if (!prefix_ids) return prefix_ids.err();
    poem_constraint::state start = c.start();
    std::vector<uint8_t> allowed;
    for (size_t i = 0; i < prefix_ids->size(); ++i) {
        const uint32_t id = (*prefix_ids)[i];
        if (start.line > 0 || start.pos >= form.lines[0])
            return make_error(errc::usage, fmt::format("--prefix has {} characters but the first line of --form {} has "
                                                       "{}; with a form the prefix starts the first line",
                                                       prefix_ids->size(), form.name, form.lines[0]));
        const int32_t forced = c.next(start, allowed);
        if (forced >= 0 ? static_cast<uint32_t>(forced) != id : !allowed[id])
            return make_error(errc::usage,
                              fmt::format("--prefix '{}' cannot start the poem: its character {} '{}' {}", prefix, i + 1,
                                          vocab.token(id),
                                          forced >= 0 ? fmt::format("must be the acrostic head '{}'",
                                                                    vocab.token(static_cast<uint32_t>(forced)))
                                                      : std::string("does not fit the form, tones or rhyme there")));
        c.advance(start, id);
    }

    // The context the poem follows: the mood, then a line break; without a mood, a line break.
    std::vector<uint32_t> context;
    if (!pc.mood.empty()) {
        auto mood = known_tokens(model, pc.mood, "--mood", cfg.unknown);
        if (!mood) return mood.err();
        context = std::move(*mood);
    }
    if (context.empty() || context.back() != vocab.id("\n")) context.push_back(vocab.id("\n"));

    // As generate(): a small model's step runs faster on one thread (see generate.cpp).
    const model_config& mc = model.config();
    double step_flops = 2.0 * mc.hidden * vocab.size();
    for (uint32_t l = 0; l < mc.layers; ++l)
        step_flops += 2.0 * gate_count(mc.cell) * mc.hidden * ((l == 0 ? mc.input_width() : mc.hidden) + mc.hidden);
    struct thread_guard {
        int saved = omp_get_max_threads();
        ~thread_guard() { omp_set_num_threads(saved); }
    } restore_threads;
    if (step_flops * 3.0 < 6.5e6) omp_set_num_threads(1);

    poem_writer writer(model, c, context, cfg, pc.min_mass);
    std::vector<poem_result> out;
    for (uint32_t r = 0; r < cfg.num_samples; ++r) {
        auto poem = writer.write(*prefix_ids, start, row_stream_state(cfg.seed, r));
        if (!poem) return poem.err();
        const bool more = !on_poem || on_poem(r, *poem);
        out.push_back(std::move(*poem));
        if (!more) break;
    }
    return out;
}

}  // namespace charlm
