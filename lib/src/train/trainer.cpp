// The training loop: corpus -> vocabulary -> model -> epochs of minibatches with truncated BPTT,
// clipping and the optimizer; validation perplexity over the whole validation text; reports,
// samples and the model file. Not here: the layers (nn/), the file format (io/), printing (app/).
#include <fmt/core.h>

#include <chrono>
#include <cmath>
#include <fstream>

#include "charlm/model_file.hpp"
#include "charlm/train.hpp"
#include "layers/optimizer.h"
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

}  // namespace

double loss_sum::perplexity() const { return tokens ? std::exp(nll / static_cast<double>(tokens)) : NAN; }

result<train_outcome> train(const train_config& cfg, const train_callbacks& cb) {
    CHARLM_TRY(cfg.validate());
    auto corpus_r = load_corpus(cfg, cb);
    if (!corpus_r) return corpus_r.err();
    prepared_corpus& corpus = *corpus_r;

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
    language_model model(mc, cfg.text, corpus.vocab, cfg.seed);
    if (cb.on_info)
        cb.on_info(fmt::format("model {} x {} {} (embed {}), {} parameters", mc.layers, mc.hidden,
                               to_string(mc.cell), mc.embed, model.parameter_count()));

    std::ofstream metrics;
    if (!cfg.metrics.empty()) {
        metrics.open(cfg.metrics, std::ios::trunc);
        if (!metrics) return make_error(errc::io, fmt::format("cannot write metrics file '{}'", cfg.metrics));
    }

    model.prepare(cfg.steps, cfg.batch);
    auto params = model.params();
    nn::optimizer opt(cfg.optimizer == optimizer_kind::adam ? nn::optimizer_kind::adam : nn::optimizer_kind::sgd,
                      nn::to_buffers(params));
    batch_iterator it(corpus.train, bc);
    minibatch mb;

    train_outcome outcome;
    outcome.vocab_size = corpus.vocab.size();
    const auto t0 = clock_type::now();
    auto last_report = t0;
    double lr = cfg.lr;
    uint64_t step = 0;
    loss_sum window;           // since the last report
    uint64_t window_tokens = 0;
    double last_norm = 0;
    bool last_clipped = false;
    bool out_of_time = false;
    const uint32_t valid_streams = std::max<uint32_t>(1, std::min<uint64_t>(cfg.batch, corpus.valid.size() / 64 + 1));

    auto over_budget = [&] { return cfg.time_budget_s > 0 && seconds_since(t0) >= cfg.time_budget_s; };
    auto emit = [&](train_report& r) {
        if (cb.on_report) cb.on_report(r);
        if (metrics) {
            metrics << metrics_json_line(r) << '\n';
            metrics.flush();
        }
    };

    for (uint64_t epoch = 0; cfg.epochs == 0 || epoch < cfg.epochs; ++epoch) {
        it.start_epoch(epoch);
        loss_sum epoch_loss;
        while (it.next(mb)) {
            if (mb.reset_state) model.reset_state();
            loss_sum l = model.train_step(mb.inputs.data(), mb.targets.data());
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
            if (cfg.scheme == sampling::consecutive) model.carry_state();
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
            model.prepare(cfg.steps, cfg.batch);
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

        if (!cfg.out.empty()) {
            training_summary ts;
            ts.corpus = cfg.corpus;
            ts.epochs = outcome.epochs;
            ts.steps = outcome.steps;
            ts.train_ppl = outcome.train_ppl;
            ts.valid_ppl = outcome.valid_ppl;
            CHARLM_TRY(save_model(cfg.out, model, ts));
            if (r.best) CHARLM_TRY(save_model(cfg.out + ".best", model, ts));
        }
        const bool last = out_of_time || (cfg.epochs != 0 && epoch + 1 == cfg.epochs);
        if (cb.on_sample && !cfg.prefixes.empty() &&
            (last || (cfg.sample_every && (epoch + 1) % cfg.sample_every == 0))) {
            for (const auto& prefix : cfg.prefixes) {
                auto text = generate_text(model, prefix, cfg.sample_length, cfg.sample_temperature, cfg.seed + epoch);
                if (!text) return text.err();
                cb.on_sample(prefix, *text);
            }
            model.prepare(cfg.steps, cfg.batch);
        }
        if (last) break;
        lr *= cfg.lr_decay;
    }
    outcome.seconds = seconds_since(t0);
    return outcome;
}

}  // namespace charlm
