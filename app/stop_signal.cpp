// The stop handlers declared in stop_signal.hpp.
#include "stop_signal.hpp"

#include <csignal>

namespace charlm::cli {

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;

extern "C" void on_stop_signal(int sig) {
    if (g_stop_signal != 0) {
        std::signal(sig, SIG_DFL);
        std::raise(sig);
        return;
    }
    g_stop_signal = sig;
}

}  // namespace

void install_stop_handlers() {
    std::signal(SIGINT, on_stop_signal);
    std::signal(SIGTERM, on_stop_signal);
}

bool stop_requested() { return g_stop_signal != 0; }

int stop_signal() { return static_cast<int>(g_stop_signal); }

}  // namespace charlm::cli
