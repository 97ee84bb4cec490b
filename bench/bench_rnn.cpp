// Times one training step of charlm::nn::rnn_stack (zero_grad + forward_training + backward, which
// includes the per-step weight reorders) for LSTM T=35 N=32 (default H=256, I=256), with the current
// OMP threads, in f32 or in bf16 (train --precision bf16's session; a CPU with avx512_bf16).
// Not a test; compare with /work/shared/onednn-notes.md §4.1 (about 31 ms on 2 threads, 47 on 1, idle).
// Usage: bench_rnn [timed steps, default 10] [H] [I] [f32|bf16]
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "dnnl/rnn_stack.h"

namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    const int steps = argc > 1 ? std::max(1, std::atoi(argv[1])) : 10;
    const int H = argc > 2 ? std::max(1, std::atoi(argv[2])) : 256, I = argc > 3 ? std::max(1, std::atoi(argv[3])) : 256;
    const bool bf16 = argc > 4 && std::string(argv[4]) == "bf16";
    const int L = 1, T = 35, N = 32;
    dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    charlm::nn::rnn_weights w(eng, charlm::cell_type::lstm, L, I, H);
    w.init_uniform(1);
    charlm::nn::rnn_stack st(w, 0.f, 0, true, nullptr, bf16);
    st.prepare(T, N);
    std::vector<float> x(static_cast<size_t>(T) * N * I), dy(static_cast<size_t>(T) * N * H), dx(x.size());
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 2654435761u) % 1000) / 1000.f - 0.5f;
    for (size_t i = 0; i < dy.size(); ++i) dy[i] = static_cast<float>((i * 40503u) % 1000) / 1000.f - 0.5f;

    std::vector<double> step_ms, fwd_ms, bwd_ms;
    for (int k = 0; k < steps + 2; ++k) {  // the first two are warm-up
        const auto t0 = std::chrono::steady_clock::now();
        st.zero_grad();
        st.forward_training(x.data());
        const double f = ms_since(t0);
        const auto t1 = std::chrono::steady_clock::now();
        st.backward(dy.data(), dx.data());
        const double b = ms_since(t1);
        st.carry_state();
        if (k >= 2) {
            step_ms.push_back(f + b);
            fwd_ms.push_back(f);
            bwd_ms.push_back(b);
        }
    }
    std::string load;
    std::getline(std::ifstream("/proc/loadavg"), load);
    std::printf("lstm %s L=%d I=%d H=%d T=%d N=%d threads=%d | step %.1f ms (fwd %.1f, bwd %.1f; median of %d; "
                "fastest %.1f) | %.0f char/s | loadavg %s\n",
                bf16 ? "bf16" : "f32", L, I, H, T, N, omp_get_max_threads(), median(step_ms), median(fwd_ms),
                median(bwd_ms), steps, *std::min_element(step_ms.begin(), step_ms.end()),
                T * N * 1000.0 / median(step_ms), load.c_str());
    return 0;
}
