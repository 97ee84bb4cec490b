// Parsing and naming of the training enums, train_config validation, the report as a line for
// people and as a JSON line for --metrics (built here and nowhere else), and the metrics file.
#include <fmt/core.h>

#include <cmath>

#include "charlm/train.hpp"
#include "train/report.h"

namespace charlm {

std::string to_string(optimizer_kind k) { return k == optimizer_kind::sgd ? "sgd" : "adam"; }

result<optimizer_kind> parse_optimizer(std::string_view s) {
    if (s == "sgd") return optimizer_kind::sgd;
    if (s == "adam") return optimizer_kind::adam;
    return make_error(errc::usage, fmt::format("unknown optimizer '{}': use sgd or adam", s));
}

std::string to_string(sampling s) { return s == sampling::random ? "random" : "consecutive"; }

result<sampling> parse_sampling(std::string_view s) {
    if (s == "random") return sampling::random;
    if (s == "consecutive") return sampling::consecutive;
    return make_error(errc::usage, fmt::format("unknown sampling '{}': use random or consecutive", s));
}

status train_config::validate() const {
    auto usage = [](std::string m) { return make_error(errc::usage, std::move(m)); };
    if (corpus.empty()) return usage("--corpus FILE is required");
    if (!(valid_fraction >= 0 && valid_fraction < 1)) return usage("--valid-fraction must be in [0, 1)");
    if (min_count < 1) return usage("--min-count must be at least 1");
    if (batch < 1 || batch > 65536) return usage("--batch must be between 1 and 65536");
    if (steps < 1 || steps > 100000) return usage("--steps must be between 1 and 100000");
    if (epochs == 0 && time_budget_s <= 0) return usage("give --epochs N (N > 0) or --time-budget, or both");
    if (!(lr > 0) || !std::isfinite(lr)) return usage("--lr must be a positive number");
    if (!(lr_decay > 0 && lr_decay <= 1)) return usage("--lr-decay must be in (0, 1]");
    if (!(clip >= 0) || !std::isfinite(clip)) return usage("--clip must be >= 0 (0 disables clipping)");
    if (!(valid_every_s >= 0) || !std::isfinite(valid_every_s)) return usage("--valid-every must be >= 0");
    if (!(lr_plateau > 0 && lr_plateau <= 1)) return usage("--lr-plateau must be in (0, 1]");
    if (!(sample_temperature >= 0) || !std::isfinite(sample_temperature))
        return usage("--sample-temperature must be >= 0");
    CHARLM_TRY(model.validate());
    return text.validate();
}

std::string to_string(stop_reason r) {
    switch (r) {
        case stop_reason::none: return "none";
        case stop_reason::epochs: return "epochs";
        case stop_reason::budget: return "budget";
        case stop_reason::patience: return "patience";
        case stop_reason::signal: return "signal";
        case stop_reason::divergence: return "divergence";
    }
    return "?";
}

std::string report_line(const train_report& r) {
    std::string s = fmt::format("epoch {} | step {} | train ppl {:.3f}", r.epoch, r.step, r.train_ppl);
    if (r.valid_ppl) s += fmt::format(" | valid ppl {:.3f}{}", *r.valid_ppl, r.best ? " (best)" : "");
    s += fmt::format(" | bpc {:.3f} | grad-norm {:.3g}{} | lr {:.2e} | {:.0f} char/s | {:.1f}s", r.bpc, r.grad_norm,
                     r.clipped ? " (clipped)" : "", r.lr, r.chars_per_sec, r.elapsed_s);
    if (!r.end_of_epoch) s += " | in epoch";
    if (r.stop != stop_reason::none) s += fmt::format(" | stopped: {}", r.stop_detail);
    return s;
}

std::string metrics_json_line(const train_report& r) {
    auto num = [](double v) { return std::isfinite(v) ? fmt::format("{:.6g}", v) : std::string("null"); };
    return fmt::format(
        "{{\"epoch\": {}, \"step\": {}, \"end_of_epoch\": {}, \"train_ppl\": {}, \"valid_ppl\": {}, \"best\": {}, "
        "\"bpc\": {}, \"grad_norm\": {}, \"clipped\": {}, \"lr\": {}, \"chars_per_sec\": {}, \"elapsed_s\": {}, "
        "\"stop\": {}}}",
        r.epoch, r.step, r.end_of_epoch, num(r.train_ppl), r.valid_ppl ? num(*r.valid_ppl) : "null", r.best,
        num(r.bpc), num(r.grad_norm), r.clipped, num(r.lr), num(r.chars_per_sec), num(r.elapsed_s),
        r.stop == stop_reason::none ? std::string("null") : fmt::format("\"{}\"", to_string(r.stop)));
}

namespace detail {

status metrics_writer::open(const std::string& path, bool append) {
    if (path.empty()) return {};
    out_.open(path, append ? std::ios::app : std::ios::trunc);
    if (!out_) return make_error(errc::io, fmt::format("cannot write metrics file '{}': check the path", path));
    return {};
}

void metrics_writer::write(const train_report& r) {
    if (!out_.is_open()) return;
    out_ << metrics_json_line(r) << '\n';
    out_.flush();
}

}  // namespace detail

}  // namespace charlm
