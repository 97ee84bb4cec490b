// `charlm train`: binds the options to train_config (defaults from the library), checks that
// nothing the user has would be overwritten, runs charlm::train and prints its reports.
#include <fmt/core.h>

#include <csignal>
#include <filesystem>

#include "charlm/train.hpp"
#include "cli.hpp"
#include "commands.hpp"

namespace charlm::cli {

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;
extern "C" void on_stop_signal(int sig) { g_stop_signal = sig; }

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
    text_options text{cfg.text};
    std::string cell = to_string(cfg.model.cell), scheme = to_string(cfg.scheme), optimizer = to_string(cfg.optimizer);
    std::string budget;
    int threads = 0;
    bool force = false;

    po::options_description data("Data");
    data.add_options()
        ("corpus", po::value(&cfg.corpus), "training text file (required)")
        ("valid", po::value(&cfg.valid), "separate validation text file")
        ("valid-fraction", po::value(&cfg.valid_fraction)->default_value(cfg.valid_fraction),
         "use the last fraction of the corpus for validation when --valid is not given (0: none)")
        ("min-count", po::value(&cfg.min_count)->default_value(cfg.min_count),
         "tokens seen fewer times fold into <unk>");
    text.add_to(data);
    po::options_description model("Model");
    model.add_options()
        ("cell", po::value(&cell)->default_value(cell), "rnn | rnn-relu | gru | lbr-gru | lstm")
        ("layers", po::value(&cfg.model.layers)->default_value(cfg.model.layers), "stacked recurrent layers")
        ("hidden", po::value(&cfg.model.hidden)->default_value(cfg.model.hidden), "hidden size H")
        ("embed", po::value(&cfg.model.embed)->default_value(cfg.model.embed), "embedding size (0: one-hot input)")
        ("dropout", po::value(&cfg.model.dropout)->default_value(cfg.model.dropout), "dropout between layers");
    po::options_description training("Training");
    training.add_options()
        ("batch", po::value(&cfg.batch)->default_value(cfg.batch), "sequences per batch N")
        ("steps", po::value(&cfg.steps)->default_value(cfg.steps), "time steps per sequence T (truncated BPTT)")
        ("sampling", po::value(&scheme)->default_value(scheme), "minibatches: random | consecutive")
        ("epochs", po::value(&cfg.epochs)->default_value(cfg.epochs), "epochs (0: until --time-budget)")
        ("time-budget", po::value(&budget), "stop after this long, e.g. 45s, 10m, 1h")
        ("optimizer", po::value(&optimizer)->default_value(optimizer), "sgd | adam")
        ("lr", po::value(&cfg.lr)->default_value(cfg.lr), "learning rate")
        ("lr-decay", po::value(&cfg.lr_decay)->default_value(cfg.lr_decay), "learning-rate factor per epoch")
        ("clip", po::value(&cfg.clip)->default_value(cfg.clip), "global gradient-norm threshold (0: no clipping)")
        ("seed", po::value(&cfg.seed)->default_value(cfg.seed), "random seed (initialization, batches, samples)")
        ("threads", po::value(&threads)->default_value(threads), "threads (0: the cores available)")
        ("report-every", po::value(&cfg.report_every)->default_value(cfg.report_every),
         "steps between reports inside an epoch (0: about every 10 s)");
    po::options_description output("Output");
    output.add_options()
        ("out", po::value(&cfg.out), "model file to write (safetensors), after every epoch")
        ("force", po::bool_switch(&force), "overwrite --out and --metrics if they exist")
        ("metrics", po::value(&cfg.metrics), "write every report as a JSON line to this file")
        ("prefix", po::value(&cfg.prefixes)->composing(), "print a sample from this prefix (repeatable)")
        ("sample-every", po::value(&cfg.sample_every)->default_value(cfg.sample_every),
         "epochs between samples (0: only at the end)")
        ("sample-length", po::value(&cfg.sample_length)->default_value(cfg.sample_length), "tokens per sample")
        ("sample-temperature", po::value(&cfg.sample_temperature)->default_value(cfg.sample_temperature),
         "sampling temperature (0: argmax)");
    po::options_description all;
    all.add(data).add(model).add(training).add(output);

    po::variables_map vm;
    bool done = false;
    if (auto s = parse_command(argc, argv, "charlm train --corpus FILE [options]", all, nullptr, vm, &done); !s.ok())
        return report_error(s.err());
    if (done) return exit_ok;

    auto tc = text.finish();
    if (!tc) return report_error(tc.err());
    cfg.text = *tc;
    auto c = parse_cell_type(cell);
    if (!c) return report_error(make_error(errc::usage, "--cell: " + c.err().message));
    cfg.model.cell = *c;
    auto sc = parse_sampling(scheme);
    if (!sc) return report_error(make_error(errc::usage, "--sampling: " + sc.err().message));
    cfg.scheme = *sc;
    auto op = parse_optimizer(optimizer);
    if (!op) return report_error(make_error(errc::usage, "--optimizer: " + op.err().message));
    cfg.optimizer = *op;
    if (!budget.empty()) {
        auto d = parse_duration(budget);
        if (!d) return report_error(make_error(errc::usage, "--time-budget: " + d.err().message));
        cfg.time_budget_s = *d;
        if (vm["epochs"].defaulted()) cfg.epochs = 0;
    }
    if (threads < 0) return report_error(make_error(errc::usage, "--threads must be >= 0"));
    if (auto s = cfg.validate(); !s.ok()) return report_error(s.err());
    const std::string best = cfg.out.empty() ? "" : cfg.out + ".best";
    const std::string* outputs[] = {&cfg.out, &best, &cfg.metrics};
    for (const std::string* f : outputs) {
        if (!f->empty() && !force && std::filesystem::exists(*f))
            return report_error(make_error(
                errc::io, fmt::format("'{}' exists; pass --force to overwrite it or choose another name", *f)));
    }
    apply_threads(threads);

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
    fmt::print("done: {} epochs, {} steps in {:.1f}s; train ppl {:.3f}", outcome->epochs, outcome->steps,
               outcome->seconds, outcome->train_ppl);
    if (outcome->valid_ppl) fmt::print(", valid ppl {:.3f}", *outcome->valid_ppl);
    fmt::print("{}\n", cfg.out.empty() ? "" : fmt::format("; model written to {}", cfg.out));
    if (outcome->best_valid_ppl && !cfg.out.empty())
        fmt::print("best: valid ppl {:.3f} at epoch {}, written to {}.best\n", *outcome->best_valid_ppl,
                   outcome->best_epoch, cfg.out);
    if (g_stop_signal) {
        fmt::print(stderr, "charlm: stopped by signal {}{}\n", static_cast<int>(g_stop_signal),
                   cfg.out.empty() ? "" : fmt::format("; the model so far is in {}", cfg.out));
        return 128 + g_stop_signal;
    }
    return exit_ok;
}

}  // namespace charlm::cli
