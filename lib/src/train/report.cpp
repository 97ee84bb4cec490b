// train_config validation (the option table's ranges, then what involves several settings), the
// report as a line for people and as a JSON line for --metrics (built here and nowhere else), and
// the metrics file.
#include <fmt/core.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "charlm/options.hpp"
#include "charlm/train.hpp"
#include "io/safetensors.h"
#include "train/report.h"

namespace charlm {

status train_config::validate() const {
    auto usage = [](std::string m) { return make_error(errc::usage, std::move(m)); };
    if (corpus.empty()) return usage("--corpus FILE is required");
    CHARLM_TRY(check_ranges(train_options(), *this));  // the model's and the text's included
    if (epochs == 0 && time_budget_s <= 0) return usage("give --epochs N (N > 0) or --time-budget, or both");
    CHARLM_TRY(model.validate());
    if (precision == charlm::precision::int8)
        return usage("--precision: int8 is for generate, eval and serve; train takes f32 or bf16");
    if (std::string why = precision_unavailable(precision, true); !why.empty()) return usage("--precision: " + why);
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

status metrics_writer::open(const std::string& path, bool append, uint64_t through) {
    if (path.empty()) return {};
    path_ = path;
    created_ = !std::filesystem::exists(path);
    if (append && !created_) {  // keep the records up to the checkpoint's step
        std::ifstream in(path);
        std::string kept, line;
        bool cut = false;
        while (std::getline(in, line)) {
            const auto j = nlohmann::json::parse(line, nullptr, false);
            const bool later = j.is_object() && j.contains("step") && j["step"].is_number_unsigned() &&
                               j["step"].get<uint64_t>() > through;
            cut = cut || later;
            if (!later) kept += line + '\n';
        }
        if (cut) CHARLM_TRY(io::write_file_atomic(path, kept));
    }
    out_.open(path, append ? std::ios::app : std::ios::trunc);
    if (!out_) return make_error(errc::io, fmt::format("cannot write metrics file '{}': check the path", path));
    return {};
}

void metrics_writer::write(const train_report& r) {
    if (!out_.is_open()) return;
    out_ << metrics_json_line(r) << '\n';
    out_.flush();
    used_ = true;
}

void metrics_writer::discard_if_unused() {
    if (!created_ || used_ || path_.empty()) return;
    out_.close();
    std::error_code ec;
    std::filesystem::remove(path_, ec);
}

}  // namespace detail

}  // namespace charlm
