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

// --resume: the run continues with the checkpoint's settings, replaced by those given here (the
// library refuses those that would change the run). Without --resume: none.
result<std::optional<checkpoint_info>> merge_checkpoint(train_config& cfg, const std::set<std::string>& given) {
    if (cfg.resume.empty()) return std::optional<checkpoint_info>{};
    auto r = read_checkpoint(cfg.resume);
    if (!r) return r.err();
    train_config run = r->config;
    copy_given(train_options(), given, cfg, run);
    cfg = std::move(run);
    return std::optional<checkpoint_info>{std::move(*r)};
}

// Refused before an epoch is spent (the writer refuses too): a resumed run owns the files its
// checkpoint names (`ck`, same --out, same --metrics) unless they hold later steps than the
// checkpoint; anything else the user has needs --force to be replaced.
status check_outputs(const train_config& cfg, bool force, const checkpoint_info* ck) {
    const bool same_out = ck && cfg.out == ck->config.out;
    const bool same_metrics = ck && cfg.metrics == ck->config.metrics;
    const std::string best = cfg.out.empty() ? "" : cfg.out + ".best";
    const std::string ckpt = cfg.out.empty() ? "" : cfg.out + ".ckpt";
    const std::pair<const std::string*, bool> outputs[] = {
        {&cfg.out, same_out}, {&best, same_out}, {&ckpt, same_out}, {&cfg.metrics, same_metrics}};
    std::string replaced;
    for (const auto& [f, ours] : outputs) {
        CHARLM_TRY(check_output_path(*f, force || ours));
        if (!f->empty() && !ours && std::filesystem::exists(*f))
            replaced += fmt::format("{}{}", replaced.empty() ? "" : ", ", *f);
    }
    if (same_out && !force) {
        const std::vector<std::string> newer = newer_than_checkpoint(cfg.out, *ck);
        std::string list;
        for (const auto& n : newer) list += fmt::format("{}{}", list.empty() ? "" : ", ", n);
        if (!newer.empty())
            return make_error(errc::io, fmt::format("--resume {} continues from step {}, but {} hold{} later steps of "
                                                    "the run: resuming would replace {}; pass --force to replace "
                                                    "{} ({}.best is replaced only by a better model), or give "
                                                    "another --out",
                                                    cfg.resume, ck->step, list, newer.size() == 1 ? "s" : "",
                                                    newer.size() == 1 ? "it" : "them",
                                                    newer.size() == 1 ? "it" : "them", cfg.out));
    }
    if (!replaced.empty())
        fmt::print("--force: replacing {} (epoch checkpoints of other runs are left as they are)\n", replaced);
    return {};
}

}  // namespace

int cmd_train(int argc, char** argv) {
    train_config cfg;
    int threads = 0;
    double mpi_timeout = 300;
    bool force = false;
    option_groups groups;
    add_options(groups, train_options(), cfg);
    groups["Training"].add_options()("threads", po::value(&threads)->default_value(threads),
                                     "threads (0: the cores available; under mpirun, shared among the processes "
                                     "on each machine)")(
        "mpi-timeout", po::value(&mpi_timeout)->default_value(mpi_timeout),
        "under mpirun: seconds a process waits for the others before the run ends with an error");
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
    if (!(mpi_timeout > 0)) return report_error(make_error(errc::usage, "--mpi-timeout must be > 0 seconds"));

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

    auto ck = merge_checkpoint(cfg, given);
    if (!ck) return fail(ck.err());
    if (auto s = cfg.validate(); !s.ok()) return fail(s.err());
    if (rank0) {
        for (const auto& w : cfg.model.warnings()) fmt::print(stderr, "charlm: warning: {}\n", w);
        if (auto s = check_outputs(cfg, force, *ck ? &**ck : nullptr); !s.ok()) return fail(s.err());
    }
    const int used_threads = apply_threads(threads_per_rank(threads));
    if (*ck && (*ck)->threads != used_threads && rank0)
        fmt::print(stderr,
                   "charlm: warning: the checkpoint was trained with {} threads, this run uses {}: it continues "
                   "correctly but will not match an uninterrupted run bit for bit\n",
                   (*ck)->threads, used_threads);

    train_callbacks cb = rank0 ? reporting_callbacks() : train_callbacks{};
    cb.should_stop = stop_requested;
    arm_stop();
    auto outcome = train(cfg, cb, world.get());
    if (!outcome) return fail(outcome.err());
    if (!rank0) return outcome->interrupted || outcome->stop == stop_reason::signal ? 128 + std::max(1, stop_signal())
                                                                                    : exit_ok;
    return report_outcome(cfg, *outcome);
}

}  // namespace charlm::cli
