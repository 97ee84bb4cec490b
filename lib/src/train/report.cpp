// train_config validation (the option table's ranges, then what involves several settings) and
// the report's JSON line for --metrics. The human-readable report line is built in app/ (it prints).
#include <fmt/core.h>

#include <cmath>

#include "charlm/options.hpp"
#include "charlm/train.hpp"
#include "train/report.h"

namespace charlm {

status train_config::validate() const {
    auto usage = [](std::string m) { return make_error(errc::usage, std::move(m)); };
    if (corpus.empty()) return usage("--corpus FILE is required");
    CHARLM_TRY(check_ranges(train_options(), *this));  // the model's and the text's included
    if (epochs == 0 && time_budget_s <= 0) return usage("give --epochs N (N > 0) or --time-budget, or both");
    CHARLM_TRY(model.validate());
    return text.validate();
}

std::string metrics_json_line(const train_report& r) {
    auto num = [](double v) { return std::isfinite(v) ? fmt::format("{:.6g}", v) : std::string("null"); };
    return fmt::format(
        "{{\"epoch\": {}, \"step\": {}, \"end_of_epoch\": {}, \"train_ppl\": {}, \"valid_ppl\": {}, \"bpc\": {}, "
        "\"grad_norm\": {}, \"clipped\": {}, \"lr\": {}, \"chars_per_sec\": {}, \"elapsed_s\": {}}}",
        r.epoch, r.step, r.end_of_epoch, num(r.train_ppl), r.valid_ppl ? num(*r.valid_ppl) : "null", num(r.bpc),
        num(r.grad_norm), r.clipped, num(r.lr), num(r.chars_per_sec), num(r.elapsed_s));
}

}  // namespace charlm
