// Poems from a request: the fixed characters (acrostic heads, a template, keywords placed by their
// plan), the form, the prefix and mood, the rows sampled (poem_writer.cpp) and, with --best-of,
// the candidates ranked by score_poem.
// Not here: the per-position rules (poem_constraint.cpp), the sampling loop, printing (app/).
#include <fmt/core.h>

#include <omp.h>

#include <algorithm>
#include <optional>

#include "charlm/poem.hpp"
#include "sample/poem_impl.h"
#include "sample/sampling_impl.h"

namespace charlm {

namespace {

using sampling::known_tokens;
using sampling::script_of;
using sampling::thread_guard;

}  // namespace

status poem_config::validate() const {
    if (!(min_mass >= 0 && min_mass < 1))
        return make_error(errc::usage, fmt::format("the minimum allowed mass must be in [0, 1), got {}", min_mass));
    if (!active() && (needs_prosody() || !mood.empty() || !keywords.empty() || best_of > 0 || beam > 0))
        return make_error(errc::usage, "--rhyme, --tones, --mood, --keywords, --best-of and --beam need --form or "
                                       "--acrostic (or --template)");
    if (best_of > 0 && beam > 0)
        return make_error(errc::usage, "--best-of samples candidates and --beam searches for the most likely poems: "
                                       "give one of them");
    if (beam > max_beam)
        return make_error(errc::usage, fmt::format("--beam must be at most {}, got {}", max_beam, beam));
    if (!template_text.empty() && (!form.empty() || !acrostic.empty()))
        return make_error(errc::usage, "--template gives the form and the fixed characters: leave out --form and "
                                       "--acrostic (write the heads into the template)");
    if (best_of > max_best_of)
        return make_error(errc::usage, fmt::format("--best-of must be at most {}, got {}", max_best_of, best_of));
    for (double x : {weights.repeat, weights.line, weights.copy})
        if (!(x >= 0 && x < 1e6))
            return make_error(errc::usage, fmt::format("--repeat-penalty, --line-penalty and --copy-penalty must be "
                                                       ">= 0 (nats), got {}",
                                                       x));
    return status::success();
}

status poem_config::validate(const sample_config& cfg) const {
    CHARLM_TRY(validate());
    if (best_of > 0 && best_of < cfg.num_samples)
        return make_error(errc::usage, fmt::format("--best-of {} keeps the best --num-samples of its candidates: it "
                                                   "needs at least {} (--num-samples)",
                                                   best_of, cfg.num_samples));
    if (beam > 0 && beam < cfg.num_samples)
        return make_error(errc::usage, fmt::format("--beam {} keeps that many poems: --num-samples {} needs a beam at "
                                                   "least as wide",
                                                   beam, cfg.num_samples));
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

// Han characters the model knows, from `text` as the option gives it (`what` names it).
result<std::vector<uint32_t>> han_tokens(const language_model& model, const std::string& text, const std::string& what) {
    auto ids = known_tokens(model, text, what, unknown_policy::error);
    if (!ids) return ids.err();
    for (uint32_t h : *ids)
        if (!poem::is_han(model.vocab().token(h)))
            return make_error(errc::usage, fmt::format("{} has '{}', which is not a Han character; a poem's lines "
                                                       "are Han characters",
                                                       what, model.vocab().token(h)));
    if (ids->empty() && !text.empty()) return make_error(errc::usage, what + " is empty after the model's preprocessing");
    return ids;
}

// The acrostic's heads: line i starts with its i-th character.
result<std::vector<fixed_char>> acrostic_heads(const language_model& model, const poem_config& pc) {
    auto heads = han_tokens(model, pc.acrostic, "--acrostic");
    if (!heads) return heads.err();
    std::vector<fixed_char> out;
    for (uint32_t i = 0; i < heads->size(); ++i) out.push_back({i, 0, (*heads)[i], "acrostic head"});
    return out;
}

// The template's fixed characters as the model's tokens.
result<std::vector<fixed_char>> template_chars(const language_model& model, const poem_template& t) {
    std::vector<fixed_char> out;
    for (const auto& f : t.chars) {
        auto id = han_tokens(model, f.character, fmt::format("--template (line {} character {})", f.line + 1, f.pos + 1));
        if (!id) return id.err();
        if (id->size() != 1)
            return make_error(errc::usage, fmt::format("--template character '{}' is {} tokens of the model, not one",
                                                       f.character, id->size()));
        out.push_back({f.line, f.pos, id->front(), "template character"});
    }
    return out;
}

// --form; the template's; or without either a line of seven per head (a 4-character head makes a 七绝).
result<poem_form> form_of(const poem_config& pc, const poem_template* t, size_t heads) {
    if (t) return t->form;
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

// The keywords' words and their tokens.
result<std::vector<std::vector<uint32_t>>> keyword_tokens(const language_model& model, const std::vector<std::string>& words) {
    std::vector<std::vector<uint32_t>> out;
    for (const auto& w : words) {
        auto ids = han_tokens(model, w, fmt::format("--keywords '{}'", w));
        if (!ids) return ids.err();
        out.push_back(std::move(*ids));
    }
    return out;
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
                                          forced >= 0 ? fmt::format("must be the {} '{}'", c.fixed_at(0, s.pos)
                                                                    ? c.fixed_at(0, s.pos)->what : "character",
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

// The constraint of a request: the form, the fixed characters (acrostic heads, template, then the
// keywords placed by their plan), rhyme and tones.
// The prefix's characters hold their places in line 1 for the keyword plan (after_prefix checks them).
std::vector<fixed_char> prefix_places(const vocabulary& vocab, const std::vector<uint32_t>& prefix, uint32_t line_length) {
    std::vector<fixed_char> out;
    for (uint32_t k = 0; k < prefix.size() && k < line_length; ++k)
        if (poem::is_han(vocab.token(prefix[k]))) out.push_back({0, k, prefix[k], "--prefix character"});
    return out;
}

result<poem_constraint> constraint_of(const language_model& model, const poem_config& pc, const prosody_table* table,
                                      const std::vector<uint32_t>& prefix) {
    std::optional<poem_template> tmpl;
    if (!pc.template_text.empty()) {
        auto t = parse_poem_template(pc.template_text);
        if (!t) return t.err();
        tmpl = std::move(*t);
    }
    auto fixed = tmpl ? template_chars(model, *tmpl) : acrostic_heads(model, pc);
    if (!fixed) return fixed.err();
    auto form = form_of(pc, tmpl ? &*tmpl : nullptr, fixed->size());
    if (!form) return form.err();
    if (!tmpl && fixed->size() > form->lines.size())
        return make_error(errc::usage, fmt::format("--acrostic has {} characters but --form {} has {} lines",
                                                   fixed->size(), form->name, form->lines.size()));
    auto marks = poem_marks::of(model.vocab(), model.text());
    if (!marks) return marks.err();
    auto script = table ? script_of(model.text(), model.vocab()) : result<text_script>(text_script::simplified);
    if (!script) return script.err();
    std::vector<std::string> words;
    if (!pc.keywords.empty()) {
        auto w = parse_keywords(pc.keywords);
        if (!w) return w.err();
        words = std::move(*w);
    }
    auto c = poem_constraint::make(model.vocab(), *marks, std::move(*form), *fixed, pc.rhyme, pc.tones, table, *script);
    if (!c || words.empty()) return c;
    auto ids = keyword_tokens(model, words);
    if (!ids) return ids.err();
    // The prefix joins the fixed characters only for the plan: the constraint keeps the others.
    std::vector<fixed_char> taken = *fixed;
    for (auto& f : prefix_places(model.vocab(), prefix, c->form().lines[0]))
        if (!c->fixed_at(0, f.pos)) taken.push_back(std::move(f));
    auto placed = poem::plan_keywords(*c, model.vocab(), taken, words, *ids);
    if (!placed) return placed.err();
    std::erase_if(*placed, [](const fixed_char& f) { return f.what == "--prefix character"; });
    CHARLM_TRY(c->set_fixed(model.vocab(), std::move(*placed)));
    return c;
}

// The candidates scored; with --best-of, the best num_samples of them, best first (ties: the
// earlier row).
std::vector<poem_result> choose(std::vector<poem_result> rows, const sample_config& cfg, const poem_config& pc) {
    for (uint32_t r = 0; r < rows.size(); ++r) {
        rows[r].candidate = r;
        rows[r].score = score_poem(rows[r], pc.weights, pc.novelty_text);
    }
    if (pc.beam > 0) rows.resize(std::min<size_t>(rows.size(), cfg.num_samples));  // most likely first already
    if (pc.best_of == 0) return rows;
    std::stable_sort(rows.begin(), rows.end(),
                     [](const poem_result& a, const poem_result& b) { return a.score.total < b.score.total; });
    rows.resize(cfg.num_samples);
    return rows;
}

}  // namespace

result<std::vector<poem_result>> generate_poems(const language_model& model, const std::string& prefix,
                                                const sample_config& cfg, const poem_config& pc,
                                                const prosody_table* table, const poem_sink& on_poem) {
    CHARLM_TRY(cfg.validate());
    CHARLM_TRY(pc.validate(cfg));
    CHARLM_ASSERT(pc.active());
    prosody_table loaded;
    auto prosody = prosody_for(pc, table, loaded);
    if (!prosody) return prosody.err();
    auto prefix_ids = known_tokens(model, prefix, "--prefix", unknown_policy::error);
    if (!prefix_ids) return prefix_ids.err();
    auto c = constraint_of(model, pc, *prosody, *prefix_ids);
    if (!c) return c.err();
    auto start = after_prefix(*c, model.vocab(), prefix, *prefix_ids);
    if (!start) return start.err();
    auto marks = poem_marks::of(model.vocab(), model.text());
    if (!marks) return marks.err();
    auto context = context_of(model, pc, cfg.unknown, marks->newline);
    if (!context) return context.err();

    const thread_guard threads(model);
    const uint32_t rows = pc.best_of > 0 ? pc.best_of : cfg.num_samples;
    auto written = pc.beam > 0 ? poem::beam_poems(model, *c, *context, *prefix_ids, *start, cfg.precision, pc.beam)
                               : poem::write_poems(model, *c, *context, *prefix_ids, *start, cfg, rows, pc.min_mass);
    if (!written) return written.err();
    std::vector<poem_result> out = choose(std::move(*written), cfg, pc);
    if (on_poem)
        for (uint32_t r = 0; r < out.size(); ++r)
            if (!on_poem(r, out[r])) {
                out.resize(r + 1);
                break;
            }
    return out;
}

}  // namespace charlm
