// What a training run does at each point of the loop (run.h).
#include "train/run.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "charlm/sample.hpp"

namespace charlm::detail {

// Continues the checkpoint's run: weights, optimizer, position; a time budget already spent is
// dropped when --epochs asks for more (said so), refused when nothing else would end the run.
status training_run::resume_from(const checkpoint_data& ck) {
    if (ck.info.config.model.vocab != model_.config().vocab)
        return make_error(errc::input, fmt::format("--resume {}: the corpus gives a vocabulary of {} tokens but the "
                                                   "checkpoint has {}",
                                                   cfg_.resume, model_.config().vocab, ck.info.config.model.vocab));
    train_position pos = ck.pos;
    if (cfg_.epochs != 0 && pos.epoch >= cfg_.epochs)
        return make_error(errc::usage, fmt::format("--resume {}: the run already completed its {} epochs; pass a "
                                                   "larger --epochs to train on",
                                                   cfg_.resume, pos.epoch));
    if (cfg_.time_budget_s > 0 && pos.elapsed_s >= cfg_.time_budget_s) {
        if (cfg_.epochs == 0)
            return make_error(errc::usage, fmt::format("--resume {}: the run already spent its time budget of {} "
                                                       "({} trained); --time-budget counts the whole run: pass a "
                                                       "larger one, or --epochs N to train up to epoch N",
                                                       cfg_.resume, format_duration(cfg_.time_budget_s),
                                                       format_duration(pos.elapsed_s)));
        if (cb_.on_info)
            cb_.on_info(fmt::format("the time budget of {} was spent before the checkpoint; this run trains up to "
                                    "epoch {} without one (--time-budget counts the whole run: give a larger one "
                                    "to limit it)",
                                    format_duration(cfg_.time_budget_s), cfg_.epochs));
        cfg_.time_budget_s = 0;
    }
    // An --lr given on resumption scales the schedule; unchanged, the factor is exactly 1.
    pos.lr = pos.lr * (static_cast<double>(cfg_.lr) / static_cast<double>(ck.info.config.lr));
    const bool carried = cfg_.scheme == sampling::consecutive && pos.batch > 0;
    CHARLM_TRY(restore_checkpoint(cfg_.resume, model_, session_, *opt_, pos, carried));
    if (cb_.on_info)
        cb_.on_info(fmt::format("resuming from {}: epoch {}, batch {}, step {}", cfg_.resume, pos.epoch + 1,
                                pos.batch, pos.step));
    epoch_ = pos.epoch;
    step_ = pos.step;
    lr_ = pos.lr;
    out_.best_valid_ppl = pos.best_valid_ppl;
    out_.best_epoch = pos.best_epoch;
    if (!pos.run_id.empty()) run_id_ = pos.run_id;
    best_file_ours_ = ck.info.config.out == cfg_.out;
    it_.start_epoch(epoch_);
    if (pos.batch > 0) {
        it_.seek(pos.batch);
        epoch_loss_ = {pos.epoch_nll, pos.epoch_tokens};
    }
    return {};
}

status training_run::step() {
    it_.next(mb_);
    if (mb_.reset_state) session_.reset_state();
    const loss_sum l = session_.train_step(mb_.inputs.data(), mb_.targets.data());
    const double norm = nn::global_norm(opt_->buffers());
    const double loss = l.nll / static_cast<double>(std::max<uint64_t>(1, l.tokens));
    if (first_loss_ == 0) first_loss_ = std::max(loss, std::log(static_cast<double>(corpus_.vocab.size())));
    window_.nll += l.nll;  // counted before the checks, so a divergence's report shows the step
    window_.tokens += l.tokens;
    if (!std::isfinite(l.nll) || !std::isfinite(norm))
        return diverged(fmt::format("the {} is not finite", std::isfinite(l.nll) ? "gradient norm" : "loss"));
    // char-rnn's rule: a loss three times the first is an explosion, long before it overflows.
    if (loss > 3 * first_loss_)
        return diverged(fmt::format("the loss rose to {:.4g} nats a token, more than 3 times the first step's "
                                    "{:.4g}",
                                    loss, first_loss_));
    last_clipped_ = cfg_.clip > 0 && nn::clip_global_norm(opt_->buffers(), cfg_.clip, norm);
    last_norm_ = norm;
    opt_->step(static_cast<float>(lr_));
    if (cfg_.scheme == sampling::consecutive) session_.carry_state();
    ++step_;
    epoch_loss_.nll += l.nll;
    epoch_loss_.tokens += l.tokens;
    window_tokens_ += static_cast<uint64_t>(cfg_.steps) * cfg_.batch;
    if (cb_.on_progress) {
        train_progress p;
        p.batch = it_.position();
        p.batches = it_.batches_in_epoch();
        p.loss = loss;
        p.chars_per_sec = static_cast<double>(window_tokens_) / std::max(1e-9, seconds_since(last_report_));
        p.epoch_left_s = static_cast<double>((p.batches - p.batch) * cfg_.steps * cfg_.batch) /
                         std::max(1e-9, p.chars_per_sec);
        if (cfg_.time_budget_s > 0) p.budget_left_s = std::max(0.0, cfg_.time_budget_s - elapsed());
        cb_.on_progress(p);
    }
    return {};
}

// Inside an epoch (its last batch leaves this to end_epoch): the reports and validations due.
status training_run::after_step() {
    if (epoch_complete()) return {};
    if (sched_.validation_due(step_, seconds_since(last_validation_))) {
        train_report r = report(false);
        CHARLM_TRY(validate(r));
        if (r.best) CHARLM_TRY(save_files(false, true));
        if (!sched_.out_of_patience()) {
            emit(r);
            return {};
        }
        stop_ = stop_reason::patience;
        r.stop = stop_;
        r.stop_detail = sched_.describe(stop_, epoch_ + 1, it_.position(), it_.batches_in_epoch());
        emit(r);
        CHARLM_TRY(save_files(true, false));
        return checkpoint(position(epoch_, it_.position(), lr_, epoch_loss_), cfg_.scheme == sampling::consecutive);
    }
    if (sched_.report_due(step_, seconds_since(last_report_))) {
        train_report r = report(false);
        emit(r);
    }
    return {};
}

status training_run::end_epoch() {
    const uint64_t done = epoch_ + 1;  // 1-based, complete
    stop_reason why = sched_.stop_at_epoch_end(done, elapsed(), signal());
    train_report r = report(true);
    CHARLM_TRY(validate(r));
    if (why == stop_reason::none && sched_.out_of_patience()) why = stop_reason::patience;
    const bool last = why != stop_reason::none;
    if (last) {
        r.stop = why;
        r.stop_detail = sched_.describe(why, done, 0, it_.batches_in_epoch());
    }
    emit(r);
    out_.epochs = done;
    out_.train_ppl = epoch_loss_.perplexity();
    const double next_lr = lr_ * cfg_.lr_decay;
    CHARLM_TRY(save_files(true, r.best));
    if (sched_.checkpoint_due(done, last)) CHARLM_TRY(checkpoint(position(done, 0, next_lr, {}), false));
    if (cb_.on_sample && sched_.samples_due(done, last)) {
        for (const auto& prefix : cfg_.prefixes) {
            sample_config sc;
            sc.length = cfg_.sample_length;
            sc.temperature = cfg_.sample_temperature;
            sc.seed = cfg_.seed + epoch_;
            auto text = generate(model_, prefix, sc);
            if (!text) return text.err();
            cb_.on_sample(prefix, text->front());
        }
    }
    lr_ = next_lr;
    if (last) {
        stop_ = why;
        return {};
    }
    epoch_ = done;
    epoch_loss_ = {};
    it_.start_epoch(epoch_);
    return {};
}

// Stopped between two steps of an epoch: by a signal (the user wants out: no validation) or by the
// budget (validated, so the run ends with its figure). The checkpoint continues from this batch.
status training_run::stop_in_epoch(stop_reason why) {
    stop_ = why;
    if (it_.position() == 0 && epoch_ > 0) {
        // Right after an epoch's end, whose files are written: its figures again, with the reason.
        train_report r = report(true);
        r.epoch = epoch_;
        r.train_ppl = out_.train_ppl;
        r.valid_ppl = out_.valid_ppl;
        r.bpc = std::log2(r.valid_ppl ? *r.valid_ppl : r.train_ppl);
        r.stop = why;
        r.stop_detail = sched_.describe(why, epoch_, 0, it_.batches_in_epoch());
        emit(r);
        out_.epochs = epoch_;
        return {};
    }
    train_report r = report(false);
    if (why == stop_reason::budget) CHARLM_TRY(validate(r));
    r.stop = why;
    r.stop_detail = sched_.describe(why, epoch_ + 1, it_.position(), it_.batches_in_epoch());
    emit(r);
    out_.interrupted = why == stop_reason::signal;
    out_.epochs = epoch_;
    out_.train_ppl = epoch_loss_.perplexity();
    CHARLM_TRY(save_files(true, r.best));
    return checkpoint(position(epoch_, it_.position(), lr_, epoch_loss_), cfg_.scheme == sampling::consecutive);
}

train_outcome training_run::outcome() {
    out_.steps = step_;
    out_.seconds = elapsed();
    out_.stop = stop_;
    out_.stop_detail = stop_detail_;
    return out_;
}

// The one report builder: the loss since the last report inside an epoch, the whole epoch's at its end.
train_report training_run::report(bool end_of_epoch) const {
    train_report r;
    r.epoch = epoch_ + 1;
    r.step = step_;
    r.end_of_epoch = end_of_epoch;
    // Inside an epoch, the batches since the last report; none (a stop just after a report): the epoch's.
    r.train_ppl = (end_of_epoch || window_.tokens == 0 ? epoch_loss_ : window_).perplexity();
    r.bpc = std::log2(r.train_ppl);
    r.grad_norm = last_norm_;
    r.clipped = last_clipped_;
    r.lr = lr_;
    r.chars_per_sec = static_cast<double>(window_tokens_) / std::max(1e-9, seconds_since(last_report_));
    r.elapsed_s = elapsed();
    return r;
}

void training_run::emit(train_report& r) {
    if (r.stop != stop_reason::none) stop_detail_ = r.stop_detail;
    if (cb_.on_report) cb_.on_report(r);
    metrics_.write(r);
    window_ = {};
    window_tokens_ = 0;
    last_report_ = clock_type::now();
}

// Validation over the whole validation text (its own session: the training state stays as it is);
// the best so far, patience and the plateau rate follow from it.
status training_run::validate(train_report& r) {
    if (corpus_.valid.size() < 2) return {};
    const loss_sum v = evaluator_.evaluate(corpus_.valid, valid_streams_, cfg_.steps);
    last_validation_ = clock_type::now();
    const double ppl = v.perplexity();
    if (!std::isfinite(ppl)) return diverged("the validation perplexity is not finite");
    r.valid_ppl = ppl;
    r.bpc = std::log2(ppl);
    r.best = sched_.record_validation(ppl, out_.best_valid_ppl);
    if (r.best) {
        out_.best_valid_ppl = ppl;
        out_.best_epoch = epoch_ + 1;
    }
    out_.valid_ppl = ppl;
    lr_ = sched_.lr_after_validation(lr_, r.best);
    return {};
}

// Where the run stands, to continue in `epoch` after `batch` of its batches.
train_position training_run::position(uint64_t epoch, uint64_t batch, double lr,
                                              const loss_sum& epoch_so_far) {
    train_position p;
    p.epoch = epoch;
    p.batch = batch;
    p.step = step_;
    p.lr = lr;
    p.dropout_calls = session_.dropout_calls();
    p.best_valid_ppl = out_.best_valid_ppl;
    p.best_epoch = out_.best_epoch;
    p.elapsed_s = elapsed();
    p.epoch_nll = epoch_so_far.nll;
    p.epoch_tokens = epoch_so_far.tokens;
    p.stale_validations = sched_.stale_validations();
    p.run_id = run_id_;
    return p;
}

training_summary training_run::summary() const {
    training_summary ts;
    ts.corpus = cfg_.corpus;
    ts.corpus_checksum = checksum_;
    ts.epochs = out_.epochs;
    ts.steps = step_;
    ts.train_ppl = out_.train_ppl;
    ts.valid_ppl = out_.valid_ppl;
    return ts;
}

// <out> when `model`, <out>.best when `best`. A <out>.best of another run is removed at this run's
// first write: it would sit beside a different model.
status training_run::save_files(bool model, bool best) {
    if (cfg_.out.empty()) return {};
    const std::string best_path = cfg_.out + ".best";
    if (model) {
        CHARLM_TRY(save_model(cfg_.out, model_, summary()));
        written_ = true;
    }
    if (best) {
        CHARLM_TRY(save_model(best_path, model_, summary()));
    } else if (!best_file_ours_) {
        std::error_code ec;
        if (std::filesystem::remove(best_path, ec) && cb_.on_info)
            cb_.on_info(fmt::format("removed {}: it was another run's best model", best_path));
    }
    best_file_ours_ = true;
    return {};
}

// Checkpoint at `p` (and, with --keep-last, a copy named after the epoch it completes).
status training_run::checkpoint(const train_position& p, bool carried) {
    if (cfg_.out.empty()) return {};
    const std::string ckpt = cfg_.out + ".ckpt";
    if (cfg_.keep_last > 0 && p.batch == 0) {
        const std::string copy = fmt::format("{}.epoch{}.ckpt", cfg_.out, p.epoch);
        CHARLM_TRY(save_checkpoint(copy, model_, session_, *opt_, summary(), cfg_, p, carried));
        epoch_files_->written(copy);
    }
    CHARLM_TRY(save_checkpoint(ckpt, model_, session_, *opt_, summary(), cfg_, p, carried));
    out_.checkpoint = ckpt;
    return {};
}

// Divergence ends the run with an error; the files written before it stay as they were.
status training_run::diverged(const std::string& why) {
    stop_ = stop_reason::divergence;
    train_report r = report(false);
    r.stop = stop_;
    r.stop_detail = sched_.describe(stop_, epoch_ + 1, it_.position(), it_.batches_in_epoch());
    emit(r);
    return make_error(errc::numeric,
                      fmt::format("training diverged at step {} (epoch {}): {}. Try a lower --lr (now {:g}) or a "
                                  "smaller --clip (now {:g}); {}",
                                  step_ + 1, epoch_ + 1, why, lr_, cfg_.clip,
                                  cfg_.out.empty() ? std::string("no model file was written")
                                  : written_       ? fmt::format("'{}' holds the last good model", cfg_.out)
                                                   : fmt::format("this run wrote no model: files at '{}' are as "
                                                                 "they were",
                                                                 cfg_.out)));
}

}  // namespace charlm::detail
