// Times the output layer (charlm::nn::projection, each backend: forward, backward) and the fused
// softmax cross-entropy (fast kernel on 1 and 2 threads, scalar kernel, naive loop) at M = 1120
// (T=35, N=32), H = 256, V = 65 and 7000. Not a test; compare with /work/shared/onednn-notes.md §4.3.
// "others" is the CPU the rest of the machine used meanwhile (in cores): figures are only
// meaningful when it is near 0. Usage: bench_layers [repetitions, default 10]
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "layers/projection.h"
#include "layers/simd.h"
#include "layers/softmax_xent.h"

namespace {

namespace nn = charlm::nn;
using clock_type = std::chrono::steady_clock;

// CPU seconds used by the whole machine (from /proc/stat) and by this process.
double machine_busy_s() {
    std::ifstream f("/proc/stat");
    std::string cpu;
    unsigned long long user, nice, sys, idle, iowait, irq, softirq, steal;
    f >> cpu >> user >> nice >> sys >> idle >> iowait >> irq >> softirq >> steal;
    return static_cast<double>(user + nice + sys + irq + softirq + steal) / 100.0;  // USER_HZ
}
double self_busy_s() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

struct timing {
    double median_ms, min_ms, others;
};

// One warm-up call, then `reps` timed calls of `setup(); fn();` (setup untimed).
timing measure(int reps, const std::function<void()>& setup, const std::function<void()>& fn) {
    setup();
    fn();
    std::vector<double> ms;
    const double m0 = machine_busy_s(), s0 = self_busy_s();
    const auto w0 = clock_type::now();
    for (int i = 0; i < reps; ++i) {
        setup();
        const auto t0 = clock_type::now();
        fn();
        ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
    }
    const double wall = std::chrono::duration<double>(clock_type::now() - w0).count();
    // /proc/stat counts in 10 ms ticks: too coarse below ~0.2 s (reported as -1, printed "-").
    const double others =
        wall < 0.2 ? -1.0 : std::max(0.0, (machine_busy_s() - m0) - (self_busy_s() - s0)) / wall;
    std::sort(ms.begin(), ms.end());
    return {ms[ms.size() / 2], ms.front(), others};
}

void print(const char* what, size_t V, int threads, const timing& t) {
    char others[16] = "-";
    if (t.others >= 0) std::snprintf(others, sizeof others, "%.2f", t.others);
    std::printf("%-34s V=%-5zu thr=%d  median %8.3f ms  min %8.3f ms  others %s\n", what, V, threads, t.median_ms,
                t.min_ms, others);
}

std::vector<float> pattern(size_t n, uint32_t mul, float scale) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = (static_cast<float>((i * mul) % 1000) / 1000.f - 0.5f) * scale;
    return v;
}

}  // namespace

int main(int argc, char** argv) {
    const int reps = argc > 1 ? std::max(1, std::atoi(argv[1])) : 10;
    const size_t M = 1120, H = 256;
    dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    dnnl::stream strm(eng);
    std::printf("M=%zu H=%zu, avx2 kernels %s, %d repetitions\n", M, H, nn::simd::active() ? "on" : "off", reps);

    for (size_t V : {65, 7000}) {
        const auto x = pattern(M * H, 2654435761u, 1.f), w = pattern(V * H, 40503u, 0.1f), b = pattern(V, 7u, 0.1f);
        std::vector<float> y(M * V), dx(M * H), dw(V * H), db(V);
        const auto dy = pattern(M * V, 97u, 1e-3f);
        for (int threads : {1, 2}) {
            omp_set_num_threads(threads);
            const struct {
                nn::projection_backend b;
                const char* name;
            } backends[] = {{nn::projection_backend::matmul, "matmul"},
                            {nn::projection_backend::inner_product, "inner_product"},
                            {nn::projection_backend::sgemm, "sgemm"}};
            for (const auto& bk : backends) {
                nn::projection proj(eng, strm, int(H), int(V), bk.b);
                proj.prepare(int(M));
                const timing f = measure(reps, [] {}, [&] { proj.forward(y.data(), x.data(), w.data(), b.data()); });
                const timing bw = measure(
                    reps, [] {}, [&] { proj.backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data()); });
                print((std::string("projection fwd ") + bk.name).c_str(), V, threads, f);
                print((std::string("projection bwd ") + bk.name).c_str(), V, threads, bw);
            }
        }

        // Softmax + cross-entropy: logits restored before each timed call (untimed).
        const auto logits = pattern(M * V, 2246822519u, 8.f);
        std::vector<int32_t> targets(M);
        for (size_t r = 0; r < M; ++r) targets[r] = static_cast<int32_t>((r * 31) % V);
        std::vector<float> work(M * V), row_nll(M);
        auto reset = [&] { std::copy(logits.begin(), logits.end(), work.begin()); };
        const float scale = 1.f / static_cast<float>(M);
        omp_set_num_threads(1);
        print("softmax_xent naive (float exp)", V, 1,
              measure(reps, reset, [&] { nn::softmax_xent_naive(work.data(), targets.data(), M, V, scale); }));
        nn::simd::force_scalar = true;
        print("softmax_xent fused scalar", V, 1, measure(reps, reset, [&] {
                  nn::softmax_xent_forward_backward(work.data(), targets.data(), M, V, scale);
              }));
        nn::simd::force_scalar = false;
        for (int threads : {1, 2}) {
            omp_set_num_threads(threads);
            print("softmax_xent fused avx2", V, threads, measure(reps, reset, [&] {
                      nn::softmax_xent_forward_backward(work.data(), targets.data(), M, V, scale);
                  }));
            print("softmax_xent_nll (eval) avx2", V, threads, measure(reps, [] {}, [&] {
                      nn::softmax_xent_nll(row_nll.data(), logits.data(), targets.data(), M, V);
                  }));
        }
    }
    return 0;
}
