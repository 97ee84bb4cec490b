// Nothing is lost when training dies: `charlm train` killed with SIGKILL at random moments, half of
// them while a checkpoint is being written, always leaves a model and a checkpoint that load and
// resume; SIGINT and SIGTERM stop it after the current step with a checkpoint, exit 130 / 143 and
// say how to resume, and the resumed run finishes.
#include <fcntl.h>
#include <fmt/core.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "charlm/batches.hpp"
#include "charlm/model_file.hpp"
#include "charlm/train.hpp"
#include "cli_support.h"

namespace charlm {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct child {
    pid_t pid = -1;
    std::string out, err;  // paths of its stdout and stderr
};

child spawn(const std::vector<std::string>& args, const std::string& tag) {
    child c;
    c.out = test::scratch_dir() + "/" + tag + ".out";
    c.err = test::scratch_dir() + "/" + tag + ".err";
    c.pid = ::fork();
    if (c.pid == 0) {
        int o = ::open(c.out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = ::open(c.err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ::dup2(o, 1);
        ::dup2(e, 2);
        std::vector<char*> argv;
        std::string bin = CHARLM_BINARY;
        argv.push_back(bin.data());
        std::vector<std::string> copy = args;
        for (auto& a : copy) argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execv(bin.c_str(), argv.data());
        ::_exit(127);
    }
    return c;
}

// Exit status as a shell reports it (128 + signal for a killed process).
int wait_status(pid_t pid) {
    int raw = 0;
    ::waitpid(pid, &raw, 0);
    return WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
}

std::string corpus_text() {
    static const char* lines[] = {"the quick brown fox", "jumps over the lazy dog", "a stitch in time",
                                  "saves nine", "春眠不觉晓", "处处闻啼鸟"};
    std::string s;
    uint64_t seed = 17;
    for (int i = 0; i < 260; ++i) s += std::string(lines[uniform_below(seed, 6)]) + "\n";
    return s;
}

std::vector<std::string> train_args(const std::string& corpus, const std::string& out, int epochs = 1000) {
    // Short epochs and a model of a few MB with Adam: checkpoints are written often and take a
    // while, so kills land during writes too.
    return {"train", "--corpus", corpus, "--out", out, "--cell", "lstm", "--layers", "2", "--hidden", "128",
            "--embed", "32", "--batch", "8", "--steps", "16", "--epochs", std::to_string(epochs), "--threads", "2",
            "--report-every", "1000000", "--force"};
}

bool tmp_files_beside(const std::string& out) {
    const std::string stem = fs::path(out).filename().string();
    for (const auto& e : fs::directory_iterator(fs::path(out).parent_path())) {
        const std::string n = e.path().filename().string();
        if (n.rfind(stem, 0) == 0 && n.find(".tmp.") != std::string::npos) return true;
    }
    return false;
}

TEST(kill, sigkill_at_random_moments_never_leaves_a_broken_model_or_checkpoint) {
    const std::string dir = test::scratch_dir() + "/kill";
    fs::remove_all(dir);
    fs::create_directories(dir);
    const std::string corpus = test::write_file("kill_corpus.txt", corpus_text());
    const std::string out = dir + "/m.safetensors";
    uint64_t rng = 2026;
    int kills = 0, during_write = 0, resumed = 0;
    for (int round = 0; round < 20; ++round) {
        SCOPED_TRACE("round " + std::to_string(round));
        // Each round starts a new run over the same files (--force); its own first checkpoint is the
        // one whose modification time moves. Kills are timed from there, so a slow build (sanitizers)
        // shifts them with the run instead of landing them all in the first epoch.
        std::error_code ec;
        const auto before = fs::last_write_time(out + ".ckpt", ec);
        const bool had = !ec;
        child c = spawn(train_args(corpus, out), "kill" + std::to_string(round));
        ASSERT_GT(c.pid, 0);
        const auto deadline = std::chrono::steady_clock::now() + 300s;
        if (round % 2 == 0) {
            for (;;) {
                const auto now = fs::last_write_time(out + ".ckpt", ec);
                if ((!ec && (!had || now != before)) || std::chrono::steady_clock::now() > deadline) break;
                std::this_thread::sleep_for(1ms);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(uniform_below(rng, 1500)));
        } else {
            // Wait for a checkpoint write in progress (its temporary file), then kill at once.
            const std::string tmp = out + ".ckpt.tmp." + std::to_string(c.pid);
            while (!fs::exists(tmp) && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(100us);
        }
        ::kill(c.pid, SIGKILL);
        ASSERT_EQ(wait_status(c.pid), 128 + SIGKILL);
        ++kills;
        if (tmp_files_beside(out)) ++during_write;

        // Whatever is in place loads: the model, and the checkpoint (as a model and as a checkpoint).
        if (!fs::exists(out + ".ckpt")) {
            EXPECT_FALSE(fs::exists(out)) << "a model without a checkpoint";
            continue;
        }
        auto m = load_model(out);
        ASSERT_TRUE(m.ok()) << m.err().message;
        auto ck_model = load_model(out + ".ckpt");
        ASSERT_TRUE(ck_model.ok()) << ck_model.err().message;
        auto ck = read_checkpoint(out + ".ckpt");
        ASSERT_TRUE(ck.ok()) << ck.err().message;

        // ... and resumes: one more epoch from it finishes cleanly, and tidies stale temporary files.
        auto r = test::run_charlm({"train", "--resume", out + ".ckpt", "--epochs", std::to_string(ck->epoch + 1),
                                   "--threads", "2"});
        ASSERT_EQ(r.status, 0) << r.err;
        EXPECT_NE(r.out.find("resuming from"), std::string::npos) << r.out;
        auto after = read_checkpoint(out + ".ckpt");
        ASSERT_TRUE(after.ok()) << after.err().message;
        EXPECT_EQ(after->epoch, ck->epoch + 1);
        EXPECT_FALSE(tmp_files_beside(out)) << "stale temporary files were left";
        ++resumed;
    }
    EXPECT_EQ(kills, 20);
    EXPECT_GE(during_write, 3) << "too few kills landed during a checkpoint write to prove anything";
    EXPECT_GE(resumed, 15);
    RecordProperty("kills_during_write", during_write);
    std::printf("kills: %d, during a write: %d, resumed: %d\n", kills, during_write, resumed);
}

class stop_signal : public ::testing::TestWithParam<int> {};

TEST_P(stop_signal, stops_after_the_step_writes_a_checkpoint_and_says_how_to_resume) {
    const int sig = GetParam();
    const std::string dir = test::scratch_dir() + "/signal" + std::to_string(sig);
    fs::remove_all(dir);
    fs::create_directories(dir);
    const std::string corpus = test::write_file("signal_corpus.txt", corpus_text());
    const std::string out = dir + "/m.safetensors";
    auto args = train_args(corpus, out, 4000);
    child c = spawn(args, "signal" + std::to_string(sig));
    // Well inside the run: after the first epoch's files exist.
    const auto deadline = std::chrono::steady_clock::now() + 300s;
    while (!fs::exists(out + ".ckpt") && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
    std::this_thread::sleep_for(150ms);
    ::kill(c.pid, sig);
    EXPECT_EQ(wait_status(c.pid), 128 + sig);
    const std::string err = test::slurp(c.err);
    EXPECT_NE(err.find("stopped by signal"), std::string::npos) << err;
    EXPECT_NE(err.find("charlm train --resume " + out + ".ckpt"), std::string::npos) << err;

    auto ck = read_checkpoint(out + ".ckpt");
    ASSERT_TRUE(ck.ok()) << ck.err().message;
    auto r = test::run_charlm({"train", "--resume", out + ".ckpt", "--epochs", std::to_string(ck->epoch + 1)});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find(fmt::format("resuming from {}.ckpt: epoch {}, batch {}", out, ck->epoch + 1, ck->batch)),
              std::string::npos)
        << r.out;
}

INSTANTIATE_TEST_SUITE_P(signals, stop_signal, ::testing::Values(SIGINT, SIGTERM));

// The blocked-signal mask of each of `pid`'s threads (/proc/PID/task/TID/status, "SigBlk").
std::vector<uint64_t> thread_signal_masks(pid_t pid) {
    std::vector<uint64_t> masks;
    for (const auto& task : fs::directory_iterator(fmt::format("/proc/{}/task", pid))) {
        std::ifstream in(task.path() / "status");
        std::string line;
        while (std::getline(in, line))
            if (line.rfind("SigBlk:", 0) == 0) masks.push_back(std::stoull(line.substr(7), nullptr, 16));
    }
    return masks;
}

// oneDNN 2.6's JIT sgemm points rsp into the heap: a signal handled on a compute thread writes its
// frame there (1 stop in ~10 crashed with "corrupted size vs. prev_size"). So no thread of a
// training process but the watcher may take SIGINT or SIGTERM.
TEST(signals, no_compute_thread_takes_the_stop_signals) {
    const std::string dir = test::scratch_dir() + "/masks";
    fs::remove_all(dir);
    fs::create_directories(dir);
    const std::string corpus = test::write_file("mask_corpus.txt", corpus_text());
    const std::string out = dir + "/m.safetensors";
    child c = spawn(train_args(corpus, out, 4000), "masks");
    const auto deadline = std::chrono::steady_clock::now() + 300s;
    while (!fs::exists(out + ".ckpt") && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
    const auto masks = thread_signal_masks(c.pid);
    ::kill(c.pid, SIGINT);
    EXPECT_EQ(wait_status(c.pid), 128 + SIGINT);
    const uint64_t stop_bits = (uint64_t{1} << (SIGINT - 1)) | (uint64_t{1} << (SIGTERM - 1));
    EXPECT_GE(masks.size(), 3u) << "main, the watcher and at least one OpenMP worker (--threads 2)";
    // The watcher waits in sigwait(), during which the kernel shows the awaited signals unblocked.
    int taking = 0;
    for (uint64_t m : masks) taking += (m & stop_bits) != stop_bits;
    EXPECT_EQ(taking, 1) << "threads that take SIGINT or SIGTERM, of " << masks.size();
}

}  // namespace
}  // namespace charlm
