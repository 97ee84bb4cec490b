// A STREAM-like read-bandwidth probe (issue 30): how many GB/s one and two threads read from a
// buffer the size of a model's weights, so that generation's achieved GB/s (bench_int8) can be set
// next to what the machine gives. Reads only (generation reads weights and writes almost nothing):
// a sum of floats over the buffer, vectorized by the compiler, best of several passes.
// Not a test: the figures go to bench/RESULTS.md.
// Usage: bench_bandwidth [MiB ...]   (default 4 16 64 256)
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

[[gnu::target_clones("avx512f", "avx2", "default")]] float sum_of(const float* p, size_t n) {
    float a[16] = {};
    for (size_t i = 0; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; ++j) a[j] += p[i + j];
    float s = 0.f;
    for (float v : a) s += v;
    return s;
}

// GB/s reading `floats` floats with `threads` threads, each its own contiguous share, best pass.
double read_gbs(const std::vector<float>& buf, int threads) {
    const size_t n = buf.size(), passes = std::max<size_t>(5, (size_t{1} << 30) / (n * sizeof(float)));
    double best = 0.0;
    volatile float sink = 0.f;
    for (size_t p = 0; p < passes; ++p) {
        const auto t0 = clock_type::now();
        float total = 0.f;
#pragma omp parallel num_threads(threads) reduction(+ : total)
        {
            const size_t t = static_cast<size_t>(omp_get_thread_num()), share = n / static_cast<size_t>(threads);
            total += sum_of(buf.data() + t * share, share);
        }
        const double s = std::chrono::duration<double>(clock_type::now() - t0).count();
        sink = sink + total;
        best = std::max(best, static_cast<double>(n * sizeof(float)) / s / 1e9);
    }
    return best;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<size_t> mib;
    for (int i = 1; i < argc; ++i) mib.push_back(std::strtoul(argv[i], nullptr, 10));
    if (mib.empty()) mib = {4, 16, 64, 256};
    for (size_t m : mib) {
        std::vector<float> buf(m * (size_t{1} << 20) / sizeof(float), 1.0f);
        for (int threads : {1, 2})
            std::printf("bandwidth MiB=%zu threads=%d read_GB/s=%.1f\n", m, threads, read_gbs(buf, threads));
        std::fflush(stdout);
    }
    return 0;
}
