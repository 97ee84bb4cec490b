// The option parsing and checks of `charlm generate` and `charlm train` (requests.hpp), shared by
// the binary and the Python module so that both read and refuse options alike.
#include "requests.hpp"

#include <fmt/core.h>

#include <filesystem>

#include "charlm/distributed.hpp"
#include "charlm/files.hpp"
#include "cli.hpp"

namespace charlm::cli {

namespace {

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

status parse_generate(int argc, char** argv, generate_request& r, bool need_model, bool* done) {
    std::string& model_path = r.model_path;
    std::string& prefix = r.prefix;
    sample_config& cfg = r.sample;
    int& threads = r.threads;
    bool greedy = false;
    poem_config& poem = r.poem;
    std::string& novelty = r.novelty;
    option_groups groups;
    groups["charlm generate options"].add_options()
        ("model", po::value(&model_path), "model file (required)")
        ("prefix", po::value(&prefix)->default_value(prefix), "text to start from (empty: start of a line)");
    add_options(groups, sample_options(), cfg);
    groups["Sampling"].add_options()
        ("greedy", po::bool_switch(&greedy), "always take the most likely token (temperature 0)")
        ("threads", po::value(&threads)->default_value(threads), "threads (0: the cores available)");
    add_options(groups, poem_options(), poem);
    groups[poem_options().front().info.group].add_options()
        ("novelty", po::value(&novelty), "report on stderr the share of the poems' lines found verbatim in this corpus");
    add_options(groups, lyric_options(), r.lyrics);
    auto bind = [&](const po::variables_map& vm) -> status {
        CHARLM_TRY(take_options(sample_options(), vm, cfg));
        CHARLM_TRY(take_options(lyric_options(), vm, r.lyrics));
        return take_options(poem_options(), vm, poem);
    };
    po::options_description desc = groups.all();
    po::variables_map vm;
    CHARLM_TRY(parse_command(argc, argv, "charlm generate --model FILE [options]", desc, nullptr, vm, done, bind));
    if (*done) return {};
    if (need_model && model_path.empty()) return make_error(errc::usage, "generate: --model FILE is required");
    if (greedy) cfg.temperature = 0;
    CHARLM_TRY(cfg.validate());
    if (threads < 0) return make_error(errc::usage, "--threads must be >= 0");
    CHARLM_TRY(poem.validate(cfg));
    if (!novelty.empty() && !poem.active())
        return make_error(errc::usage, "--novelty counts the lines of poems: it needs --form or --acrostic");
    if (poem.active() && !poem.form.empty())
        if (auto f = parse_poem_form(poem.form); !f) return f.err();
    CHARLM_TRY(r.lyrics.validate());
    if (r.lyrics.active() && (poem.active() || poem.needs_prosody() || !novelty.empty()))
        return make_error(errc::usage, "lyrics (--rhyme-scheme, --lines, --structure) and poems (--form, --acrostic, "
                                       "--rhyme, --tones, --novelty) are written apart: give one or the other");
    return {};
}

status parse_train(int argc, char** argv, train_request& r, bool* done) {
    train_config& cfg = r.cfg;
    int& threads = r.threads;
    double& mpi_timeout = r.mpi_timeout;
    bool& force = r.force;
    std::set<std::string>& given = r.given;
    option_groups groups;
    add_options(groups, train_options(), cfg);
    groups["Training"].add_options()("threads", po::value(&threads)->default_value(threads),
                                     "threads (0: the cores available; under mpirun, shared among the processes "
                                     "on each machine)")(
        "mpi-timeout", po::value(&mpi_timeout)->default_value(mpi_timeout),
        "under mpirun: seconds a process waits for the others before the run ends with an error");
    groups["Output"].add_options()("force", po::bool_switch(&force),
                                   "overwrite --out, its .best/.ckpt and --metrics if they exist");
    auto bind = [&](const po::variables_map& vm) -> status {
        CHARLM_TRY(take_options(train_options(), vm, cfg, &given));
        return apply_implied(cfg, given);
    };
    po::options_description all = groups.all();
    po::variables_map vm;
    CHARLM_TRY(parse_command(argc, argv, "charlm train --corpus FILE [options]", all, nullptr, vm, done, bind));
    if (*done) return {};
    if (threads < 0) return make_error(errc::usage, "--threads must be >= 0");
    if (!(mpi_timeout > 0)) return make_error(errc::usage, "--mpi-timeout must be > 0 seconds");
    r.threads_given = !vm["threads"].defaulted();
    return {};
}

result<std::optional<checkpoint_info>> prepare_train(train_request& r, bool reporting) {
    auto ck = merge_checkpoint(r.cfg, r.given);
    if (!ck) return ck.err();
    // A resumed run takes the checkpoint's threads unless told otherwise: the command a stopped run
    // prints (charlm train --resume FILE) then continues it bit for bit.
    if (*ck && !r.threads_given && (*ck)->threads > 0 && !launched_by_mpi()) r.threads = (*ck)->threads;
    CHARLM_TRY(r.cfg.validate());
    if (reporting) {
        for (const auto& w : r.cfg.model.warnings()) fmt::print(stderr, "charlm: warning: {}\n", w);
        CHARLM_TRY(check_outputs(r.cfg, r.force, *ck ? &**ck : nullptr));
    }
    return ck;
}

void warn_thread_change(const std::optional<checkpoint_info>& ck, int used_threads) {
    if (ck && ck->threads != used_threads)
        fmt::print(stderr,
                   "charlm: warning: the checkpoint was trained with {} threads, this run uses {}: it continues "
                   "correctly but will not match an uninterrupted run bit for bit\n",
                   ck->threads, used_threads);
}

}  // namespace charlm::cli
