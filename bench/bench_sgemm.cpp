// FP32 GEMM throughput of oneDNN's dnnl_sgemm (C = A * B, row-major n x n) at 1 and 2 threads:
// the yardstick bench/compare_train.py divides charlm's achieved training GFLOP/s by. Prints one
// JSON line per thread count. Not a test. Usage: bench_sgemm [n, default 1024] [repetitions, default 20]
//                                                           [threads..., default 1 2]
#include <dnnl.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    const long n = argc > 1 ? std::atol(argv[1]) : 1024;
    const int reps = argc > 2 ? std::atoi(argv[2]) : 20;
    std::vector<int> thread_counts;
    for (int i = 3; i < argc; ++i) thread_counts.push_back(std::atoi(argv[i]));
    if (thread_counts.empty()) thread_counts = {1, 2};
    if (n <= 0 || reps <= 0) {
        std::fprintf(stderr, "usage: bench_sgemm [n > 0] [repetitions > 0] [threads...]\n");
        return 2;
    }
    const size_t nn = static_cast<size_t>(n) * static_cast<size_t>(n);
    std::vector<float> a(nn), b(nn), c(nn, 0.f);  // (n, n) row-major each
    for (size_t i = 0; i < nn; ++i) {
        a[i] = static_cast<float>((i * 7919) % 1000) * 1e-3f - 0.5f;
        b[i] = static_cast<float>((i * 104729) % 1000) * 1e-3f - 0.5f;
    }
    const double flops = 2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n);
    for (int threads : thread_counts) {
        omp_set_num_threads(threads);
        auto gemm = [&] {
            return dnnl_sgemm('N', 'N', n, n, n, 1.f, a.data(), n, b.data(), n, 0.f, c.data(), n);
        };
        for (int w = 0; w < 3; ++w)  // warm-up: JIT kernel generation, thread pool start, caches
            if (gemm() != dnnl_success) {
                std::fprintf(stderr, "bench_sgemm: dnnl_sgemm failed\n");
                return 1;
            }
        std::vector<double> s;
        for (int r = 0; r < reps; ++r) {
            const auto t0 = clock_type::now();
            gemm();
            s.push_back(std::chrono::duration<double>(clock_type::now() - t0).count());
        }
        const double best = *std::min_element(s.begin(), s.end());
        std::printf("{\"n\": %ld, \"threads\": %d, \"reps\": %d, \"median_gflops\": %.2f, \"best_gflops\": %.2f}\n", n,
                    omp_get_max_threads(), reps, flops / median(s) * 1e-9, flops / best * 1e-9);
    }
    return 0;
}
