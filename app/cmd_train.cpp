// `charlm train`: binds the options to train_config (defaults from the library), checks that
// nothing the user has would be overwritten, runs charlm::train and prints its reports.
#include <fmt/core.h>

#include <filesystem>
#include <optional>

#include "charlm/train.hpp"
#include "cli.hpp"
#include "commands.hpp"
#include "stop_signal.hpp"

namespace charlm::cli {

namespace {

// With --resume, the run starts from the checkpoint's configuration; options given on the command
// line replace the checkpoint's values (the library then refuses those that would change the run).
void merge_explicit(const po::variables_map& vm, const train_config& given, train_config& run) {
    auto set = [&](const char* opt) { return vm.count(opt) && !vm[opt].defaulted(); };
    if (set("corpus")) run.corpus = given.corpus;
    if (set("valid")) run.valid = given.valid;
    if (set("valid-fraction")) run.valid_fraction = given.valid_fraction;
    if (set("min-count")) run.min_count = given.min_count;
    for (const char* t : {"encoding", "on-invalid", "normalize", "unit", "lowercase"})
        if (set(t)) run.text = given.text;
    if (set("cell")) run.model.cell = given.model.cell;
    if (set("layers")) run.model.layers = given.model.layers;
    if (set("hidden")) run.model.hidden = given.model.hidden;
    if (set("embed")) run.model.embed = given.model.embed;
    if (set("dropout")) run.model.dropout = given.model.dropout;
    if (set("softmax") || set("cutoffs")) run.model.softmax = given.model.softmax;
    if (set("cutoffs")) run.model.cutoffs = given.model.cutoffs;
    if (set("div-value")) run.model.div_value = given.model.div_value;
    if (set("batch")) run.batch = given.batch;
    if (set("steps")) run.steps = given.steps;
    if (set("sampling")) run.scheme = given.scheme;
    if (set("epochs")) run.epochs = given.epochs;
    if (set("time-budget")) run.time_budget_s = given.time_budget_s;
    if (set("optimizer")) run.optimizer = given.optimizer;
    if (set("lr")) run.lr = given.lr;
    if (set("lr-decay")) run.lr_decay = given.lr_decay;
    if (set("clip")) run.clip = given.clip;
    if (set("seed")) run.seed = given.seed;
    if (set("report-every")) run.report_every = given.report_every;
    if (set("out")) run.out = given.out;
    if (set("metrics")) run.metrics = given.metrics;
    if (set("prefix")) run.prefixes = given.prefixes;
    if (set("sample-every")) run.sample_every = given.sample_every;
    if (set("sample-length")) run.sample_length = given.sample_length;
    if (set("sample-temperature")) run.sample_temperature = given.sample_temperature;
    if (set("checkpoint-every")) run.checkpoint_every = given.checkpoint_every;
    if (set("keep-last")) run.keep_last = given.keep_last;
    if (set("valid-every")) {
        run.valid_every_steps = given.valid_every_steps;
        run.valid_every_s = given.valid_every_s;
    }
    if (set("patience")) run.patience = given.patience;
    if (set("lr-plateau")) run.lr_plateau = given.lr_plateau;
}

// "2m05s" for a count of seconds, for the progress bar.
std::string clock_time(double seconds) {
    const auto s = static_cast<uint64_t>(std::max(0.0, seconds) + 0.5);
    if (s >= 3600) return fmt::format("{}h{:02}m", s / 3600, s % 3600 / 60);
    return s >= 60 ? fmt::format("{}m{:02}s", s / 60, s % 60) : fmt::format("{}s", s);
}

// `--valid-every 500` (steps) or `--valid-every 2m` (a duration).
status parse_valid_every(const std::string& text, train_config& cfg) {
    if (!text.empty() && text.size() <= 9 && text.find_first_not_of("0123456789") == std::string::npos) {
        cfg.valid_every_steps = static_cast<uint32_t>(std::stoul(text));
        return {};
    }
    auto d = parse_duration(text);
    if (!d)
        return make_error(errc::usage, fmt::format("--valid-every: '{}' is neither a step count (e.g. 500) nor a "
                                                   "duration (e.g. 30s, 2m)",
                                                   text));
    cfg.valid_every_s = *d;
    return {};
}

}  // namespace

int cmd_train(int argc, char** argv) {
    train_config cfg;
    text_options text{cfg.text};
    std::string cell = to_string(cfg.model.cell), scheme = to_string(cfg.scheme), optimizer = to_string(cfg.optimizer);
    std::string budget, softmax = to_string(cfg.model.softmax), cutoffs, valid_every;
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
        ("dropout", po::value(&cfg.model.dropout)->default_value(cfg.model.dropout), "dropout between layers")
        ("softmax", po::value(&softmax)->default_value(softmax),
         "output layer: full | adaptive (frequent tokens in a head, rarer ones in clusters behind narrower "
         "projections: much faster for large vocabularies such as Chinese)")
        ("cutoffs", po::value(&cutoffs), "adaptive softmax cluster boundaries as token ids in frequency order, e.g. "
         "1000,3000 (implies --softmax adaptive; default: chosen from the corpus, the head covering 80% of the text)")
        ("div-value", po::value(&cfg.model.div_value)->default_value(cfg.model.div_value),
         "adaptive softmax: cluster k's projection is hidden / div-value^k wide");
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
         "steps between reports inside an epoch (0: about every 10 s)")
        ("valid-every", po::value(&valid_every), "also validate inside epochs: every N steps (e.g. 500) or this "
         "often (e.g. 2m); validation always runs at the end of an epoch")
        ("patience", po::value(&cfg.patience)->default_value(cfg.patience),
         "stop after N validations in a row without a new best validation perplexity (0: never)")
        ("lr-plateau", po::value(&cfg.lr_plateau)->default_value(cfg.lr_plateau),
         "multiply the learning rate by this after a validation without a new best (1: off)");
    po::options_description output("Output");
    output.add_options()
        ("out", po::value(&cfg.out), "model file to write (safetensors), after every epoch; also <out>.best "
         "(lowest validation perplexity) and <out>.ckpt (checkpoint to resume from)")
        ("force", po::bool_switch(&force), "overwrite --out, its .best/.ckpt and --metrics if they exist")
        ("resume", po::value(&cfg.resume), "continue the run saved in this checkpoint (e.g. model.safetensors.ckpt); "
         "its settings apply unless given here; --epochs and --time-budget count the whole run")
        ("checkpoint-every", po::value(&cfg.checkpoint_every)->default_value(cfg.checkpoint_every),
         "epochs between checkpoints (one is also written at the end and on Ctrl-C)")
        ("keep-last", po::value(&cfg.keep_last)->default_value(cfg.keep_last),
         "also keep the K newest checkpoints as <out>.epoch<E>.ckpt (0: none)")
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
    auto sm = parse_softmax_type(softmax);
    if (!sm) return report_error(make_error(errc::usage, "--softmax: " + sm.err().message));
    cfg.model.softmax = *sm;
    if (vm.count("cutoffs")) {
        auto list = parse_id_list(cutoffs);
        if (!list) return report_error(make_error(errc::usage, "--cutoffs: " + list.err().message));
        if (!vm["softmax"].defaulted() && cfg.model.softmax == softmax_type::full)
            return report_error(make_error(errc::usage, "--cutoffs needs --softmax adaptive, not full"));
        cfg.model.softmax = softmax_type::adaptive;
        cfg.model.cutoffs = std::move(*list);
    }
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
    if (vm.count("valid-every"))
        if (auto s = parse_valid_every(valid_every, cfg); !s.ok()) return report_error(s.err());
    if (threads < 0) return report_error(make_error(errc::usage, "--threads must be >= 0"));
    std::optional<checkpoint_info> ck;
    if (!cfg.resume.empty()) {
        auto r = read_checkpoint(cfg.resume);
        if (!r) return report_error(r.err());
        ck = std::move(*r);
        train_config run = ck->config;
        merge_explicit(vm, cfg, run);
        run.resume = cfg.resume;
        cfg = std::move(run);
    }
    if (auto s = cfg.validate(); !s.ok()) return report_error(s.err());
    // A resumed run owns the files its checkpoint names; anything else needs --force to be replaced.
    const bool same_run = ck && cfg.out == ck->config.out;
    const std::string best = cfg.out.empty() ? "" : cfg.out + ".best";
    const std::string ckpt = cfg.out.empty() ? "" : cfg.out + ".ckpt";
    const std::string* outputs[] = {&cfg.out, &best, &ckpt, &cfg.metrics};
    std::string replaced;
    for (const std::string* f : outputs) {
        // Refused before an epoch is spent (the writer refuses too): a device, pipe or directory.
        std::error_code ec;
        const auto st = std::filesystem::status(*f, ec);
        if (!f->empty() && std::filesystem::exists(st) && !std::filesystem::is_regular_file(st)) {
            using ft = std::filesystem::file_type;
            const char* kind = st.type() == ft::directory ? "directory"
                               : st.type() == ft::character ? "character device"
                               : st.type() == ft::block ? "block device"
                               : st.type() == ft::fifo ? "FIFO (named pipe)"
                               : st.type() == ft::socket ? "socket" : "special file";
            return report_error(make_error(errc::io, fmt::format("cannot write '{}': it is a {}, not a regular file; "
                                                                 "models are written only to regular files: choose "
                                                                 "a file path",
                                                                 *f, kind)));
        }
        if (f->empty() || same_run || !std::filesystem::exists(st)) continue;
        if (!force)
            return report_error(make_error(
                errc::io, fmt::format("'{}' exists; pass --force to overwrite it or choose another name", *f)));
        replaced += fmt::format("{}{}", replaced.empty() ? "" : ", ", *f);
    }
    if (!replaced.empty())
        fmt::print("--force: replacing {} (epoch checkpoints of other runs are left as they are)\n", replaced);
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
    cb.should_stop = stop_requested;
    install_stop_handlers();

    auto outcome = train(cfg, cb);
    if (!outcome) return report_error(outcome.err());
    if (outcome->interrupted) {
        fmt::print(stderr, "charlm: stopped by signal {} after step {}{}\n", stop_signal(),
                   outcome->steps,
                   outcome->checkpoint.empty()
                       ? "; nothing was saved (no --out)"
                       : fmt::format("; the model so far is in {}; continue with: charlm train --resume {}", cfg.out,
                                     outcome->checkpoint));
        return 128 + stop_signal();
    }
    fmt::print("done: {} epochs, {} steps in {:.1f}s; train ppl {:.3f}", outcome->epochs, outcome->steps,
               outcome->seconds, outcome->train_ppl);
    if (outcome->valid_ppl) fmt::print(", valid ppl {:.3f}", *outcome->valid_ppl);
    fmt::print("{}\n", cfg.out.empty() ? "" : fmt::format("; model written to {}", cfg.out));
    if (outcome->best_valid_ppl && !cfg.out.empty())
        fmt::print("best: valid ppl {:.3f} at epoch {}, written to {}.best\n", *outcome->best_valid_ppl,
                   outcome->best_epoch, cfg.out);
    if (outcome->stop != stop_reason::none)
        fmt::print("stopped ({}): {}\n", to_string(outcome->stop), outcome->stop_detail);
    if (stop_requested()) {
        fmt::print(stderr, "charlm: stopped by signal {}{}\n", stop_signal(),
                   outcome->checkpoint.empty()
                       ? ""
                       : fmt::format("; the model so far is in {}; continue with: charlm train --resume {}", cfg.out,
                                     outcome->checkpoint));
        return 128 + stop_signal();
    }
    return exit_ok;
}

}  // namespace charlm::cli
