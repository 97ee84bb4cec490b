// Data-parallel training (issue 15): `mpirun -np N charlm train` computes what one process computes
// with the same global batch. rnn, gru and lstm, two layers, dropout and clipping on, both
// sampling schemes, 5 steps: parameters within 1e-6 of one process for N = 1, 2, 4, and the same
// bits with --deterministic-reduce; the same after resuming a 2-rank checkpoint with 1 and 4 ranks;
// one collective per step, counted by a PMPI wrapper (mpi_count.c); a killed rank ends the run
// within 30 s with the last checkpoint loadable and resumable.
#include <fcntl.h>
#include <fmt/core.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <fstream>
#include <map>
#include <thread>

#include "charlm/train.hpp"
#include "cli_support.h"
#include "io/safetensors.h"

namespace charlm {
namespace {

namespace fs = std::filesystem;
using test::run_result;

// mpirun with this suite's options: as root where CI runs as root, more ranks than cores allowed.
// In the sanitized build, LeakSanitizer needs Open MPI's plugins kept loaded and whole stacks (its
// libraries have no frame pointers) to match its suppressions; `asan` adds ASan options.
std::vector<std::string> mpirun(int ranks, std::vector<std::string> env = {}, const std::string& asan = "") {
    std::vector<std::string> a{CHARLM_MPIEXEC, "--oversubscribe", "-np", std::to_string(ranks)};
    if (::geteuid() == 0) a.push_back("--allow-run-as-root");
    if (const char* options = std::getenv("ASAN_OPTIONS")) {
        env.push_back(std::string("ASAN_OPTIONS=") + options + ":fast_unwind_on_malloc=0" + asan);
        env.push_back("OMPI_MCA_mca_base_component_disable_dlclose=1");
    }
    for (auto& e : env) a.insert(a.end(), {"-x", e});
    return a;
}

run_result run(const std::vector<std::string>& cmd) {
    static int counter = 0;
    const std::string base = test::scratch_dir() + "/mpi" + std::to_string(++counter);
    std::string line;
    for (const auto& a : cmd) line += test::shell_quote(a) + " ";
    line += "</dev/null >" + base + ".out 2>" + base + ".err";
    const int raw = std::system(line.c_str());
    run_result r;
    r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
    r.out = test::slurp(base + ".out");
    r.err = test::slurp(base + ".err");
    return r;
}

std::vector<std::string> cat(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

// `args` with --name's value replaced (or the option added).
std::vector<std::string> with(std::vector<std::string> args, const std::string& name, const std::string& value) {
    for (size_t i = 0; i + 1 < args.size(); ++i)
        if (args[i] == name) {
            args[i + 1] = value;
            return args;
        }
    return cat(args, {name, value});
}

// `charlm train ...` alone (ranks 0) or under mpirun.
run_result train(int ranks, const std::vector<std::string>& args, std::vector<std::string> env = {},
                 const std::string& asan = "") {
    std::vector<std::string> cmd = ranks == 0 ? std::vector<std::string>{} : mpirun(ranks, std::move(env), asan);
    cmd.push_back(CHARLM_BINARY);
    cmd.push_back("train");
    return run(cat(cmd, args));
}

const std::string& corpus() {
    static const std::string path = [] {
        std::ifstream in(CHARLM_SHARED_CORPORA "/tinyshakespeare.txt", std::ios::binary);
        std::string text(1760, '\0');
        in.read(text.data(), static_cast<std::streamsize>(text.size()));
        return test::write_file("mpi_corpus.txt", text.substr(0, static_cast<size_t>(in.gcount())));
    }();
    return path;
}

// 5 steps of batch 8 x 10 on 2 layers with dropout (input, between layers, output) and clipping.
std::vector<std::string> five_steps(const std::string& cell, const std::string& scheme, const std::string& out) {
    return {"--corpus", corpus(), "--cell", cell, "--layers", "2", "--hidden", "24", "--embed", "8",
            "--dropout", "0.3", "--dropout-input", "0.1", "--dropout-output", "0.2", "--clip", "0.2", "--batch", "8", "--steps", "10", "--sampling", scheme,
            "--epochs", "1", "--valid-fraction", "0.75", "--threads", "1", "--seed", "3", "--out", out, "--force"};
}

std::map<std::string, named_tensor> weights(const std::string& path) {
    auto f = io::read_safetensors(path);
    EXPECT_TRUE(f.ok()) << path;
    return f.ok() ? f->tensors : std::map<std::string, named_tensor>{};
}

// How far apart two model files' parameters are: the largest over tensors of |a - b| / |b| (L2
// norms, the usual relative error of a vector), and whether all are the same bits.
struct difference {
    double relative = 0;
    bool identical = true;
};
difference compare(const std::string& a, const std::string& b) {
    auto wa = weights(a), wb = weights(b);
    difference d;
    EXPECT_EQ(wa.size(), wb.size());
    for (const auto& [name, ta] : wa) {
        const auto it = wb.find(name);
        if (it == wb.end()) {
            ADD_FAILURE() << name << " missing from " << b;
            continue;
        }
        const auto& x = ta.data;
        const auto& y = it->second.data;
        EXPECT_EQ(x.size(), y.size()) << name;
        double diff = 0, norm = 0;
        for (size_t i = 0; i < std::min(x.size(), y.size()); ++i) {
            const double e = static_cast<double>(x[i]) - y[i];
            diff += e * e;
            norm += static_cast<double>(y[i]) * y[i];
            d.identical = d.identical && std::memcmp(&x[i], &y[i], sizeof(float)) == 0;
        }
        d.relative = std::max(d.relative, std::sqrt(diff / std::max(norm, 1e-300)));
    }
    return d;
}

size_t count(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

// `err` without the lines that are warnings ("charlm: warning: ...").
std::string without_warnings(const std::string& err) {
    std::istringstream in(err);
    std::string out;
    for (std::string line; std::getline(in, line);)
        if (line.rfind("charlm: warning:", 0) != 0) out += line + "\n";
    return out;
}

uint64_t steps_of(const run_result& r) {
    const auto at = r.out.find("epochs, ");
    return at == std::string::npos ? 0 : std::stoull(r.out.substr(at + 8));
}

TEST(mpi, n_ranks_compute_what_one_process_computes) {
    const std::string dir = test::scratch_dir();
    for (const std::string cell : {"rnn", "gru", "lstm"})
        for (const std::string scheme : {"random", "consecutive"}) {
            SCOPED_TRACE(cell + " " + scheme);
            const std::string ref = dir + "/ref_" + cell + scheme;
            auto one = train(0, five_steps(cell, scheme, ref));
            ASSERT_EQ(one.status, 0) << one.err;
            ASSERT_EQ(steps_of(one), 5u) << one.out;
            const std::string ordered_ref = ref + ".ordered";
            auto det = train(0, cat(five_steps(cell, scheme, ordered_ref), {"--deterministic-reduce"}));
            ASSERT_EQ(det.status, 0) << det.err;
            for (int n : {1, 2, 4}) {
                SCOPED_TRACE(fmt::format("{} ranks", n));
                const std::string out = fmt::format("{}.np{}", ref, n);
                auto r = train(n, five_steps(cell, scheme, out));
                ASSERT_EQ(r.status, 0) << r.out << r.err;
                EXPECT_EQ(steps_of(r), 5u) << r.out;
                EXPECT_EQ(count(r.out, "\ndone: "), 1u) << "rank 0 alone reports\n" << r.out;
                // No rank complains; a warning (the tiny model is large for its text) comes from rank 0 alone.
                EXPECT_EQ(without_warnings(r.err).find("charlm"), std::string::npos) << "no rank complains\n" << r.err;
                EXPECT_LE(count(r.err, "charlm: warning: the model has"), 1u) << r.err;
                const difference d = compare(out, ref);
                EXPECT_LE(d.relative, 1e-6);
                EXPECT_FALSE(n > 1 && d.identical) << "different reduction orders should differ in the last bits";
                const std::string ordered = out + ".ordered";
                auto o = train(n, cat(five_steps(cell, scheme, ordered), {"--deterministic-reduce"}));
                ASSERT_EQ(o.status, 0) << o.err;
                EXPECT_TRUE(compare(ordered, ordered_ref).identical) << "--deterministic-reduce with " << n;
            }
        }
}


// The collectives a run's ranks start, from the PMPI counter: name -> count on rank `rank`.
std::map<std::string, long> collectives(const std::string& file, int rank) {
    std::map<std::string, long> c;
    std::ifstream in(file);
    std::string word, name;
    int r = 0;
    long n = 0;
    while (in >> word >> r >> name >> n)
        if (r == rank) c[name] += n;
    return c;
}

TEST(mpi, one_collective_per_step) {
    const std::string dir = test::scratch_dir();
    std::map<std::string, long> counts[2];
    uint64_t steps[2] = {0, 0};
    for (int epochs : {1, 2}) {
        const std::string file = fmt::format("{}/count{}.txt", dir, epochs);
        auto args = five_steps("lstm", "consecutive", fmt::format("{}/count{}", dir, epochs));
        args = with(with(args, "--epochs", std::to_string(epochs)), "--valid-fraction", "0");
        // (sanitized build: the counter is preloaded before ASan's runtime)
        auto r = train(2, args, {"LD_PRELOAD=" CHARLM_MPI_COUNT, "CHARLM_MPI_COUNT_FILE=" + file},
                       ":verify_asan_link_order=0");
        ASSERT_EQ(r.status, 0) << r.err;
        steps[epochs - 1] = steps_of(r);
        for (int rank : {0, 1}) {
            auto c = collectives(file, rank);
            ASSERT_FALSE(c.empty()) << "no counts from rank " << rank << ": was the wrapper preloaded?";
            long total = 0;
            for (const auto& [name, n] : c) total += name == "recv" ? 0 : n;  // a send is a recv elsewhere
            if (rank == 0) counts[epochs - 1] = c;
            SCOPED_TRACE(fmt::format("{} epochs, rank {}", epochs, rank));
            // The steps' all-reduces, and at the start the parameters', Adam moments' and checksum's broadcasts
            // and the checksum comparison's all-reduce.
            EXPECT_EQ(c["allreduce"], static_cast<long>(steps[epochs - 1]) + 1);
            EXPECT_EQ(c["bcast"], 4);
            EXPECT_EQ(total, static_cast<long>(steps[epochs - 1]) + 5);
        }
    }
    EXPECT_GT(steps[0], 5u);
    EXPECT_EQ(steps[1], 2 * steps[0]);
    EXPECT_EQ(counts[1]["allreduce"] - counts[0]["allreduce"], static_cast<long>(steps[0]))
        << "one all-reduce for each step of the second epoch";
}

TEST(mpi, a_batch_that_does_not_divide_is_a_usage_error) {
    auto args = five_steps("rnn", "random", test::scratch_dir() + "/odd");
    args = with(args, "--batch", "6");
    auto r = train(4, args);
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("--batch 6 does not divide among 4 processes"), std::string::npos) << r.err;
}

// A mid-epoch checkpoint of a 2-rank run (consecutive scheme: the carried state of every stream in
// it), resumed with 1 and with 4 ranks: the same parameters as 2 ranks, bitwise with
// --deterministic-reduce.
TEST(mpi, a_checkpoint_of_2_ranks_resumes_with_1_and_4) {
    const std::string dir = test::scratch_dir();
    for (const bool ordered : {true, false}) {
        SCOPED_TRACE(ordered ? "--deterministic-reduce" : "all-reduce");
        const std::string base = fmt::format("{}/resume{}", dir, ordered);
        auto args = five_steps("lstm", "consecutive", base);
        // Patience stops the run inside its first epoch (with a checkpoint carrying the state).
        args = with(with(args, "--epochs", "3"), "--valid-fraction", "0.1");  // 19 steps an epoch
        args = cat(args, {"--lr", "0.05", "--valid-every", "1", "--patience", "1"});
        if (ordered) args.push_back("--deterministic-reduce");
        auto first = train(2, args);
        ASSERT_EQ(first.status, 0) << first.err;
        ASSERT_NE(first.out.find("stopped (patience)"), std::string::npos) << first.out;
        auto info = read_checkpoint(base + ".ckpt");
        ASSERT_TRUE(info.ok());
        ASSERT_GT(info->batch, 0u) << "a mid-epoch checkpoint";
        fs::copy_file(base + ".ckpt", base + ".start.ckpt");
        std::string outs[3];
        const int ranks[3] = {2, 1, 4};
        for (int k = 0; k < 3; ++k) {
            outs[k] = fmt::format("{}.n{}", base, ranks[k]);
            fs::copy_file(base + ".start.ckpt", outs[k] + ".ckpt", fs::copy_options::overwrite_existing);
            auto r = train(ranks[k], {"--resume", outs[k] + ".ckpt", "--out", outs[k], "--patience", "0",
                                      "--epochs", "2", "--force"});
            ASSERT_EQ(r.status, 0) << ranks[k] << " ranks: " << r.out << r.err;
            EXPECT_NE(r.out.find("resuming from"), std::string::npos);
        }
        for (int k : {1, 2}) {
            SCOPED_TRACE(fmt::format("resumed with {} ranks", ranks[k]));
            const difference d = compare(outs[k], outs[0]);
            if (ordered) {
                EXPECT_TRUE(d.identical);
            }
            EXPECT_LE(d.relative, 1e-6);
        }
    }
}

// Starts `cmd` in the background with its output in `log`.
pid_t launch(std::vector<std::string> cmd, const std::string& log) {
    const pid_t pid = ::fork();
    if (pid == 0) {
        const int null = ::open("/dev/null", O_RDONLY);
        const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ::dup2(null, 0);
        ::dup2(out, 1);
        ::dup2(out, 2);
        std::vector<char*> argv;
        for (auto& a : cmd) argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    return pid;
}

using namespace std::chrono_literals;

bool appears(const std::string& path, std::chrono::seconds within) {
    const auto start = std::chrono::steady_clock::now();
    while (!fs::exists(path) && std::chrono::steady_clock::now() - start < within) std::this_thread::sleep_for(50ms);
    return fs::exists(path);
}

// The exit status of `pid` (128 + signal), or -1 if it is still running after `within` (then killed).
int exit_within(pid_t pid, std::chrono::seconds within) {
    const auto start = std::chrono::steady_clock::now();
    int raw = 0;
    while (::waitpid(pid, &raw, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() - start > within) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &raw, 0);
            return -1;
        }
        std::this_thread::sleep_for(50ms);
    }
    return WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
}

std::vector<std::string> long_run(const std::string& out) {
    const std::string big = test::write_file("mpi_big.txt", std::string(test::slurp(corpus())) + test::slurp(corpus()) +
                                                                test::slurp(corpus()));
    return cat(mpirun(2), {CHARLM_BINARY, "train", "--corpus", big, "--hidden", "32", "--batch", "4", "--steps", "10",
                           "--sampling", "consecutive", "--epochs", "100000", "--threads", "1", "--out", out,
                           "--valid-fraction", "0.2"});
}

// A rank killed mid-run: every process ends, non-zero, within 30 s; the last checkpoint loads and
// resumes in one process.
TEST(mpi, a_killed_rank_ends_the_run_and_the_checkpoint_resumes) {
    static int attempt = 0;
    const std::string out = fmt::format("{}/killed{}", test::scratch_dir(), ++attempt);
    const pid_t launcher = launch(long_run(out), out + ".log");
    // Wait for a checkpoint, then find rank 1 (its environment says so) and kill it.
    ASSERT_TRUE(appears(out + ".ckpt", 60s)) << "no checkpoint within a minute";
    std::this_thread::sleep_for(300ms);
    pid_t victim = -1;
    for (const auto& e : fs::directory_iterator("/proc")) {
        const std::string env = test::slurp(e.path().string() + "/environ");
        const std::string cmdline = test::slurp(e.path().string() + "/cmdline");
        if (cmdline.find(out) != std::string::npos && env.find(std::string("OMPI_COMM_WORLD_RANK=1\0", 23)) !=
                                                           std::string::npos)
            victim = static_cast<pid_t>(std::stol(e.path().filename().string()));
    }
    ASSERT_GT(victim, 0) << "rank 1 not found";
    ASSERT_EQ(::kill(victim, SIGKILL), 0);
    const int status = exit_within(launcher, 30s);
    ASSERT_NE(status, -1) << "mpirun still running 30 s after a rank was killed";
    EXPECT_NE(status, 0) << "the run must fail";
    // No rank of it is left.
    for (const auto& e : fs::directory_iterator("/proc"))
        EXPECT_EQ(test::slurp(e.path().string() + "/cmdline").find(out), std::string::npos) << "a rank survived";
    auto info = read_checkpoint(out + ".ckpt");
    ASSERT_TRUE(info.ok()) << info.err().message;
    auto resumed = train(0, {"--resume", out + ".ckpt", "--epochs", std::to_string(info->epoch + 1), "--threads", "1"});
    EXPECT_EQ(resumed.status, 0) << resumed.err;
}

// Ctrl-C to mpirun (SIGINT; it sends the ranks SIGTERM) behaves as for one process: every rank stops
// after the step all agreed on, rank 0 writes a checkpoint there and says how to resume, the exit is
// non-zero; the run resumes with the same number of ranks.
TEST(mpi, ctrl_c_to_mpirun_stops_every_rank_with_a_checkpoint) {
    static int attempt = 0;  // a fresh name for each repetition (--gtest_repeat)
    const std::string out = fmt::format("{}/interrupted{}", test::scratch_dir(), ++attempt);
    const pid_t launcher = launch(long_run(out), out + ".log");
    ASSERT_TRUE(appears(out, 60s)) << "no model file within a minute";  // an epoch is done
    std::this_thread::sleep_for(200ms);
    ASSERT_EQ(::kill(launcher, SIGINT), 0);
    const int status = exit_within(launcher, 30s);
    ASSERT_NE(status, -1) << "mpirun still running 30 s after Ctrl-C";
    EXPECT_NE(status, 0);
    const std::string log = test::slurp(out + ".log");
    const auto said = log.find("charlm: stopped by signal 15 after step ");
    ASSERT_NE(said, std::string::npos) << log;
    EXPECT_EQ(count(log, "stopped by signal"), 1u) << "rank 0 alone says so\n" << log;
    EXPECT_NE(log.find("stopped: signal"), std::string::npos) << log;
    auto info = read_checkpoint(out + ".ckpt");
    ASSERT_TRUE(info.ok()) << info.err().message;
    EXPECT_EQ(info->step, std::stoull(log.substr(said + 40))) << "the checkpoint is the stop's";
    auto resumed = train(2, {"--resume", out + ".ckpt", "--epochs", std::to_string(info->epoch + 1)});
    EXPECT_EQ(resumed.status, 0) << resumed.out << resumed.err;
}

}  // namespace
}  // namespace charlm
