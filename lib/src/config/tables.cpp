// THE option tables: each setting of text_config, model_config, train_config, sample_config and
// poem_config declared once, in --help order. A new setting is one entry here (and its field in the struct):
// the CLI, --config files, model and checkpoint JSON, --resume and validation follow from it.
// Defaults are the structs' own; a JSON key differs from the name only where old files say so.
#include "config/field.h"

namespace charlm {

using detail::field;

namespace {

// Field accessors for field(): one lambda serves a const and a non-const struct.
#define MEMBER(path) [](auto& c) -> auto& { return c.path; }

value_range between(double lo, double hi) { return {lo, hi, false, false}; }
value_range at_least(double lo) { return {lo, std::nullopt, false, false}; }
value_range above(double lo) { return {lo, std::nullopt, true, false}; }
value_range from_up_to_excluding(double lo, double hi) { return {lo, hi, false, true}; }  // [lo, hi)
value_range above_up_to(double lo, double hi) { return {lo, hi, true, false}; }          // (lo, hi]

constexpr on_resume fixed = on_resume::fixed;

// --valid-every: a step count ("500") or a duration ("2m"), kept as two numbers (one of them 0).
option<train_config> valid_every_option(const std::string& group) {
    using C = train_config;
    option<C> o;
    o.info = {.name = "valid-every", .group = group, .help = "also validate inside epochs: every N steps (e.g. "
              "500) or this often (e.g. 2m); validation always runs at the end of an epoch",
              .json_key = "valid_every", .since_v1 = false, .show_default = false};
    o.show = [](const C& c) {
        return c.valid_every_s > 0 ? fmt::format("{}s", c.valid_every_s) : fmt::format("{}", c.valid_every_steps);
    };
    o.parse = [](C& c, const std::vector<std::string>& v) -> status {
        if (v.empty()) return {};
        const std::string& t = v.back();
        if (!t.empty() && t.find_first_not_of("0123456789") == std::string::npos) {  // a step count, any length
            if (t.size() > 10 || std::stoull(t) > UINT32_MAX)
                return make_error(errc::usage, fmt::format("--valid-every {}: a step count must be at most {}; "
                                                           "for a duration give a unit (e.g. 30s, 2m)",
                                                           t, UINT32_MAX));
            c.valid_every_steps = static_cast<uint32_t>(std::stoull(t));
            c.valid_every_s = 0;
            return {};
        }
        auto d = t.find_first_not_of("0123456789.") == std::string::npos ? decltype(parse_duration(t))(
                                                                                 make_error(errc::usage, ""))
                                                                           : parse_duration(t);
        if (!d)  // "1.5" is neither: a step count is whole, a duration has its unit
            return make_error(errc::usage, fmt::format("--valid-every: '{}' is neither a step count (e.g. 500) nor "
                                                       "a duration with its unit (e.g. 30s, 2m)", t));
        c.valid_every_steps = 0;
        c.valid_every_s = *d;
        return {};
    };
    o.write = [](const C& c, detail::json& j) {
        j["valid_every_steps"] = c.valid_every_steps;
        j["valid_every_s"] = c.valid_every_s;
    };
    o.read = [](C& c, const detail::json& j) -> status {  // absent from files written before it existed
        c.valid_every_steps = j.value("valid_every_steps", c.valid_every_steps);
        c.valid_every_s = j.value("valid_every_s", c.valid_every_s);
        return {};
    };
    o.same = [](const C& a, const C& b) {
        return a.valid_every_steps == b.valid_every_steps && a.valid_every_s == b.valid_every_s;
    };
    o.copy = [](const C& from, C& to) {
        to.valid_every_steps = from.valid_every_steps;
        to.valid_every_s = from.valid_every_s;
    };
    o.number = [](const C&) -> std::optional<double> { return std::nullopt; };  // parse() checks it
    o.written = [](const C& c) { return c.valid_every_steps != 0 || c.valid_every_s != 0; };
    return o;
}

// train's --precision: the name alone as it is read (a checkpoint of a bf16 run stays readable on a
// CPU without bf16, to resume in f32); train_config::validate() refuses what cannot train here.
struct train_precision_codec : detail::enum_codec<precision> {};

// --precision: declared here once for `generate` (sample_config) and `eval` (eval_options).
template <class C>
option<C> precision_option(const std::string& group) {
    return field<C>({.name = "precision", .group = group, .help = "arithmetic of generation or evaluation, the "
                     "weights converted from the f32 file as it loads: f32; int8 (an LSTM's recurrence on oneDNN's int8 primitive, other "
                     "cells' in f32, the output layer in charlm's int8 kernels; docs/int8.md); or bf16 (CPUs with "
                     "avx512_bf16 only: every cell on oneDNN's bf16 primitives, the output layer in charlm's bf16 "
                     "kernel; docs/bf16.md)",
                     .resume = on_resume::none, .stored = false}, MEMBER(precision));
}

// A setting added after format version 1, stored only when it differs from its default, so that
// the files of runs that do not use it read and write back byte for byte as before.
template <class C, class IsDefault>
option<C> stored_unless(option<C> o, IsDefault is_default) {
    o.written = [is_default](const C& c) { return !is_default(c); };
    return o;
}

option_table<text_config> make_text_options() {
    using C = text_config;
    const std::string g = "Text";
    const std::string part = "the text preprocessing";
    return {
        field<C>({.name = "encoding", .group = g, .help = "input encoding: an ICU converter name (UTF-8, GB18030, Big5, "
                  "Shift_JIS, UTF-16LE, ...) or auto", .resume = fixed, .part = part}, MEMBER(encoding)),
        field<C>({.name = "on-invalid", .group = g, .help = "what to do with ill-formed input (replace puts U+FFFD in "
                  "its place)", .resume = fixed, .part = part}, MEMBER(on_invalid)),
        field<C>({.name = "normalize", .group = g, .help = "Unicode normalization", .resume = fixed, .part = part},
                 MEMBER(normalize)),
        field<C>({.name = "unit", .group = g, .help = "token unit, an extended grapheme cluster or a code point",
                  .resume = fixed, .part = part}, MEMBER(unit)),
        field<C>({.name = "lowercase", .group = g, .help = "lowercase the text (ICU, locale-independent)",
                  .resume = fixed, .part = part}, MEMBER(lowercase)),
        stored_unless(field<C>({.name = "convert-corpus", .group = g, .help = "convert Chinese text to the other "
                                "script as it is read (t2s: traditional to simplified; s2t: the reverse; OpenCC's "
                                "phrases), recorded with the model and applied to all its later input",
                                .resume = fixed, .part = part, .since_v1 = false}, MEMBER(convert)),
                      [](const C& c) { return c.convert == script_conversion::none; }),
        stored_unless(field<C>({.name = "", .group = g, .help = "the script the training text is written in, "
                                "measured when a model is trained", .resume = on_resume::none,
                                .json_key = "script", .since_v1 = false}, MEMBER(script)),
                      [](const C& c) { return c.script == text_script::unknown; }),
    };
}

option_table<model_config> make_model_options() {
    using C = model_config;
    const std::string g = "Model";
    const std::string model = "the model", output = "the output layer";
    auto adaptive = [](const C& c) { return c.softmax == softmax_type::adaptive; };  // absent: full (older files)
    option_table<C> t{
        field<C>({.name = "cell", .group = g, .help = "recurrent cell", .resume = fixed, .part = model}, MEMBER(cell)),
        field<C>({.name = "layers", .group = g, .help = "stacked recurrent layers", .resume = fixed, .part = model,
                  .range = between(1, 16)}, MEMBER(layers)),
        field<C>({.name = "hidden", .group = g, .help = "hidden size H", .resume = fixed, .part = model,
                  .range = between(1, 8192)}, MEMBER(hidden)),
        field<C>({.name = "embed", .group = g, .help = "embedding size (0: one-hot input)", .resume = fixed,
                  .part = model, .range = between(0, 8192)}, MEMBER(embed)),
        field<C>({.name = "dropout", .group = g, .help = "dropout between layers", .resume = fixed, .part = model,
                  .range = from_up_to_excluding(0, 1)}, MEMBER(dropout)),
        stored_unless(field<C>({.name = "dropout-input", .group = g, .help = "dropout on the first layer's input "
                               "(the embedding)", .resume = fixed, .part = model,
                               .range = from_up_to_excluding(0, 1), .since_v1 = false}, MEMBER(dropout_input)),
                      [](const C& c) { return c.dropout_input == 0.0f; }),
        stored_unless(field<C>({.name = "dropout-output", .group = g, .help = "dropout on the last layer's output "
                               "(the output layer's input)", .resume = fixed, .part = model,
                               .range = from_up_to_excluding(0, 1), .since_v1 = false}, MEMBER(dropout_output)),
                      [](const C& c) { return c.dropout_output == 0.0f; }),
        field<C>({.name = "", .group = g, .help = "vocabulary size V, from the corpus", .resume = on_resume::none,
                  .json_key = "vocab"}, MEMBER(vocab)),
        field<C>({.name = "softmax", .group = g, .help = "output layer; adaptive puts frequent tokens in a head and "
                  "rarer ones in clusters behind narrower projections, much faster for large vocabularies such as "
                  "Chinese", .resume = fixed, .part = output, .since_v1 = false}, MEMBER(softmax)),
        field<C>({.name = "cutoffs", .group = g, .help = "adaptive softmax cluster boundaries as token ids in frequency "
                  "order, e.g. 1000,3000 (implies --softmax adaptive; default: chosen from the corpus, the head "
                  "covering 80% of the text)", .resume = fixed, .part = output, .since_v1 = false}, MEMBER(cutoffs)),
        field<C>({.name = "div-value", .group = g, .help = "adaptive softmax: cluster k's projection is hidden / "
                  "div-value^k wide", .resume = fixed, .part = output, .range = between(1, 1024), .since_v1 = false},
                 MEMBER(div_value)),
    };
    for (auto& o : t)
        if (o.info.name == "softmax" || o.info.name == "cutoffs" || o.info.name == "div-value") o.written = adaptive;
    return t;
}

// train_config's options, group by group in the order --help lists them.
option_table<train_config> train_data_options() {
    using C = train_config;
    const std::string data = "Data", valid = "the validation text";
    return {
        field<C>({.name = "corpus", .group = data, .help = "training text file (required)", .show_default = false},
                 MEMBER(corpus)),
        field<C>({.name = "valid", .group = data, .help = "separate validation text file", .resume = fixed,
                  .part = valid}, MEMBER(valid)),
        field<C>({.name = "valid-fraction", .group = data, .help = "use the last fraction of the corpus for validation "
                  "when --valid is not given (0: none)", .resume = fixed, .part = valid,
                  .range = from_up_to_excluding(0, 1)}, MEMBER(valid_fraction)),
        field<C>({.name = "valid-tokens", .group = data, .help = "validate on at most the first N tokens of the "
                  "validation text (0: all of it): each validation of a large corpus's held-out part would take "
                  "minutes", .resume = fixed, .part = valid, .since_v1 = false}, MEMBER(valid_tokens)),
        field<C>({.name = "min-count", .group = data, .help = "tokens seen fewer times fold into <unk>",
                  .resume = fixed, .range = at_least(1)}, MEMBER(min_count)),
    };
}

// The minibatches, the optimizer and its rate, the length of the run.
option_table<train_config> train_optimization_options() {
    using C = train_config;
    const std::string training = "Training";
    return {
        field<C>({.name = "batch", .group = training, .help = "sequences per batch N", .resume = fixed,
                  .range = between(1, 65536)}, MEMBER(batch)),
        field<C>({.name = "steps", .group = training, .help = "time steps per sequence T (truncated BPTT)",
                  .resume = fixed, .range = between(1, 100000)}, MEMBER(steps)),
        field<C>({.name = "sampling", .group = training, .help = "minibatches", .resume = fixed}, MEMBER(scheme)),
        field<C>({.name = "epochs", .group = training, .help = "epochs (0: until --time-budget)"}, MEMBER(epochs)),
        field<C, detail::duration_codec>({.name = "time-budget", .group = training, .help = "stop after this long, "
                  "e.g. 45s, 10m, 1h", .json_key = "time_budget_s", .show_default = false},
                 MEMBER(time_budget_s)),
        field<C>({.name = "optimizer", .group = training, .help = "optimizer", .resume = fixed}, MEMBER(optimizer)),
        field<C>({.name = "lr", .group = training, .help = "learning rate", .range = above(0)}, MEMBER(lr)),
        field<C>({.name = "lr-decay", .group = training, .help = "learning-rate factor per epoch",
                  .range = above_up_to(0, 1)}, MEMBER(lr_decay)),
        stored_unless(field<C>({.name = "lr-schedule", .group = training, .help = "the rate over the run: "
                               "constant, or cosine (from --lr down to --lr-final x --lr at the end of the run's "
                               "epochs or time budget)", .since_v1 = false}, MEMBER(schedule)),
                      [](const C& c) { return c.schedule == lr_schedule::constant; }),
        stored_unless(field<C>({.name = "lr-final", .group = training, .help = "with --lr-schedule cosine: the "
                               "rate at the end, as a fraction of --lr", .range = between(0, 1),
                               .since_v1 = false}, MEMBER(lr_final)),
                      [](const C& c) { return c.lr_final == train_config{}.lr_final; }),
        stored_unless(field<C>({.name = "warmup", .group = training, .help = "steps over which the rate rises "
                               "linearly to --lr at the start of the run (0: none)", .since_v1 = false},
                               MEMBER(warmup)),
                      [](const C& c) { return c.warmup == 0; }),
        field<C>({.name = "clip", .group = training, .help = "global gradient-norm threshold (0: no clipping)",
                  .range = at_least(0)}, MEMBER(clip)),
        stored_unless(field<C>({.name = "weight-decay", .group = training, .help = "decoupled weight decay "
                               "(AdamW): every weight shrinks by lr x this each step (0: none)", .range = at_least(0),
                               .since_v1 = false}, MEMBER(weight_decay)),
                      [](const C& c) { return c.weight_decay == 0.0f; }),
        field<C>({.name = "seed", .group = training, .help = "random seed (initialization, batches, samples)",
                  .resume = fixed}, MEMBER(seed)),
        stored_unless(field<C, train_precision_codec>({.name = "precision", .group = training, .help = "the "
                               "recurrent layers' arithmetic: f32, or bf16 (CPUs with avx512_bf16 only: their forward "
                               "and backward on oneDNN's bf16 primitives; the weights, Adam's moments, gradients, the "
                               "output layer and the files stay f32; docs/bf16.md); may change on --resume",
                               .since_v1 = false}, MEMBER(precision)),
                      [](const C& c) { return c.precision == precision::f32; }),
        stored_unless(field<C>({.name = "deterministic-reduce", .group = training, .help = "under mpirun: sum the "
                               "gradients stream by stream in a fixed order, so that any number of processes "
                               "computes the same bits as one (slower: each stream is a pass of its own)",
                               .resume = fixed, .since_v1 = false}, MEMBER(deterministic_reduce)),
                      [](const C& c) { return !c.deterministic_reduce; }),
    };
}

// Reports, validation and what follows from it (stopping early, the plateau rate).
option_table<train_config> train_validation_options() {
    using C = train_config;
    const std::string training = "Training";
    return {
        field<C>({.name = "report-every", .group = training, .help = "steps between reports inside an epoch (0: about "
                  "every 10 s)"}, MEMBER(report_every)),
        valid_every_option(training),
        stored_unless(field<C>({.name = "patience", .group = training, .help = "stop after N validations in a row "
                               "without a new best validation perplexity (0: never)", .since_v1 = false},
                               MEMBER(patience)),
                      [](const C& c) { return c.patience == 0; }),
        stored_unless(field<C>({.name = "lr-plateau", .group = training, .help = "multiply the learning rate by "
                               "this after a validation without a new best (1: off)", .range = above_up_to(0, 1),
                               .since_v1 = false}, MEMBER(lr_plateau)),
                      [](const C& c) { return c.lr_plateau == 1.0f; }),
    };
}

option_table<train_config> train_output_options() {
    using C = train_config;
    const std::string output = "Output";
    return {
        field<C>({.name = "out", .group = output, .help = "model file to write (safetensors), after every epoch; also "
                  "<out>.best (lowest validation perplexity) and <out>.ckpt (checkpoint to resume from)"}, MEMBER(out)),
        field<C>({.name = "resume", .group = output, .help = "continue the run saved in this checkpoint (e.g. "
                  "model.safetensors.ckpt); its settings apply unless given here; --epochs and --time-budget count "
                  "the whole run", .resume = on_resume::none, .stored = false}, MEMBER(resume)),
        field<C>({.name = "checkpoint-every", .group = output, .help = "epochs between checkpoints (one is also "
                  "written at the end and on Ctrl-C)"}, MEMBER(checkpoint_every)),
        field<C>({.name = "keep-last", .group = output, .help = "also keep the K newest checkpoints as "
                  "<out>.epoch<E>.ckpt (0: none)"}, MEMBER(keep_last)),
        field<C>({.name = "metrics", .group = output, .help = "write every report as a JSON line to this file"},
                 MEMBER(metrics)),
        field<C>({.name = "prefix", .group = output, .help = "print a sample from this prefix (repeatable)",
                  .json_key = "prefixes"}, MEMBER(prefixes)),
        field<C>({.name = "sample-every", .group = output, .help = "epochs between samples (0: only at the end)"},
                 MEMBER(sample_every)),
        field<C>({.name = "sample-length", .group = output, .help = "tokens per sample",
                  .range = between(0, sample_config::max_length)}, MEMBER(sample_length)),
        field<C>({.name = "sample-temperature", .group = output, .help = "sampling temperature (0: argmax)",
                  .range = at_least(0)}, MEMBER(sample_temperature)),
    };
}

option_table<train_config> make_train_options() {
    option_table<train_config> t = train_data_options();
    detail::nest(t, text_options(), "text", MEMBER(text));
    detail::nest(t, model_options(), "model", MEMBER(model));
    for (auto part : {train_optimization_options(), train_validation_options(), train_output_options()})
        for (auto& o : part) t.push_back(std::move(o));
    return t;
}

option_table<sample_config> make_sample_options() {
    using C = sample_config;
    const std::string g = "Sampling";
    const auto none = on_resume::none;
    return {
        field<C>({.name = "length", .group = g, .help = "tokens to generate per sample", .resume = none,
                  .range = between(0, C::max_length), .stored = false}, MEMBER(length)),
        field<C>({.name = "temperature", .group = g, .help = "sampling temperature (0: argmax)", .resume = none,
                  .range = at_least(0), .stored = false}, MEMBER(temperature)),
        field<C>({.name = "top-k", .group = g, .help = "sample among the k most likely tokens (0: all)", .resume = none,
                  .stored = false}, MEMBER(top_k)),
        field<C>({.name = "top-p", .group = g, .help = "sample among the most likely tokens whose probabilities sum to "
                  "p (1: all)", .resume = none, .range = above_up_to(0, 1), .stored = false}, MEMBER(top_p)),
        field<C>({.name = "seed", .group = g, .help = "random seed", .resume = none, .stored = false}, MEMBER(seed)),
        field<C>({.name = "num-samples", .group = g, .help = "samples generated together, printed one after another "
                  "with a blank line between", .resume = none, .range = between(1, C::max_samples), .stored = false},
                 MEMBER(num_samples)),
        field<C>({.name = "stop", .group = g, .help = "end a sample once it ends with this text (repeatable)",
                  .resume = none, .stored = false}, MEMBER(stop)),
        field<C>({.name = "unknown", .group = g, .help = "prefix tokens the model never saw", .resume = none,
                  .stored = false}, MEMBER(unknown)),
        field<C>({.name = "convert", .group = g, .help = "Chinese input (prefix, stop, acrostic, mood) in the other "
                  "script than the model's: converted to the model's (auto, said on stderr) or kept as typed (off)",
                  .resume = none, .stored = false}, MEMBER(convert)),
        field<C>({.name = "script", .group = g, .help = "the script of the text printed: the model's own, or "
                  "converted to simplified or traditional characters (OpenCC's phrases) once it is written",
                  .resume = none, .stored = false}, MEMBER(script)),
        precision_option<C>(g),
    };
}

// The settings of `charlm eval` that are shared with other commands (its own, such as --streams,
// are the command's).
option_table<eval_options> make_eval_options() { return {precision_option<eval_options>("Evaluation")}; }

option_table<poem_config> make_poem_options() {
    using C = poem_config;
    const std::string g = "Poems (--length and --stop do not apply; backups and NLL are reported on stderr)";
    const auto none = on_resume::none;
    return {
        field<C>({.name = "form", .group = g, .help = "write poems of this form: 五绝 七绝 五律 七律 (wujue qijue wulv "
                  "qilv: 4 or 8 lines of 5 or 7 characters), NxL (e.g. 6x5) or line lengths (5,7,5,7); '，' after odd "
                  "lines, '。' after even ones, one couplet a line", .resume = none, .stored = false}, MEMBER(form)),
        field<C>({.name = "acrostic", .group = g, .help = "line i starts with the i-th character of TEXT (without "
                  "--form: one line of 7 per character)", .resume = none, .stored = false}, MEMBER(acrostic)),
        field<C>({.name = "keywords", .group = g, .help = "words (e.g. 春,江,月) each placed in its own line, word i in "
                  "line i x lines / words (or the next free line), at the first place the tones and rhyme allow",
                  .resume = none, .stored = false}, MEMBER(keywords)),
        field<C>({.name = "template", .group = g, .help = "a poem with ＿ or _ for each free character (e.g. 床前 ＿＿ 光，"
                  "...): its lines give the form, its characters are kept, the free ones sampled", .resume = none,
                  .stored = false}, MEMBER(template_text)),
        field<C>({.name = "best-of", .group = g, .help = "sample N candidates as one batch and keep the --num-samples "
                  "best by score (mean NLL per token plus the penalties below), best first (0: off)", .resume = none,
                  .range = between(0, C::max_best_of), .stored = false}, MEMBER(best_of)),
        field<C>({.name = "beam", .group = g, .help = "constrained beam search of width K instead of sampling: the "
                  "--num-samples most likely poems the form allows (the model's favourites: more fluent, less varied "
                  "and more often copied than sampled ones; temperature, top-k, top-p and seed do not apply; 0: off)",
                  .resume = none, .range = between(0, C::max_beam), .stored = false}, MEMBER(beam)),
        field<C>({.name = "repeat-penalty", .group = g, .help = "--best-of: nats added per Han character that repeats "
                  "one earlier in the poem", .resume = none, .range = at_least(0), .stored = false},
                 MEMBER(weights.repeat)),
        field<C>({.name = "line-penalty", .group = g, .help = "--best-of: nats added per line equal to an earlier line",
                  .resume = none, .range = at_least(0), .stored = false}, MEMBER(weights.line)),
        field<C>({.name = "copy-penalty", .group = g, .help = "--best-of: nats added per line found verbatim in the "
                  "--novelty corpus", .resume = none, .range = at_least(0), .stored = false}, MEMBER(weights.copy)),
        field<C>({.name = "mood", .group = g, .help = "text the model reads before the poem, not printed (--prefix "
                  "starts line 1)", .resume = none, .stored = false}, MEMBER(mood)),
        field<C>({.name = "rhyme", .group = g, .help = "even lines (with --rhyme=first also line 1) end in one "
                  "level-tone rhyme group of Middle Chinese", .resume = none, .stored = false, .implicit = "even"},
                 MEMBER(rhyme)),
        field<C>({.name = "tones", .group = g, .help = "平仄 of regulated verse, strict (a canonical pattern) or loose "
                  "(一三五不论, no 孤平 or 三平调)", .resume = none, .stored = false}, MEMBER(tones)),
        field<C>({.name = "readings", .group = g, .help = "Middle Chinese readings for --rhyme and --tones (Debian "
                  "package rime-data-zyenpheng)", .resume = none, .stored = false}, MEMBER(prosody_path)),
    };
}

// Lyrics (issue 29): all text or numbers here, read by lyric_config::shape(), which names the
// option in each refusal.
option_table<lyric_config> make_lyric_options() {
    using C = lyric_config;
    const std::string g = "Lyrics (--length and --stop do not apply; checked by `charlm verse` with the same options)";
    const auto none = on_resume::none;
    return {
        field<C>({.name = "rhyme-scheme", .group = g, .help = "write lyrics whose lines rhyme by these letters, as in "
                  "poetry (AABB, ABAB, ABCB, AAAA, 'ABAB CDCD EFEF GG'); repeated with new rhymes over --lines",
                  .resume = none, .stored = false}, MEMBER(rhyme_scheme)),
        field<C>({.name = "rhyme-system", .group = g, .help = "十三辙 (shisanzhe), 新韵 (xinyun), 平水韵 (pingshui), "
                  "english (as pronounced) or english-loose (eye rhymes too: love/move); auto: 十三辙 for a Chinese "
                  "model, english otherwise", .resume = none, .stored = false}, MEMBER(rhyme_system)),
        field<C>({.name = "lines", .group = g, .help = "lines of each part (0: the scheme's letters)",
                  .resume = none, .range = between(0, lyric_shape::max_lines), .stored = false}, MEMBER(lines)),
        field<C>({.name = "line-length", .group = g, .help = "Chinese: Han characters per line, N or MIN-MAX (6-10)",
                  .resume = none, .stored = false}, MEMBER(line_length)),
        field<C>({.name = "syllables", .group = g, .help = "English: syllables per line, N or a list repeated over "
                  "the lines (8,6,8,6)", .resume = none, .stored = false}, MEMBER(syllables)),
        field<C>({.name = "meter", .group = g, .help = "English: iambic (stressed syllables of longer words on even "
                  "syllables; monosyllables free) or off", .resume = none, .stored = false}, MEMBER(meter)),
        field<C>({.name = "structure", .group = g, .help = "parts of the song, e.g. verse,chorus,verse,chorus,bridge,"
                  "chorus: a chorus (refrain, hook, 副歌) is written once and repeated verbatim; parts a blank line "
                  "apart", .resume = none, .stored = false}, MEMBER(structure)),
        field<C>({.name = "labels", .group = g, .help = "print [Verse], [Chorus], ... before each part (not read by "
                  "the model)", .resume = none, .stored = false}, MEMBER(labels)),
        field<C>({.name = "pinyin", .group = g, .help = "pinyin of characters and words for 十三辙 and 新韵 (Debian "
                  "package rime-data-luna-pinyin)", .resume = none, .stored = false}, MEMBER(pinyin_path)),
        field<C>({.name = "cmudict", .group = g, .help = "English syllables, stress and rhymes (Debian package "
                  "festlex-cmu)", .resume = none, .stored = false}, MEMBER(cmu_path)),
    };
}

#undef MEMBER

}  // namespace

const option_table<text_config>& text_options() {
    static const option_table<text_config> t = make_text_options();
    return t;
}

const option_table<model_config>& model_options() {
    static const option_table<model_config> t = make_model_options();
    return t;
}

const option_table<train_config>& train_options() {
    static const option_table<train_config> t = make_train_options();
    return t;
}

const option_table<sample_config>& sample_options() {
    static const option_table<sample_config> t = make_sample_options();
    return t;
}

const option_table<eval_options>& eval_option_table() {
    static const option_table<eval_options> t = make_eval_options();
    return t;
}

const option_table<poem_config>& poem_options() {
    static const option_table<poem_config> t = make_poem_options();
    return t;
}

const option_table<lyric_config>& lyric_options() {
    static const option_table<lyric_config> t = make_lyric_options();
    return t;
}

}  // namespace charlm
