// `charlm train`: binds the options to train_config (defaults from the library), checks that
// nothing the user has would be overwritten, runs charlm::train and prints its reports.
#include <fmt/core.h>

#include <csignal>
#include <optional>

#include "charlm/files.hpp"
#include "charlm/train.hpp"
#include "cli.hpp"
#include "commands.hpp"

namespace charlm::cli {

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;
// The first SIGINT/SIGTERM asks for a clean stop after the current step; a second one ends the
// process at once (files are written atomically, so that loses nothing already saved).
extern "C" void on_stop_signal(int sig) {
    if (g_stop_signal != 0) {
        std::signal(sig, SIG_DFL);
        std::raise(sig);
        return;
    }
    g_stop_signal = sig;
}

// The one place the human-readable report line is built.
std::string report_line(const train_report& r) {
    std::string s = fmt::format("epoch {} | step {} | train ppl {:.3f}", r.epoch, r.step, r.train_ppl);
    if (r.valid_ppl) s += fmt::format(" | valid ppl {:.3f}{}", *r.valid_ppl, r.best ? " (best)" : "");
    s += fmt::format(" | bpc {:.3f} | grad-norm {:.3g}{} | lr {:.2e} | {:.0f} char/s | {:.1f}s", r.bpc, r.grad_norm,
                     r.clipped ? " (clipped)" : "", r.lr, r.chars_per_sec, r.elapsed_s);
    if (!r.end_of_epoch) s += " | in epoch";
    return s;
}

}  // namespace

int cmd_train(int argc, char** argv) {
    train_config cfg;
    int threads = 0;
    bool force = false;
    option_groups groups;
    add_options(groups, train_options(), cfg);
    groups["Training"].add_options()("threads", po::value(&threads)->default_value(threads),
                                     "threads (0: the cores available)");
    groups["Output"].add_options()("force", po::bool_switch(&force),
                                   "overwrite --out, its .best/.ckpt and --metrics if they exist");
    std::set<std::string> given;  // the settings named on the command line or in --config
    auto bind = [&](const po::variables_map& vm) -> status {
        CHARLM_TRY(take_options(train_options(), vm, cfg, &given));
        return apply_implied(cfg, given);
    };
    po::options_description all = groups.all();
    po::variables_map vm;
    bool done = false;
    if (auto s = parse_command(argc, argv, "charlm train --corpus FILE [options]", all, nullptr, vm, &done, bind);
        !s.ok())
        return report_error(s.err());
    if (done) return exit_ok;
    if (threads < 0) return report_error(make_error(errc::usage, "--threads must be >= 0"));
    std::optional<checkpoint_info> ck;
    if (!cfg.resume.empty()) {
        // The run continues with the checkpoint's settings, replaced by those given here; the
        // library refuses those that would change the run.
        auto r = read_checkpoint(cfg.resume);
        if (!r) return report_error(r.err());
        ck = std::move(*r);
        train_config run = ck->config;
        copy_given(train_options(), given, cfg, run);
        cfg = std::move(run);
    }
    if (auto s = cfg.validate(); !s.ok()) return report_error(s.err());
    for (const auto& w : cfg.model.warnings()) fmt::print(stderr, "charlm: warning: {}\n", w);
    // A resumed run owns the files its checkpoint names; anything else needs --force to be replaced.
    const bool same_run = ck && cfg.out == ck->config.out;
    const std::string best = cfg.out.empty() ? "" : cfg.out + ".best";
    const std::string ckpt = cfg.out.empty() ? "" : cfg.out + ".ckpt";
    const std::string* outputs[] = {&cfg.out, &best, &ckpt, &cfg.metrics};
    for (const std::string* f : outputs)  // refused before an epoch is spent (the writer refuses too)
        if (auto st = check_output_path(*f, force || same_run); !st.ok()) return report_error(st.err());
    const int used_threads = apply_threads(threads);
    if (ck && ck->threads != used_threads)
        fmt::print(stderr,
                   "charlm: warning: the checkpoint was trained with {} threads, this run uses {}: it continues "
                   "correctly but will not match an uninterrupted run bit for bit\n",
                   ck->threads, used_threads);

    const bool tty = stdout_is_terminal();
    train_callbacks cb;
    cb.on_info = [](const std::string& s) { fmt::print("{}\n", s); };
    if (tty) {
        cb.on_progress = [](uint64_t done, uint64_t total, double loss) {
            if (total == 0) return;
            const int width = 30;
            int filled = static_cast<int>(static_cast<double>(done) / static_cast<double>(total) * width);
            fmt::print("\r[{:<{}}] {}/{} loss {:.3f} ", std::string(static_cast<size_t>(filled), '#'), width, done,
                       total, loss);
            std::fflush(stdout);
        };
    }
    cb.on_report = [tty](const train_report& r) {
        if (tty) fmt::print("\r\033[K");
        fmt::print("{}\n", report_line(r));
        std::fflush(stdout);
    };
    cb.on_sample = [tty](const std::string&, const std::string& text) {
        if (tty) fmt::print("\r\033[K");
        fmt::print("sample: {}\n", text);
        std::fflush(stdout);
    };
    cb.should_stop = [] { return g_stop_signal != 0; };
    std::signal(SIGINT, on_stop_signal);
    std::signal(SIGTERM, on_stop_signal);

    auto outcome = train(cfg, cb);
    if (!outcome) return report_error(outcome.err());
    // A signal either ends the run mid-epoch (interrupted: no summary) or arrives during the last
    // epoch's end, after the summary; either way the one message says what was kept.
    if (!outcome->interrupted) {
        fmt::print("done: {} epochs, {} steps in {:.1f}s; train ppl {:.3f}", outcome->epochs, outcome->steps,
                   outcome->seconds, outcome->train_ppl);
        if (outcome->valid_ppl) fmt::print(", valid ppl {:.3f}", *outcome->valid_ppl);
        fmt::print("{}\n", cfg.out.empty() ? "" : fmt::format("; model written to {}", cfg.out));
        if (outcome->best_valid_ppl && !cfg.out.empty())
            fmt::print("best: valid ppl {:.3f} at epoch {}, written to {}.best\n", *outcome->best_valid_ppl,
                       outcome->best_epoch, cfg.out);
    }
    if (g_stop_signal != 0) {
        fmt::print(stderr, "charlm: stopped by signal {} after step {}{}\n", static_cast<int>(g_stop_signal),
                   outcome->steps,
                   outcome->checkpoint.empty()
                       ? "; nothing was saved (no --out)"
                       : fmt::format("; the model so far is in {}; continue with: charlm train --resume {}", cfg.out,
                                     outcome->checkpoint));
        return 128 + g_stop_signal;
    }
    return exit_ok;
}

}  // namespace charlm::cli
