// The training loop: corpus -> vocabulary -> model -> epochs of minibatches with truncated BPTT,
// clipping and the optimizer; validation perplexity over the whole validation text; reports,
// samples and the model file. Not here: the layers (nn/), the file format (io/), printing (app/).
#include <fmt/core.h>

#include <signal.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>

#include "charlm/model_file.hpp"
#include "charlm/sample.hpp"
#include "charlm/train.hpp"
#include "layers/optimizer.h"
#include "train/checkpoint.h"
#include "train/report.h"

namespace charlm {

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
    return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// Loads training and validation text into one vocabulary.
result<prepared_corpus> load_corpus(const train_config& cfg, const train_callbacks& cb) {
    auto text = load_text(cfg.corpus, cfg.text);
    if (!text) return text.err();
    if (cb.on_info) {
        const auto& s = text->stats;
        cb.on_info(fmt::format("corpus {}: {} bytes, {} tokens, {} distinct, encoding {}", cfg.corpus, s.bytes,
                               s.tokens, text->tokens.size(), s.encoding));
    }
    std::optional<tokenized_text> valid;
    if (!cfg.valid.empty()) {
        auto v = load_text(cfg.valid, cfg.text);
        if (!v) return v.err();
        valid = std::move(*v);
    }
    return prepare_corpus(std::move(*text), valid ? &*valid : nullptr, cfg.valid.empty() ? cfg.valid_fraction : 0,
                          cfg.min_count);
}

// A process killed while saving leaves its temporary file (<file>.tmp.<pid>) beside the file; the
// complete file is untouched. Removes those of `out` whose process is gone.
void remove_stale_temporaries(const std::string& out) {
    namespace fs = std::filesystem;
    const fs::path base(out);
    const fs::path dir = base.has_parent_path() ? base.parent_path() : fs::path(".");
    const std::string stem = base.filename().string();
    std::error_code ec;
    std::vector<fs::path> stale;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        const std::string name = e.path().filename().string();
        const auto at = name.rfind(".tmp.");
        if (name.compare(0, stem.size(), stem) != 0 || at == std::string::npos) continue;
        const std::string pid = name.substr(at + 5);
        if (pid.empty() || pid.size() > 9 || pid.find_first_not_of("0123456789") != std::string::npos) continue;
        if (::kill(static_cast<pid_t>(std::stol(pid)), 0) != 0 && errno == ESRCH) stale.push_back(e.path());
    }
    for (const auto& p : stale) fs::remove(p, ec);
}

// Keeps the `keep` newest <out>.epoch<E>.ckpt files and removes the older ones.
void prune_epoch_checkpoints(const std::string& out, uint32_t keep) {
    namespace fs = std::filesystem;
    const fs::path base(out);
    const fs::path dir = base.has_parent_path() ? base.parent_path() : fs::path(".");
    const std::string stem = base.filename().string() + ".epoch";
    std::vector<std::pair<uint64_t, fs::path>> found;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        const std::string name = e.path().filename().string();
        if (name.size() <= stem.size() + 5 || name.compare(0, stem.size(), stem) != 0 ||
            name.compare(name.size() - 5, 5, ".ckpt") != 0)
            continue;
        const std::string num = name.substr(stem.size(), name.size() - stem.size() - 5);
        if (num.empty() || num.find_first_not_of("0123456789") != std::string::npos || num.size() > 18) continue;
        found.emplace_back(std::stoull(num), e.path());
    }
    std::sort(found.begin(), found.end());
    for (size_t i = 0; i + keep < found.size(); ++i) fs::remove(found[i].second, ec);
}

// The settings that decide the loss trajectory must be the checkpoint's when resuming.
status check_resumable(const train_config& cfg, const checkpoint_info& ck, const std::string& checksum) {
    const train_config& c = ck.config;
    auto differs = [&](const char* what, const std::string& now, const std::string& then) {
        return make_error(errc::usage, fmt::format("--resume {}: {} is {} in the checkpoint but {} now; a resumed run "
                                                   "keeps the settings it was started with",
                                                   cfg.resume, what, then, now));
    };
    const model_config &a = cfg.model, &b = c.model;
    auto output_layer = [](const model_config& m) {
        if (m.softmax == softmax_type::full) return std::string("a full softmax");
        std::string cut;
        for (uint32_t c : m.cutoffs) {
            if (!cut.empty()) cut += ',';
            cut += std::to_string(c);
        }
        return fmt::format("an adaptive softmax (cutoffs {}, div-value {:g})", cut.empty() ? "from the corpus" : cut,
                           m.div_value);
    };
    if (a.softmax != b.softmax || a.cutoffs != b.cutoffs || a.div_value != b.div_value)
        return differs("the output layer", output_layer(a), output_layer(b));
    if (a.cell != b.cell || a.layers != b.layers || a.hidden != b.hidden || a.embed != b.embed || a.dropout != b.dropout)
        return differs("the model", fmt::format("{} x {} {} embed {} dropout {:g}", a.layers, a.hidden,
                                                to_string(a.cell), a.embed, a.dropout),
                       fmt::format("{} x {} {} embed {} dropout {:g}", b.layers, b.hidden, to_string(b.cell), b.embed,
                                   b.dropout));
    if (cfg.batch != c.batch) return differs("--batch", std::to_string(cfg.batch), std::to_string(c.batch));
    if (cfg.steps != c.steps) return differs("--steps", std::to_string(cfg.steps), std::to_string(c.steps));
    if (cfg.scheme != c.scheme) return differs("--sampling", to_string(cfg.scheme), to_string(c.scheme));
    if (cfg.optimizer != c.optimizer) return differs("--optimizer", to_string(cfg.optimizer), to_string(c.optimizer));
    if (cfg.seed != c.seed) return differs("--seed", std::to_string(cfg.seed), std::to_string(c.seed));
    if (cfg.min_count != c.min_count) return differs("--min-count", std::to_string(cfg.min_count), std::to_string(c.min_count));
    if (cfg.valid != c.valid || cfg.valid_fraction != c.valid_fraction)
        return differs("the validation text", cfg.valid.empty() ? fmt::format("fraction {:g}", cfg.valid_fraction) : cfg.valid,
                       c.valid.empty() ? fmt::format("fraction {:g}", c.valid_fraction) : c.valid);
    const text_config &ta = cfg.text, &tb = c.text;
    if (ta.encoding != tb.encoding || ta.on_invalid != tb.on_invalid || ta.normalize != tb.normalize ||
        ta.unit != tb.unit || ta.lowercase != tb.lowercase)
        return differs("the text preprocessing", "different", "another");
    if (!ck.corpus_checksum.empty() && ck.corpus_checksum != checksum)
        return make_error(errc::input, fmt::format("--resume {}: the corpus '{}' has changed since the checkpoint was "
                                                   "written (checksum {} then, {} now); resuming needs the same text",
                                                   cfg.resume, cfg.corpus, ck.corpus_checksum, checksum));
    return {};
}

}  // namespace

result<std::vector<uint32_t>> default_cutoffs(const std::vector<uint64_t>& counts_by_id) {
    constexpr uint32_t k_min_group = 8;
    const auto V = static_cast<uint32_t>(counts_by_id.size());
    uint64_t total = 0;
    for (uint64_t c : counts_by_id) total += c;
    // The smallest id count whose tokens cover `share` of the text.
    auto covering = [&](double share) {
        uint64_t acc = 0;
        uint32_t k = 0;
        while (k < V && static_cast<double>(acc) < share * static_cast<double>(total)) acc += counts_by_id[k++];
        return k;
    };
    // 80%: on tang_poems_3mb_simplified (LSTM 1 x 256, 3 epochs) heads of 75/80/85% gave validation
    // perplexity 184.4/181.5/182.3 against 183.5 for the full softmax, at 3.6/3.4/3.2x its speed.
    const uint32_t head = std::max(covering(0.80), k_min_group);
    if (V < head + k_min_group)
        return make_error(errc::usage, fmt::format("--softmax adaptive: the vocabulary ({} tokens) is too small to "
                                                   "split into a head and clusters; use --softmax full",
                                                   V));
    std::vector<uint32_t> cut{head};
    const uint32_t second = covering(0.98);
    if (second >= head + k_min_group && V >= second + k_min_group) cut.push_back(second);
    return cut;
}

double loss_sum::perplexity() const { return tokens ? std::exp(nll / static_cast<double>(tokens)) : NAN; }

result<train_outcome> train(const train_config& cfg, const train_callbacks& cb) {
    CHARLM_TRY(cfg.validate());
    std::optional<detail::checkpoint_data> resume;
    if (!cfg.resume.empty()) {
        auto d = detail::read_checkpoint_data(cfg.resume);
        if (!d) return d.err();
        resume = std::move(*d);
    }
    auto corpus_r = load_corpus(cfg, cb);
    if (!corpus_r) return corpus_r.err();
    prepared_corpus& corpus = *corpus_r;
    // The text just read (standard input cannot be read twice: it has no checksum).
    result<std::string> checksum = std::string();
    if (cfg.corpus != "-") checksum = file_checksum(cfg.corpus);
    if (!checksum) return checksum.err();
    if (resume) CHARLM_TRY(check_resumable(cfg, resume->info, *checksum));

    batch_config bc{cfg.batch, cfg.steps, cfg.scheme, cfg.seed};
    const uint64_t need = min_tokens_for_one_batch(bc);
    if (corpus.train.size() < need)
        return make_error(errc::input,
                          fmt::format("the training text of '{}' has {} tokens, fewer than the {} that one batch of "
                                      "--batch {} x --steps {} needs: use more text or a smaller --batch/--steps",
                                      cfg.corpus, corpus.train.size(), need, cfg.batch, cfg.steps));
    if (cb.on_info) {
        cb.on_info(fmt::format("vocabulary {} tokens ({} folded into <unk>); train {} tokens, valid {} tokens{}",
                               corpus.vocab.size(), corpus.train_unk, corpus.train.size(), corpus.valid.size(),
                               corpus.valid_unk ? fmt::format(" ({} unknown)", corpus.valid_unk) : ""));
    }

    model_config mc = cfg.model;
    mc.vocab = corpus.vocab.size();
    if (mc.softmax == softmax_type::adaptive) {
        std::vector<uint64_t> counts(mc.vocab, 0);
        for (size_t i = 0; i < corpus.train.size(); ++i) ++counts[corpus.train[i]];
        if (mc.cutoffs.empty()) {
            auto cut = default_cutoffs(counts);
            if (!cut) return cut.err();
            mc.cutoffs = std::move(*cut);
        }
        CHARLM_TRY(mc.validate());  // the cutoffs against the vocabulary size
        if (cb.on_info) {
            std::string groups;
            uint64_t total = corpus.train.size(), from = 0;
            for (size_t k = 0; k <= mc.cutoffs.size(); ++k) {
                const uint32_t to = k < mc.cutoffs.size() ? mc.cutoffs[k] : mc.vocab;
                uint64_t n = 0;
                for (uint32_t i = static_cast<uint32_t>(from); i < to; ++i) n += counts[i];
                groups += fmt::format("{}{} {} tokens ({:.1f}% of the text)", k ? ", " : "",
                                      k ? fmt::format("cluster {}", k) : std::string("head"), to - from,
                                      total ? 100.0 * static_cast<double>(n) / static_cast<double>(total) : 0.0);
                from = to;
            }
            cb.on_info(fmt::format("adaptive softmax: {}", groups));
        }
    }
    language_model model(mc, cfg.text, corpus.vocab, cfg.seed);
    if (cb.on_info)
        cb.on_info(fmt::format("model {} x {} {} (embed {}{}), {} parameters", mc.layers, mc.hidden,
                               to_string(mc.cell), mc.embed,
                               mc.softmax == softmax_type::adaptive ? ", adaptive softmax" : "",
                               model.parameter_count()));

    training_session session(model, cfg.steps, cfg.batch);
    auto params = session.params();
    nn::optimizer opt(cfg.optimizer == optimizer_kind::adam ? nn::optimizer_kind::adam : nn::optimizer_kind::sgd,
                      nn::to_buffers(params));
    detail::train_position pos;
    pos.lr = cfg.lr;
    if (resume) {
        if (resume->info.config.model.vocab != mc.vocab)
            return make_error(errc::input, fmt::format("--resume {}: the corpus gives a vocabulary of {} tokens but the "
                                                       "checkpoint has {}",
                                                       cfg.resume, mc.vocab, resume->info.config.model.vocab));
        pos = resume->pos;
        // An --lr given on resumption scales the schedule; unchanged, the factor is exactly 1.
        pos.lr = pos.lr * (static_cast<double>(cfg.lr) / static_cast<double>(resume->info.config.lr));
        const bool carried = cfg.scheme == sampling::consecutive && pos.batch > 0;
        CHARLM_TRY(detail::restore_checkpoint(cfg.resume, model, session, opt, pos, carried));
        if (cb.on_info)
            cb.on_info(fmt::format("resuming from {}: epoch {}, batch {}, step {}", cfg.resume, pos.epoch + 1,
                                   pos.batch, pos.step));
    }

    if (!cfg.out.empty()) remove_stale_temporaries(cfg.out);
    std::ofstream metrics;
    if (!cfg.metrics.empty()) {
        metrics.open(cfg.metrics, resume ? std::ios::app : std::ios::trunc);
        if (!metrics) return make_error(errc::io, fmt::format("cannot write metrics file '{}'", cfg.metrics));
    }

    batch_iterator it(corpus.train, bc);
    minibatch mb;

    train_outcome outcome;
    outcome.vocab_size = corpus.vocab.size();
    outcome.best_valid_ppl = pos.best_valid_ppl;
    outcome.best_epoch = pos.best_epoch;
    const auto t0 = clock_type::now() - std::chrono::duration_cast<clock_type::duration>(
                                            std::chrono::duration<double>(pos.elapsed_s));
    auto last_report = clock_type::now();
    double lr = pos.lr;
    uint64_t step = pos.step;
    loss_sum window;           // since the last report
    uint64_t window_tokens = 0;
    double last_norm = 0;
    bool last_clipped = false;
    bool out_of_time = false;
    const uint32_t valid_streams = std::max<uint32_t>(1, std::min<uint64_t>(cfg.batch, corpus.valid.size() / 64 + 1));
    const std::string ckpt_path = cfg.out.empty() ? "" : cfg.out + ".ckpt";

    auto over_budget = [&] { return cfg.time_budget_s > 0 && seconds_since(t0) >= cfg.time_budget_s; };
    auto emit = [&](train_report& r) {
        if (cb.on_report) cb.on_report(r);
        if (metrics) {
            metrics << metrics_json_line(r) << '\n';
            metrics.flush();
        }
    };
    auto summary = [&] {
        training_summary ts;
        ts.corpus = cfg.corpus;
        ts.corpus_checksum = *checksum;
        ts.epochs = outcome.epochs;
        ts.steps = outcome.steps;
        ts.train_ppl = outcome.train_ppl;
        ts.valid_ppl = outcome.valid_ppl;
        return ts;
    };
    // Where the run stands now, to continue in `epoch` after `batch` of its batches.
    auto position_at = [&](uint64_t epoch, uint64_t batch, double at_lr, const loss_sum& epoch_so_far) {
        detail::train_position p;
        p.epoch = epoch;
        p.batch = batch;
        p.step = step;
        p.lr = at_lr;
        p.dropout_calls = session.dropout_calls();
        p.best_valid_ppl = outcome.best_valid_ppl;
        p.best_epoch = outcome.best_epoch;
        p.elapsed_s = seconds_since(t0);
        p.epoch_nll = epoch_so_far.nll;
        p.epoch_tokens = epoch_so_far.tokens;
        return p;
    };
    // Checkpoint at `p` (and, with --keep-last, a copy named after the epoch it completes).
    auto checkpoint = [&](const detail::train_position& p, bool carried) -> status {
        if (ckpt_path.empty()) return {};
        const training_summary ts = summary();
        if (cfg.keep_last > 0 && p.batch == 0) {
            CHARLM_TRY(detail::save_checkpoint(fmt::format("{}.epoch{}.ckpt", cfg.out, p.epoch), model, session, opt, ts, cfg, p,
                                               carried));
            prune_epoch_checkpoints(cfg.out, cfg.keep_last);
        }
        CHARLM_TRY(detail::save_checkpoint(ckpt_path, model, session, opt, ts, cfg, p, carried));
        outcome.checkpoint = ckpt_path;
        return {};
    };

    if (cfg.epochs != 0 && pos.epoch >= cfg.epochs)
        return make_error(errc::usage, fmt::format("--resume {}: the run already completed its {} epochs; pass a "
                                                   "larger --epochs to train on",
                                                   cfg.resume, pos.epoch));
    for (uint64_t epoch = pos.epoch; cfg.epochs == 0 || epoch < cfg.epochs; ++epoch) {
        it.start_epoch(epoch);
        loss_sum epoch_loss;
        if (resume && epoch == pos.epoch && pos.batch > 0) {
            it.seek(pos.batch);
            epoch_loss = {pos.epoch_nll, pos.epoch_tokens};
        }
        while (it.next(mb)) {
            if (mb.reset_state) session.reset_state();
            loss_sum l = session.train_step(mb.inputs.data(), mb.targets.data());
            double norm = nn::global_norm(opt.buffers());
            if (!std::isfinite(l.nll) || !std::isfinite(norm)) {
                return make_error(errc::numeric,
                                  fmt::format("training diverged at step {} (epoch {}): the {} is not finite. Try a "
                                              "lower --lr (now {:g}) or a smaller --clip (now {:g}); {}",
                                              step + 1, epoch + 1, std::isfinite(l.nll) ? "gradient norm" : "loss",
                                              lr, cfg.clip,
                                              cfg.out.empty() ? "no model file was written"
                                                              : fmt::format("'{}' holds the last good model", cfg.out)));
            }
            last_clipped = cfg.clip > 0 && nn::clip_global_norm(opt.buffers(), cfg.clip, norm);
            last_norm = norm;
            opt.step(static_cast<float>(lr));
            if (cfg.scheme == sampling::consecutive) session.carry_state();
            ++step;
            epoch_loss.nll += l.nll;
            epoch_loss.tokens += l.tokens;
            window.nll += l.nll;
            window.tokens += l.tokens;
            window_tokens += static_cast<uint64_t>(cfg.steps) * cfg.batch;
            if (cb.on_progress) cb.on_progress(it.position(), it.batches_in_epoch(), l.nll / std::max<uint64_t>(1, l.tokens));

            const bool interval = cfg.report_every ? step % cfg.report_every == 0 : seconds_since(last_report) >= 10.0;
            if (interval && it.position() < it.batches_in_epoch()) {
                train_report r;
                r.epoch = epoch + 1;
                r.step = step;
                r.train_ppl = window.perplexity();
                r.bpc = std::log2(r.train_ppl);
                r.grad_norm = last_norm;
                r.clipped = last_clipped;
                r.lr = lr;
                r.chars_per_sec = static_cast<double>(window_tokens) / std::max(1e-9, seconds_since(last_report));
                r.elapsed_s = seconds_since(t0);
                emit(r);
                window = {};
                window_tokens = 0;
                last_report = clock_type::now();
            }
            if (cb.should_stop && cb.should_stop() && it.position() < it.batches_in_epoch()) {
                // Interrupted mid-epoch: save where we are (no validation: the user wants out) and stop.
                outcome.interrupted = true;
                outcome.epochs = epoch;
                outcome.steps = step;
                outcome.train_ppl = epoch_loss.perplexity();
                if (!cfg.out.empty()) CHARLM_TRY(save_model(cfg.out, model, summary()));
                CHARLM_TRY(checkpoint(position_at(epoch, it.position(), lr, epoch_loss),
                                      cfg.scheme == sampling::consecutive));
                outcome.seconds = seconds_since(t0);
                return outcome;
            }
            if ((cb.should_stop && cb.should_stop()) || over_budget()) {
                out_of_time = true;
                break;
            }
        }
        // End of epoch (or of the budget): validation over the whole validation text.
        const double train_seconds = seconds_since(last_report);
        train_report r;
        r.epoch = epoch + 1;
        r.step = step;
        r.end_of_epoch = true;
        r.train_ppl = (window.tokens ? window : epoch_loss).perplexity();
        if (!corpus.valid.empty() && corpus.valid.size() >= 2) {
            loss_sum v = model.evaluate(corpus.valid, valid_streams, cfg.steps);
            r.valid_ppl = v.perplexity();
        }
        r.bpc = std::log2(r.valid_ppl ? *r.valid_ppl : r.train_ppl);
        if (r.valid_ppl && (!outcome.best_valid_ppl || *r.valid_ppl < *outcome.best_valid_ppl)) {
            r.best = true;
            outcome.best_valid_ppl = r.valid_ppl;
            outcome.best_epoch = epoch + 1;
        }
        r.grad_norm = last_norm;
        r.clipped = last_clipped;
        r.lr = lr;
        r.chars_per_sec = static_cast<double>(window_tokens) / std::max(1e-9, train_seconds);
        r.elapsed_s = seconds_since(t0);
        emit(r);
        window = {};
        window_tokens = 0;
        last_report = clock_type::now();

        outcome.epochs = epoch + 1;
        outcome.steps = step;
        outcome.train_ppl = epoch_loss.perplexity();
        outcome.valid_ppl = r.valid_ppl;

        const bool last = out_of_time || (cfg.epochs != 0 && epoch + 1 == cfg.epochs);
        const double next_lr = lr * cfg.lr_decay;
        if (!cfg.out.empty()) {
            CHARLM_TRY(save_model(cfg.out, model, summary()));
            if (r.best) CHARLM_TRY(save_model(cfg.out + ".best", model, summary()));
            if (last || (epoch + 1) % std::max<uint32_t>(1, cfg.checkpoint_every) == 0) {
                // A run stopped by the budget mid-epoch resumes at the next epoch: its validation ran.
                CHARLM_TRY(checkpoint(position_at(epoch + 1, 0, next_lr, {}), false));
            }
        }
        if (cb.on_sample && !cfg.prefixes.empty() &&
            (last || (cfg.sample_every && (epoch + 1) % cfg.sample_every == 0))) {
            for (const auto& prefix : cfg.prefixes) {
                sample_config sc;
                sc.length = cfg.sample_length;
                sc.temperature = cfg.sample_temperature;
                sc.seed = cfg.seed + epoch;
                auto text = generate(model, prefix, sc);
                if (!text) return text.err();
                cb.on_sample(prefix, text->front());
            }
        }
        if (last) break;
        lr = next_lr;
    }
    outcome.seconds = seconds_since(t0);
    return outcome;
}

}  // namespace charlm
