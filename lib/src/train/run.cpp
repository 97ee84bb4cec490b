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
status training_run::resume_from(const checkpoint_data& ck, bool carried,
                                 training_session::recurrent_state& carried_state) {
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
        const train_config& then = ck.info.config;
        if (cfg_.time_budget_s != then.time_budget_s)  // one given now, already spent: said, not dropped
            return make_error(errc::usage, fmt::format("--resume {}: --time-budget {} is already spent (the run has "
                                                       "trained {}); --time-budget counts the whole run: give more "
                                                       "than that",
                                                       cfg_.resume, format_duration(cfg_.time_budget_s),
                                                       format_duration(pos.elapsed_s)));
        if (cfg_.epochs == 0 || cfg_.epochs == then.epochs)  // neither a larger budget nor other epochs given
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
    // Rank 0 reads the tensors; sync_start() gives them to the other ranks.
    if (rank0())
        CHARLM_TRY(restore_checkpoint(cfg_.resume, model_, *opt_, carried ? &carried_state : nullptr, cfg_.batch));
    opt_->set_step_count(pos.step);
    session_.set_dropout_calls(pos.dropout_calls);
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
    if (best_file_ours_ && !cfg_.out.empty() && std::filesystem::exists(cfg_.out + ".best")) {
        // From a later point of this run (an older checkpoint resumed, or a kill after a best):
        // replaced only by a model at least as good.
        auto on_disk = read_model_summary(cfg_.out + ".best");
        if (on_disk && on_disk->valid_ppl) best_on_disk_ = on_disk->valid_ppl;
    }
    it_.start_epoch(epoch_);
    if (pos.batch > 0) {
        it_.seek(pos.batch);
        epoch_loss_ = {pos.epoch_nll, pos.epoch_tokens};
    }
    return {};
}

// A resumed run with another horizon (more epochs, a larger budget, a budget dropped for --epochs):
// the cosine continues where the checkpoint's run had taken it, said so with the rate it goes on
// from, instead of jumping back up the curve of the new horizon.
void training_run::continue_schedule(const checkpoint_data& ck) {
    const train_config& then = ck.info.config;
    const bool same_horizon = cfg_.epochs == then.epochs && cfg_.time_budget_s == then.time_budget_s;
    if (same_horizon || cfg_.schedule != lr_schedule::cosine) return;  // the same run: bit for bit
    const schedule before(then, corpus_.valid.size() >= 2, 0);
    sched_.continue_from(before.progress(ck.pos.step, ck.pos.elapsed_s, it_.batches_in_epoch()), ck.pos.step,
                         ck.pos.elapsed_s);
    if (cb_.on_info)
        cb_.on_info(fmt::format("the cosine schedule goes on from where the checkpoint left it: rate {:.2e}, {:.0f}% "
                                "of the way to --lr-final, reached at the end of the run",
                                current_lr(), 100 * sched_.progress(step_, ck.pos.elapsed_s, it_.batches_in_epoch())));
}

void training_run::write_pending_record() {
    if (pending_record_) metrics_.write(*pending_record_);
    pending_record_.reset();
}

status training_run::step() {
    write_pending_record();
    it_.next(mb_);
    loss_sum l;
    if (dp_) {  // this rank's streams, then the one reduction
        const data_parallel::agreed mine{signal(), elapsed(), seconds_since(last_validation_)};
        auto world = dp_->step(session_, mb_, mine, agreed_);
        if (!world) return world.err();
        l = *world;
    } else {
        if (mb_.reset_state) session_.reset_state();
        l = session_.train_step(mb_.inputs.data(), mb_.targets.data());
    }
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
    opt_->step(static_cast<float>(current_lr()), cfg_.weight_decay);
    if (!dp_ && cfg_.scheme == sampling::consecutive) session_.carry_state();  // dp_ carried its own
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

// Inside an epoch (its last batch leaves this to end_epoch): the reports and validations due. A
// stop found right after a validation (patience, or the budget or a signal during it) ends the run
// with that validation's report.
status training_run::after_step() {
    if (epoch_complete()) return {};
    if (sched_.validation_due(step_, agreed_since_validation())) {
        train_report r = report(false);
        CHARLM_TRY(validate(r));
        if (r.best) CHARLM_TRY(save_files(false, true));
        const stop_reason why = sched_.out_of_patience() ? stop_reason::patience : stop_before_step();
        if (why != stop_reason::none) return stop_in_epoch(why, &r);
        emit(r);
        return {};
    }
    if (sched_.report_due(step_, seconds_since(last_report_))) {
        train_report r = report(false);
        emit(r);
    }
    return {};
}

// The last batch of an epoch is done: validation, then the decision to stop (after it: its
// seconds count against the budget), the report, the files and the samples due.
status training_run::end_epoch() {
    const uint64_t done = epoch_ + 1;  // 1-based, complete
    train_report r = report(true);
    CHARLM_TRY(validate(r));
    stop_reason why = sched_.stop_at_epoch_end(done, agreed_elapsed(), agreed_signal());
    if (why == stop_reason::none && sched_.out_of_patience()) why = stop_reason::patience;
    const bool last = why != stop_reason::none;
    if (last) {
        restamp(r, why);
        r.stop = why;
        r.stop_detail = sched_.describe(why, done, 0, it_.batches_in_epoch());
    }
    emit(r);
    out_.epochs = done;
    out_.train_ppl = epoch_loss_.perplexity();
    const double next_lr = lr_ * cfg_.lr_decay;
    CHARLM_TRY(save_files(true, r.best));
    if (sched_.checkpoint_due(done, last)) CHARLM_TRY(checkpoint(position(done, 0, next_lr, {}), false));
    if (sched_.samples_due(done, last)) CHARLM_TRY(samples());
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

// The one way a run stops between two steps: by a signal (the user wants out: no new validation),
// the budget (validated, so the run ends with its figure) or patience (`validated`: the report of
// the validation that ran out of it). What this step already has (a report, <out>, a checkpoint,
// samples: an epoch's end or a validation just done) is not done again; the checkpoint continues
// from this batch.
status training_run::stop_in_epoch(stop_reason why, const train_report* validated) {
    stop_ = why;
    out_.interrupted = why == stop_reason::signal;
    const uint64_t batch = it_.position();
    if (step_ == first_step_) {  // nothing trained by this process: nothing to report or write
        metrics_.discard_if_unused();
        stop_detail_ = sched_.describe(why, epoch_ + 1, 0, 0) +
                       (first_step_ ? "; the files are as the checkpoint left them" : "; nothing was trained or written");
        return {};
    }
    const uint64_t shown_epoch = batch == 0 ? epoch_ : epoch_ + 1;  // "after epoch N" / "in epoch N"
    if (validated || step_ != reported_step_) {
        train_report r = validated ? *validated : report(false);
        if (validated) restamp(r, why);  // the clock (and a spent budget's rate) where the run stops
        if (!validated && why == stop_reason::budget) {
            CHARLM_TRY(validate(r));
            if (r.best) CHARLM_TRY(save_files(false, true));
        }
        r.stop = why;
        r.stop_detail = sched_.describe(why, shown_epoch, batch, it_.batches_in_epoch());
        emit(r);
    } else {  // the last report stands (an epoch's end or a validation at this very step); its record says why
        stop_detail_ = sched_.describe(why, shown_epoch, batch, it_.batches_in_epoch());
        if (pending_record_) pending_record_->stop = why;
        write_pending_record();
    }
    if (batch > 0) {
        out_.epochs = epoch_;
        out_.train_ppl = epoch_loss_.perplexity();
    }
    if (saved_step_ != step_) CHARLM_TRY(save_files(true, false));
    if (checkpointed_step_ != step_)
        CHARLM_TRY(checkpoint(position(epoch_, batch, lr_, batch > 0 ? epoch_loss_ : loss_sum{}),
                              batch > 0 && cfg_.scheme == sampling::consecutive));
    if (why != stop_reason::signal) CHARLM_TRY(samples());
    return {};
}

// A sample from each --prefix with the model as it is now, once per step.
status training_run::samples() {
    if (!cb_.on_sample || sampled_step_ == step_) return {};
    sampled_step_ = step_;
    for (const auto& prefix : cfg_.prefixes) {
        sample_config sc;
        sc.length = cfg_.sample_length;
        sc.temperature = cfg_.sample_temperature;
        sc.seed = cfg_.seed + epoch_;
        bool interrupted = false;  // a long sample stops at a signal, as a step does
        auto text = generate(model_, prefix, sc, {}, [&](const generated_token&) { return !(interrupted = signal()); });
        if (!text) return text.err();
        if (interrupted) return {};
        cb_.on_sample(prefix, text->front());
    }
    return {};
}

train_outcome training_run::outcome() {
    write_pending_record();
    out_.steps = step_;
    out_.seconds = elapsed();
    out_.stop = stop_;
    out_.stop_detail = stop_detail_;
    out_.steps_run = step_ - first_step_;
    if (best_on_disk_ && (!out_.best_valid_ppl || *best_on_disk_ < *out_.best_valid_ppl)) {
        out_.best_valid_ppl = best_on_disk_;  // the kept file's figure, not this run's
        out_.best_epoch = 0;
    }
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
    r.lr = current_lr();
    r.chars_per_sec = static_cast<double>(window_tokens_) / std::max(1e-9, seconds_since(last_report_));
    r.elapsed_s = elapsed();
    return r;
}

// A report to the callback at once; to the metrics file when the run goes on past it (at the next
// step) or ends with it, so that a stop found right after it is carried by its record rather than
// by a second record of the same step.
// A report made before a validation that ends the run, given the clock of the moment the run stops
// and, when the budget ended it, the rate there (the cosine has reached --lr-final). Otherwise the
// rate stays the one its steps ran at (a plateau cut of the validation applies after it).
void training_run::restamp(train_report& r, stop_reason why) const {
    r.elapsed_s = elapsed();
    if (why == stop_reason::budget) r.lr = current_lr();
}

void training_run::emit(train_report& r) {
    if (r.stop != stop_reason::none) stop_detail_ = r.stop_detail;
    reported_step_ = step_;
    if (cb_.on_report) cb_.on_report(r);
    write_pending_record();
    pending_record_ = r;
    if (r.stop != stop_reason::none) write_pending_record();
    window_ = {};
    window_tokens_ = 0;
    last_report_ = clock_type::now();
}

// Validation over the whole validation text (its own session: the training state stays as it is);
// the best so far, patience and the plateau rate follow from it.
status training_run::validate(train_report& r) {
    if (corpus_.valid.size() < 2) return {};
    loss_sum v;
    if (world_.size() == 1) {
        v = evaluator_.evaluate(corpus_.valid, valid_streams_, cfg_.steps);
    } else {  // this rank's share of the streams, then the world's sums
        const auto S = static_cast<uint64_t>(valid_streams_), N = static_cast<uint64_t>(world_.size()),
                   r = static_cast<uint64_t>(world_.rank());
        const auto first = static_cast<uint32_t>(S * r / N), next = static_cast<uint32_t>(S * (r + 1) / N);
        if (next > first) v = evaluator_.evaluate_part(corpus_.valid, valid_streams_, cfg_.steps, first, next - first);
        double sums[2] = {v.nll, static_cast<double>(v.tokens)};
        CHARLM_TRY(world_.all_reduce(sums, 2, "the validation all-reduce"));
        v = {sums[0], static_cast<uint64_t>(sums[1])};
    }
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
    if (sched_.overfitting(r.train_ppl, ppl) && cb_.on_warning && rank0())
        cb_.on_warning(fmt::format("the validation perplexity has risen at each of the last {} validations (now "
                                   "{:.3f}, best {:.3f}) while the training perplexity fell (now {:.3f}): the model "
                                   "is learning the training text by heart. Use a smaller model (--hidden, --layers), "
                                   "dropout (--dropout 0.2), more text, or --patience to stop at the best model; the "
                                   "best so far is kept in {}",
                                   schedule::overfit_validations, ppl, out_.best_valid_ppl.value_or(ppl), r.train_ppl,
                                   cfg_.out.empty() ? std::string("no file (no --out)") : cfg_.out + ".best"));
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
    p.valid_checksum = valid_checksum_;
    return p;
}

training_summary training_run::summary() const {
    training_summary ts;
    ts.corpus = cfg_.corpus;
    ts.corpus_checksum = checksum_;
    ts.epochs = out_.epochs;
    ts.steps = step_;
    // Inside an epoch (a best model at an in-epoch validation), the epoch's loss so far.
    ts.train_ppl = epoch_loss_.tokens ? epoch_loss_.perplexity() : out_.train_ppl;
    ts.valid_ppl = out_.valid_ppl;
    return ts;
}

// <out> when `model`, <out>.best when `best`. A <out>.best of another run is removed at this run's
// first write: it would sit beside a different model.
status training_run::save_files(bool model, bool best) {
    if (cfg_.out.empty() || !rank0()) return {};
    const std::string best_path = cfg_.out + ".best";
    if (model) {
        CHARLM_TRY(save_model(cfg_.out, model_, summary()));
        written_ = true;
        saved_step_ = step_;
    }
    if (best && best_on_disk_ && *out_.valid_ppl > *best_on_disk_) {
        if (cb_.on_info)
            cb_.on_info(fmt::format("kept {} (valid ppl {:.3f}, from a later point of this run): this run's best so "
                                    "far ({:.3f}) is not as good",
                                    best_path, *best_on_disk_, *out_.valid_ppl));
    } else if (best) {
        CHARLM_TRY(save_model(best_path, model_, summary()));
        best_on_disk_.reset();
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
    training_session::recurrent_state state;  // the whole batch's, on rank 0
    if (carried) CHARLM_TRY(gather_state(state));
    if (!rank0()) return {};
    const auto* st = carried ? &state : nullptr;
    const std::string ckpt = cfg_.out + ".ckpt";
    if (cfg_.keep_last > 0 && p.batch == 0) {
        const std::string copy = fmt::format("{}.epoch{}.ckpt", cfg_.out, p.epoch);
        CHARLM_TRY(save_checkpoint(copy, model_, *opt_, summary(), cfg_, p, st, cfg_.batch));
        epoch_files_->written(copy);
    }
    CHARLM_TRY(save_checkpoint(ckpt, model_, *opt_, summary(), cfg_, p, st, cfg_.batch));
    out_.checkpoint = ckpt;
    checkpointed_step_ = step_;
    return {};
}

// The carried state of the whole batch: this process's, or gathered from the ranks onto rank 0.
status training_run::gather_state(training_session::recurrent_state& whole) {
    if (dp_) return dp_->gather_state(session_, whole);
    whole = session_.state();
    return {};
}

// Every rank starts from rank 0's weights, optimizer state and carried state (its own part of
// it), and checks that it holds what rank 0 holds: the weights and moments, and the corpus's
// vocabulary and size (each rank reads the corpus itself).
status training_run::sync_start(training_session::recurrent_state* carried) {
    if (world_.size() > 1) {
        auto bcast = [&](float* p, size_t n, const char* what) {
            return world_.broadcast(p, n * sizeof(float), fmt::format("broadcasting the {} from rank 0", what));
        };
        const param_view w = session_.params().front();
        CHARLM_TRY(bcast(w.value, w.count, "parameters"));
        for (const param_view& m : opt_->state()) CHARLM_TRY(bcast(m.value, m.count, "optimizer state"));
        if (carried) {
            const size_t n = size_t{model_.config().layers} * cfg_.batch * model_.config().hidden;
            const bool lstm = model_.config().cell == cell_type::lstm;
            carried->h.resize(n);
            if (lstm) carried->c.resize(n);
            CHARLM_TRY(bcast(carried->h.data(), n, "carried state"));
            if (lstm) CHARLM_TRY(bcast(carried->c.data(), n, "carried state"));
        }
        CHARLM_TRY(check_same_start());
    }
    if (carried) {
        if (dp_)
            dp_->set_state(session_, *carried);
        else
            session_.set_state(*carried);
    }
    return {};
}

status training_run::check_same_start() {
    uint64_t h = 1469598103934665603ull;
    auto mix = [&](const void* p, size_t bytes) {
        const auto* b = static_cast<const unsigned char*>(p);
        for (size_t i = 0; i < bytes; ++i) h = (h ^ b[i]) * 1099511628211ull;
    };
    const param_view w = session_.params().front();
    mix(w.value, w.count * sizeof(float));
    for (const param_view& m : opt_->state()) mix(m.value, m.count * sizeof(float));
    const uint64_t sizes[3] = {corpus_.vocab.size(), corpus_.train.size(), corpus_.valid.size()};
    mix(sizes, sizeof sizes);
    uint64_t h0 = h;
    CHARLM_TRY(world_.broadcast(&h0, sizeof h0, "comparing the ranks' starting points"));
    std::vector<double> differs(static_cast<size_t>(world_.size()), 0.0);
    differs[static_cast<size_t>(world_.rank())] = h != h0 ? 1.0 : 0.0;
    CHARLM_TRY(world_.all_reduce(differs.data(), differs.size(), "comparing the ranks' starting points"));
    std::string which;
    for (size_t r = 0; r < differs.size(); ++r)
        if (differs[r] > 0) which += fmt::format("{}{}", which.empty() ? "" : ", ", r);
    if (which.empty()) return {};
    return make_error(errc::input, fmt::format("rank(s) {} do not hold what rank 0 holds after its broadcast (the "
                                               "corpus gives them another vocabulary or size: every rank must read "
                                               "the same corpus file)",
                                               which));
}

// Divergence ends the run with an error; the files written before it stay as they were.
status training_run::diverged(const std::string& why) {
    stop_ = stop_reason::divergence;
    train_report r = report(false);
    r.step = step_ + 1;  // the step that diverged (not counted in step_), as the message says
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
