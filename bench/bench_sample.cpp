// Times generation (charlm::generate: one model step, then one draw per row at temperature 0.8 over
// the whole vocabulary) for random-weight models of each cell at H = 256 and 512, V = 65 and 7000,
// one row and 32 rows at once, on 1 and 2 threads. Not a test; bench/torch_sample.py runs the same
// grid in PyTorch and bench/sample_compare.sh prints both side by side.
// Usage: bench_sample [window seconds, default 0.25] [windows, default 5] [layers, default 1]
// One line per configuration: key=value pairs (chars/s = rows x tokens / second, median window;
// "others" = the CPU the rest of the machine used meanwhile, in cores: trust figures near 0 only).
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "charlm/model.hpp"
#include "charlm/sample.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

// CPU seconds used by the whole machine (from /proc/stat, 10 ms ticks) and by this process.
double machine_busy_s() {
    std::ifstream f("/proc/stat");
    std::string cpu;
    unsigned long long user, nice, sys, idle, iowait, irq, softirq, steal;
    f >> cpu >> user >> nice >> sys >> idle >> iowait >> irq >> softirq >> steal;
    return static_cast<double>(user + nice + sys + irq + softirq + steal) / 100.0;
}
double self_busy_s() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

std::string utf8(char32_t c) {
    std::string s;
    if (c < 0x80) {
        s += static_cast<char>(c);
    } else if (c < 0x800) {
        s += static_cast<char>(0xC0 | (c >> 6));
        s += static_cast<char>(0x80 | (c & 0x3F));
    } else {
        s += static_cast<char>(0xE0 | (c >> 12));
        s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        s += static_cast<char>(0x80 | (c & 0x3F));
    }
    return s;
}

// <unk>, "\n" (generation starts after a line break), printable ASCII, then CJK ideographs.
charlm::vocabulary make_vocab(uint32_t V) {
    std::vector<std::string> t{"<unk>", "\n"};
    for (char32_t c = 0x20; c < 0x7F && t.size() < V; ++c) t.push_back(utf8(c));
    for (char32_t c = 0x4E00; t.size() < V; ++c) t.push_back(utf8(c));
    auto v = charlm::vocabulary::from_tokens(std::move(t));
    if (!v) {
        std::fprintf(stderr, "bench_sample: %s\n", v.err().message.c_str());
        std::exit(1);
    }
    return std::move(*v);
}

struct figure {
    double chars_per_s, others;
};

// Generation of `rows` rows: a warm-up that also sizes the windows (about `window_s` each), then
// `windows` timed generate() calls; the median window's rows x length / seconds.
figure measure(charlm::language_model& model, uint32_t rows, double window_s, int windows) {
    charlm::sample_config cfg;  // temperature 0.8, no top-k / top-p: a draw over all of V
    cfg.num_samples = rows;
    cfg.length = 20;
    auto run = [&] {
        const auto t0 = clock_type::now();
        auto out = charlm::generate(model, "", cfg);
        if (!out) {
            std::fprintf(stderr, "bench_sample: %s\n", out.err().message.c_str());
            std::exit(1);
        }
        return std::chrono::duration<double>(clock_type::now() - t0).count();
    };
    run();
    const double per_step = run() / cfg.length;
    cfg.length = static_cast<uint32_t>(std::clamp(window_s / per_step, 20.0, 1e6));
    std::vector<double> rate;
    const double m0 = machine_busy_s(), s0 = self_busy_s();
    const auto w0 = clock_type::now();
    for (int i = 0; i < windows; ++i) rate.push_back(static_cast<double>(rows) * cfg.length / run());
    const double wall = std::chrono::duration<double>(clock_type::now() - w0).count();
    std::sort(rate.begin(), rate.end());
    const double others = wall < 0.2 ? -1.0 : std::max(0.0, (machine_busy_s() - m0) - (self_busy_s() - s0)) / wall;
    return {rate[rate.size() / 2], others};
}

}  // namespace

int main(int argc, char** argv) {
    const double window_s = argc > 1 ? std::max(0.01, std::atof(argv[1])) : 0.25;
    const int windows = argc > 2 ? std::max(1, std::atoi(argv[2])) : 5;
    const uint32_t layers = argc > 3 ? static_cast<uint32_t>(std::max(1, std::atoi(argv[3]))) : 1;
    const charlm::model_config defaults;
    std::printf("# charlm generate: layers %u, embed %u, temperature 0.8, windows %d x %.2f s\n", layers,
                defaults.embed, windows, window_s);
    for (auto cell : {charlm::cell_type::rnn_tanh, charlm::cell_type::gru, charlm::cell_type::lbr_gru,
                      charlm::cell_type::lstm})
        for (uint32_t H : {256u, 512u})
            for (uint32_t V : {65u, 7000u}) {
                charlm::model_config mc;
                mc.cell = cell;
                mc.layers = layers;
                mc.hidden = H;
                mc.vocab = V;
                charlm::language_model model(mc, charlm::text_config{}, make_vocab(V), 1);
                for (uint32_t rows : {1u, 32u})
                    for (int threads : {1, 2}) {
                        omp_set_num_threads(threads);
                        const figure f = measure(model, rows, window_s, windows);
                        std::printf("impl=charlm cell=%s H=%u V=%u batch=%u threads=%d chars_per_s=%.1f others=%.2f\n",
                                    charlm::to_string(cell).c_str(), H, V, rows, threads, f.chars_per_s, f.others);
                        std::fflush(stdout);
                    }
            }
    return 0;
}
