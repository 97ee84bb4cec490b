// The training schedule (schedule.h): reports, validation, checkpoints, samples and stopping.
#include "train/schedule.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <numbers>

namespace charlm::detail {

schedule::schedule(const train_config& cfg, bool has_valid, uint32_t stale)
    : cfg_(&cfg), has_valid_(has_valid), stale_(stale) {}

stop_reason schedule::stop_before_step(double elapsed_s, bool signal) const {
    if (signal) return stop_reason::signal;
    if (cfg_->time_budget_s > 0 && elapsed_s >= cfg_->time_budget_s) return stop_reason::budget;
    return stop_reason::none;
}

stop_reason schedule::stop_at_epoch_end(uint64_t epoch, double elapsed_s, bool signal) const {
    if (cfg_->epochs != 0 && epoch >= cfg_->epochs) return stop_reason::epochs;
    return stop_before_step(elapsed_s, signal);
}

bool schedule::report_due(uint64_t step, double since_report_s) const {
    return cfg_->report_every ? step % cfg_->report_every == 0 : since_report_s >= 10.0;
}

bool schedule::validation_due(uint64_t step, double since_validation_s) const {
    if (!has_valid_) return false;
    return (cfg_->valid_every_steps && step % cfg_->valid_every_steps == 0) ||
           (cfg_->valid_every_s > 0 && since_validation_s >= cfg_->valid_every_s);
}

bool schedule::checkpoint_due(uint64_t epoch, bool last) const {
    return last || epoch % std::max<uint32_t>(1, cfg_->checkpoint_every) == 0;
}

bool schedule::samples_due(uint64_t epoch, bool last) const {
    return !cfg_->prefixes.empty() && (last || (cfg_->sample_every && epoch % cfg_->sample_every == 0));
}

bool schedule::record_validation(double ppl, const std::optional<double>& best) {
    const bool improved = !best || ppl < *best;
    stale_ = improved ? 0 : stale_ + 1;
    return improved;
}

bool schedule::overfitting(double train_ppl, double valid_ppl) {
    const bool diverging = last_valid_ > 0 && valid_ppl > last_valid_ && train_ppl < last_train_;
    rising_ = diverging ? rising_ + 1 : 0;
    last_train_ = train_ppl;
    last_valid_ = valid_ppl;
    if (overfit_said_ || rising_ < overfit_validations) return false;
    overfit_said_ = true;
    return true;
}

bool schedule::out_of_patience() const { return cfg_->patience > 0 && stale_ >= cfg_->patience; }

double schedule::lr_after_validation(double lr, bool improved) const {
    return improved || cfg_->lr_plateau == 1.0f ? lr : lr * static_cast<double>(cfg_->lr_plateau);
}

double schedule::progress(uint64_t step, double elapsed_s, uint64_t batches) const {
    // Continuing (continue_from): what is left of the curve spread over what is left of the horizon.
    auto onwards = [&](double now, double from, double end) {
        if (!continuing_) return now / end;
        return end > from ? from_progress_ + (1 - from_progress_) * (now - from) / (end - from) : 1.0;
    };
    double done = 0;
    if (cfg_->epochs > 0)
        done = onwards(static_cast<double>(step), static_cast<double>(from_step_),
                       static_cast<double>(cfg_->epochs) * static_cast<double>(std::max<uint64_t>(1, batches)));
    if (cfg_->time_budget_s > 0) done = std::max(done, onwards(elapsed_s, from_elapsed_s_, cfg_->time_budget_s));
    return std::clamp(done, 0.0, 1.0);
}

void schedule::continue_from(double progress, uint64_t step, double elapsed_s) {
    continuing_ = true;
    from_progress_ = progress;
    from_step_ = step;
    from_elapsed_s_ = elapsed_s;
}

double schedule::lr_factor(uint64_t step, double elapsed_s, uint64_t batches) const {
    const double warm = step < cfg_->warmup ? static_cast<double>(step + 1) / cfg_->warmup : 1.0;
    if (cfg_->schedule == lr_schedule::constant) return warm;
    const double end = cfg_->lr_final;
    return warm * (end + (1 - end) * 0.5 * (1 + std::cos(std::numbers::pi * progress(step, elapsed_s, batches))));
}

std::string schedule::describe(stop_reason why, uint64_t epoch, uint64_t batch, uint64_t batches) const {
    const std::string where = batches == 0 ? std::string("before the first step")
                              : batch == 0 || batch >= batches
                                  ? fmt::format("after epoch {}", epoch)
                                  : fmt::format("in epoch {} (batch {} of {})", epoch, batch, batches);
    switch (why) {
        case stop_reason::epochs: return fmt::format("all {} epochs done", cfg_->epochs);
        case stop_reason::budget: return fmt::format("time budget of {} spent {}", format_duration(cfg_->time_budget_s), where);
        case stop_reason::patience:
            return fmt::format("{} validation{} in a row without a new best (--patience {}) {}", stale_,
                               stale_ == 1 ? "" : "s", cfg_->patience, where);
        case stop_reason::signal: return fmt::format("signal {}", where);
        case stop_reason::divergence: return fmt::format("the loss diverged {}", where);
        case stop_reason::none: break;
    }
    return "";
}

std::string format_duration(double seconds) {
    if (seconds < 0.001) return fmt::format("{:g}s", seconds);  // 1e-06s, not 0s
    if (seconds < 60) return fmt::format("{:g}s", std::round(seconds * 1000) / 1000);
    const auto s = static_cast<uint64_t>(std::llround(seconds));
    std::string out;
    if (s >= 3600) out += fmt::format("{}h", s / 3600);
    if (s % 3600 >= 60) out += fmt::format("{}m", s % 3600 / 60);
    if (s % 60) out += fmt::format("{}s", s % 60);
    return out;
}

}  // namespace charlm::detail
