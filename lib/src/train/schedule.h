// When a training run reports, validates, checkpoints, samples and stops: decided here, from the
// configuration, the step and epoch counts, the clock and the validation figures the trainer
// hands in. The trainer asks and acts; this unit touches no model, no file and no callback.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "charlm/train.hpp"

namespace charlm::detail {

class schedule {
public:
    // The time budget is `cfg`'s (0: none), counted over the whole run; `stale`: the validations
    // without a new best carried over from a checkpoint.
    schedule(const train_config& cfg, bool has_valid, uint32_t stale);

    // Before a step inside an epoch: a reason to stop there, or none.
    stop_reason stop_before_step(double elapsed_s, bool signal) const;
    // After the last batch of epoch `epoch` (1-based): a reason to end the run with it, or none
    // (patience is decided by record_validation()).
    stop_reason stop_at_epoch_end(uint64_t epoch, double elapsed_s, bool signal) const;

    // After optimizer step `step` (counted over the run) when batches of the epoch are left.
    bool report_due(uint64_t step, double since_report_s) const;
    bool validation_due(uint64_t step, double since_validation_s) const;
    // At the end of epoch `epoch` (1-based); `last`: the run ends there.
    bool checkpoint_due(uint64_t epoch, bool last) const;
    bool samples_due(uint64_t epoch, bool last) const;

    // A validation's perplexity against the best so far: whether it is a new best. Counts the
    // validations in a row without one; out_of_patience() once they reach --patience.
    bool record_validation(double ppl, const std::optional<double>& best);
    bool out_of_patience() const;
    // Overfitting, said once: true the first time the validation perplexity has risen at each of
    // the last `overfit_validations` validations while the training perplexity fell over them.
    static constexpr int overfit_validations = 3;
    bool overfitting(double train_ppl, double valid_ppl);
    uint32_t stale_validations() const { return stale_; }
    // The learning rate after a validation (--lr-plateau lowers it when there was no new best).
    double lr_after_validation(double lr, bool improved) const;

    // What the learning rate is multiplied by for the step after `step` steps of the run: the
    // warm-up's linear rise (step + 1) / warmup, then, with --lr-schedule cosine, a half cosine from 1
    // to --lr-final over the run's progress: the larger of its share of the epochs (`batches` a
    // epoch) and its share of the time budget.
    double lr_factor(uint64_t step, double elapsed_s, uint64_t batches) const;
    // The cosine's progress in [0, 1] after `step` steps and `elapsed_s` seconds.
    double progress(uint64_t step, double elapsed_s, uint64_t batches) const;
    // A resumed run with another horizon than its checkpoint's (more epochs, another budget, a spent
    // budget dropped for --epochs): the cosine goes on from `progress` at `step` and `elapsed_s` to
    // its end at the new horizon, instead of jumping to where the new horizon's curve would be.
    void continue_from(double progress, uint64_t step, double elapsed_s);

    // A sentence for the last report line: "all 10 epochs done", "time budget of 3m spent", ...;
    // `batches` 0: a stop before the run's first step.
    std::string describe(stop_reason why, uint64_t epoch, uint64_t batch, uint64_t batches) const;

private:
    const train_config* cfg_;
    bool has_valid_;
    uint32_t stale_;
    double last_train_ = 0, last_valid_ = 0;  // at the previous validation (0: none yet)
    int rising_ = 0;                          // validations in a row with valid up and train down
    bool overfit_said_ = false;
    bool continuing_ = false;
    double from_progress_ = 0, from_elapsed_s_ = 0;
    uint64_t from_step_ = 0;
};

// "3m", "1h20m", "45s", "2.5s": a duration as a person writes it.
std::string format_duration(double seconds);

}  // namespace charlm::detail
