// The signal watcher declared in stop_signal.hpp.
#include "stop_signal.hpp"

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <mutex>
#include <thread>

namespace charlm::cli {

namespace {

std::atomic<int> g_signal{0};
std::mutex g_mutex;  // guards the two below against disarm_stop()
bool g_armed = false;
std::function<void()> g_on_stop;

sigset_t stop_signals() {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGINT);
    sigaddset(&s, SIGTERM);
    return s;
}

// Ends the process by `sig`'s default action, as if no handler had been installed.
[[noreturn]] void die_by(int sig) {
    std::signal(sig, SIG_DFL);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    pthread_sigmask(SIG_UNBLOCK, &s, nullptr);
    ::raise(sig);
    ::_exit(128 + sig);
}

void watch() {
    const sigset_t s = stop_signals();
    for (;;) {
        int sig = 0;
        if (sigwait(&s, &sig) != 0) continue;
        std::lock_guard<std::mutex> lock(g_mutex);
        if (!g_armed || g_signal.load() != 0) die_by(sig);
        g_signal = sig;
        if (g_on_stop) g_on_stop();
    }
}

}  // namespace

void start_signal_watcher() {
    const sigset_t s = stop_signals();
    pthread_sigmask(SIG_BLOCK, &s, nullptr);
    std::thread(watch).detach();
}

void arm_stop(std::function<void()> on_stop) {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_on_stop = std::move(on_stop);
    g_armed = true;
}

void disarm_stop() {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_armed = false;
    g_on_stop = nullptr;
}

bool stop_requested() { return g_signal.load(std::memory_order_relaxed) != 0; }

int stop_signal() { return g_signal.load(std::memory_order_relaxed); }

}  // namespace charlm::cli
