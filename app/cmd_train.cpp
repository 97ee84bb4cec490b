// `charlm train`: binds the options to train_config (defaults from the library), checks that
// nothing the user has would be overwritten, runs charlm::train and prints its reports.
#include <fmt/core.h>

#include <cstdlib>
#include <filesystem>
#include <thread>
#include <optional>

#include "charlm/files.hpp"
#include "charlm/train.hpp"
#include "cli.hpp"
#include "commands.hpp"
#include "requests.hpp"
#include "stop_signal.hpp"

namespace charlm::cli {

namespace {

// "2m05s" for a count of seconds, for the progress bar.
std::string clock_time(double seconds) {
    const auto s = static_cast<uint64_t>(std::max(0.0, seconds) + 0.5);
    if (s >= 3600) return fmt::format("{}h{:02}m", s / 3600, s % 3600 / 60);
    return s >= 60 ? fmt::format("{}m{:02}s", s / 60, s % 60) : fmt::format("{}s", s);
}

// Under mpirun with --threads 0: the cores shared among the ranks on this machine.
int threads_per_rank(int requested) {
    if (requested > 0 || !launched_by_mpi()) return requested;
    const char* local = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    const int ranks = local ? std::max(1, std::atoi(local)) : 1;
    return std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / ranks);
}

// This process's rank under mpirun ("" for rank 0 and outside it): errors of the other ranks say whose they are.
std::string rank_prefix() {
    for (const char* v : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"})
        if (const char* r = std::getenv(v); r && std::atoi(r) > 0) return fmt::format("rank {}: ", r);
    return "";
}

// The callbacks of the process that reports: this one alone, or rank 0 of a data-parallel run.
train_callbacks reporting_callbacks() {
    // mpirun gives each process a pseudo-terminal whatever its own output is: no progress bar there.
    const bool tty = stdout_is_terminal() && !launched_by_mpi();
    train_callbacks cb;
    cb.on_info = [](const std::string& s) { fmt::print("{}\n", s); };
    cb.on_reading = [last = std::string(), show = read_progress()](const std::string& path, uint64_t read,
                                                                     uint64_t total) mutable {
        if (path != last) show = reading_progress(last = path);
        if (show) show(read, total);
    };
    cb.on_warning = [](const std::string& s) { fmt::print(stderr, "charlm: warning: {}\n", s); };
    if (tty) {
        cb.on_progress = [](const train_progress& p) {
            if (p.batches == 0) return;
            const int width = 20;
            int filled = static_cast<int>(static_cast<double>(p.batch) / static_cast<double>(p.batches) * width);
            std::string line = fmt::format("\r[{:<{}}] {}/{} loss {:.3f} | {:.0f} char/s | epoch left {}",
                                           std::string(static_cast<size_t>(filled), '#'), width, p.batch, p.batches,
                                           p.loss, p.chars_per_sec, clock_time(p.epoch_left_s));
            if (p.budget_left_s) line += fmt::format(" | budget left {}", clock_time(*p.budget_left_s));
            fmt::print("{}\033[K", line);
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
    return cb;
}

// The run's closing lines; the exit status.
int report_outcome(const train_config& cfg, const train_outcome& outcome) {
    const std::string resume_hint =
        outcome.checkpoint.empty()
            ? ""
            : fmt::format("; the model so far is in {}; continue with: charlm train --resume {}", cfg.out,
                          outcome.checkpoint);
    if (outcome.interrupted) {
        const std::string saved = outcome.steps_run == 0 ? "; nothing was trained, nothing written"
                                  : outcome.checkpoint.empty() ? "; nothing was saved (no --out)"
                                                               : resume_hint;
        fmt::print(stderr, "charlm: stopped by signal {} after step {}{}\n", stop_signal(), outcome.steps, saved);
        return 128 + std::max(1, stop_signal());
    }
    if (outcome.steps_run == 0) {
        fmt::print("stopped ({}): {}\n", to_string(outcome.stop), outcome.stop_detail);
        return stop_requested() ? 128 + std::max(1, stop_signal()) : exit_ok;
    }
    fmt::print("done: {} epochs, {} steps in {:.1f}s; train ppl {:.3f}", outcome.epochs, outcome.steps,
               outcome.seconds, outcome.train_ppl);
    if (outcome.valid_ppl) fmt::print(", valid ppl {:.3f}", *outcome.valid_ppl);
    fmt::print("{}\n", cfg.out.empty() ? "" : fmt::format("; model written to {}", cfg.out));
    if (outcome.best_valid_ppl && !cfg.out.empty())
        fmt::print("best: valid ppl {:.3f}{}, in {}.best\n", *outcome.best_valid_ppl,
                   outcome.best_epoch ? fmt::format(" at epoch {}", outcome.best_epoch)
                                      : std::string(" (kept from a later point of this run)"),
                   cfg.out);
    if (outcome.stop != stop_reason::none)
        fmt::print("stopped ({}): {}\n", to_string(outcome.stop), outcome.stop_detail);
    if (outcome.stop == stop_reason::signal) {
        fmt::print(stderr, "charlm: stopped by signal {}{}\n", stop_signal(), resume_hint);
        return 128 + std::max(1, stop_signal());
    }
    if (stop_requested()) {  // after the run had ended: during its samples
        fmt::print(stderr, "charlm: stopped by signal {} while printing the samples; the run itself had ended ({}) "
                           "and its files are written\n",
                   stop_signal(), to_string(outcome.stop));
        return 128 + std::max(1, stop_signal());
    }
    return exit_ok;
}

}  // namespace

int cmd_train(int argc, char** argv) {
    train_request req;
    bool done = false;
    if (auto s = parse_train(argc, argv, req, &done); !s.ok()) return report_error(s.err());
    if (done) return exit_ok;
    const train_config& cfg = req.cfg;
    const double mpi_timeout = req.mpi_timeout;

    // Under mpirun: one rank of a data-parallel run. Rank 0 prints and writes; the others print
    // only their errors, and an error on any rank ends them all (MPI_Abort) rather than leaving
    // the others waiting.
    std::unique_ptr<communicator> world;
    if (launched_by_mpi()) {
        auto w = mpi_world(mpi_timeout);
        if (!w) return report_error(w.err());
        world = std::move(*w);
    }
    const bool rank0 = !world || world->rank() == 0;
    auto fail = [&](const error& e) {
        const int code = report_error({e.code, rank_prefix() + e.message});
        if (world && world->size() > 1) world->abort(code);
        return code;
    };

    auto ck = prepare_train(req, rank0);
    if (!ck) return fail(ck.err());
    const int used_threads = apply_threads(threads_per_rank(req.threads));  // a resumed run's: its checkpoint's
    if (rank0) warn_thread_change(*ck, used_threads);

    train_callbacks cb = rank0 ? reporting_callbacks() : train_callbacks{};
    cb.should_stop = stop_requested;
    arm_stop([rank0] {  // a validation of a large text takes a while: say that the signal was heard
        if (rank0)
            fmt::print(stderr, "\ncharlm: stopping after this step (a validation under way finishes first), then "
                               "saving a checkpoint; a second Ctrl-C quits at once without saving\n");
    });
    auto outcome = train(cfg, cb, world.get());
    if (!outcome) return fail(outcome.err());
    if (!rank0) return outcome->interrupted || outcome->stop == stop_reason::signal ? 128 + std::max(1, stop_signal())
                                                                                    : exit_ok;
    return report_outcome(cfg, *outcome);
}

}  // namespace charlm::cli
