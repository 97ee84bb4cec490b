// Times charlm::load_text on one file: throughput (median of N loads, MB/s = 1e6 bytes/s), the
// token count, and the peak resident set (getrusage ru_maxrss) relative to the file size, since
// the pipeline promises to stay within about 3x the file. Not a test. "others" is the CPU the
// rest of the machine used meanwhile (in cores): figures are only meaningful when it is near 0.
// Usage: bench_load FILE [repeats, default 5] [encoding, default utf-8] [grapheme|codepoint]
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "charlm/text.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

// CPU seconds used by the whole machine (from /proc/stat) and by this process.
double machine_busy_s() {
    std::ifstream f("/proc/stat");
    std::string cpu;
    unsigned long long user = 0, nice = 0, sys = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
    f >> cpu >> user >> nice >> sys >> idle >> iowait >> irq >> softirq >> steal;
    return static_cast<double>(user + nice + sys + irq + softirq + steal) / 100.0;  // USER_HZ
}

double self_busy_s() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// Peak resident set so far, in bytes (Linux reports ru_maxrss in KiB).
double peak_rss_bytes() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return 1024.0 * static_cast<double>(u.ru_maxrss);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: bench_load FILE [repeats] [encoding] [grapheme|codepoint]\n");
        return 2;
    }
    const std::string path = argv[1];
    const int repeats = argc > 2 ? std::max(1, std::atoi(argv[2])) : 5;
    charlm::text_config cfg;
    if (argc > 3) cfg.encoding = argv[3];
    if (argc > 4) {
        auto u = charlm::parse_token_unit(argv[4]);
        if (!u) {
            std::fprintf(stderr, "bench_load: %s\n", u.err().message.c_str());
            return 2;
        }
        cfg.unit = *u;
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        std::fprintf(stderr, "bench_load: cannot stat '%s'\n", path.c_str());
        return 1;
    }
    const double file_bytes = static_cast<double>(st.st_size);
    const double rss_before = peak_rss_bytes();

    std::vector<double> seconds;
    uint64_t tokens = 0, distinct = 0, width = 0;
    const double busy0 = machine_busy_s(), self0 = self_busy_s();
    const auto wall0 = clock_type::now();
    for (int r = 0; r < repeats; ++r) {
        const auto t0 = clock_type::now();
        auto text = charlm::load_text(path, cfg);
        const auto t1 = clock_type::now();
        if (!text) {
            std::fprintf(stderr, "bench_load: %s\n", text.err().message.c_str());
            return 1;
        }
        seconds.push_back(std::chrono::duration<double>(t1 - t0).count());
        tokens = text->stats.tokens;
        distinct = text->tokens.size();
        width = static_cast<uint64_t>(text->ids.width());
    }
    const double wall = std::chrono::duration<double>(clock_type::now() - wall0).count();
    const double others = ((machine_busy_s() - busy0) - (self_busy_s() - self0)) / wall;
    std::sort(seconds.begin(), seconds.end());
    const double median = seconds[seconds.size() / 2];
    const double peak = peak_rss_bytes();

    std::printf("file %s | %.1f MB | %s %s\n", path.c_str(), file_bytes / 1e6, cfg.encoding.c_str(),
                charlm::to_string(cfg.unit).c_str());
    std::printf("load  median %.3f s (min %.3f, max %.3f, %d runs) | %.1f MB/s\n", median, seconds.front(),
                seconds.back(), repeats, file_bytes / 1e6 / median);
    std::printf("tokens %llu | distinct %llu | id width %llu B\n", static_cast<unsigned long long>(tokens),
                static_cast<unsigned long long>(distinct), static_cast<unsigned long long>(width));
    std::printf("peak RSS %.1f MB = %.2fx file (%.1f MB at start; growth %.2fx file) | others %.2f cores\n",
                peak / 1e6, peak / file_bytes, rss_before / 1e6, (peak - rss_before) / file_bytes, others);
    return 0;
}
