// The int8 output layer: charlm's kernel (layers/qgemm.h, the kernel this CPU picks) against
// oneDNN 2.6's int8 matmul (u8 source with zero point 128, s8 weights in the layout oneDNN
// chooses, per-output scales, f32 result) on the shapes of generation: M = 1 and 16 rows, K = 512,
// O = 66 (Shakespeare), 733 (the Tang head) and 9602 (a full softmax over the Tang vocabulary).
// Both times include quantizing the f32 input rows. Where the CPU has avx512_bf16, the same for
// bf16: charlm's vdpbf16ps kernel against oneDNN's bf16 matmul (bf16 source and weights, f32
// result) with the weights in the layout oneDNN picks for that M, in the plain (O, K) layout, and
// in the layout it picks for 16 rows (what qgemm_onednn.cpp keeps); and what --precision bf16
// runs; all timing the rounding of the input rows. Not a test: figures in bench/RESULTS.md.
// Usage: bench_qgemm [repeats, default 2000]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "layers/qgemm.h"

namespace {

using clock_type = std::chrono::steady_clock;
using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

template <class F>
double best_us(int repeats, F&& f) {
    double best = 1e30;
    for (int w = 0; w < 5; ++w) {
        const auto t0 = clock_type::now();
        for (int i = 0; i < repeats; ++i) f();
        best = std::min(best, std::chrono::duration<double, std::micro>(clock_type::now() - t0).count() / repeats);
    }
    return best;
}

void run(int M, int K, int O, int repeats) {
    std::mt19937 g(1);
    std::normal_distribution<float> d(0.f, 0.1f);
    std::vector<float> w(size_t(O) * K), x(size_t(M) * K), y(size_t(M) * O);
    for (auto& v : w) v = d(g);
    for (auto& v : x) v = std::tanh(10 * d(g));
    const charlm::nn::qlinear q = charlm::nn::quantize_linear(w.data(), nullptr, O, K);
    charlm::nn::qscratch s;
    const double ours = best_us(repeats, [&] { charlm::nn::qlinear_forward(y.data(), O, x.data(), M, q, s); });

    // oneDNN: x (M, K) u8 = round(127 x) + 128 (h in [-1, 1]), W^T (K, O) s8, y = scale[o] / 127 * s32.
    dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    dnnl::stream strm(eng);
    dnnl::primitive_attr attr;
    attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
    attr.set_output_scales(1 << 1, {DNNL_RUNTIME_F32_VAL});
    dnnl::memory::desc src_md({M, K}, dt::u8, tag::ab), wei_any({K, O}, dt::s8, tag::any), dst_md({M, O}, dt::f32, tag::ab);
    dnnl::matmul::primitive_desc pd({src_md, wei_any, dst_md}, attr, eng);
    std::vector<int8_t> wt(size_t(K) * O);
    std::vector<float> scales(O);
    const auto deq = charlm::nn::dequantize(q);
    for (int o = 0; o < O; ++o) {
        float mx = 0.f;
        for (int k = 0; k < K; ++k) mx = std::max(mx, std::fabs(deq[size_t(o) * K + k]));
        scales[o] = (mx > 0 ? mx / 127.f : 1.f) / 127.f;
        for (int k = 0; k < K; ++k)
            wt[size_t(k) * O + o] = static_cast<int8_t>(std::nearbyint(deq[size_t(o) * K + k] / (scales[o] * 127.f)));
    }
    dnnl::memory wt_user({{K, O}, dt::s8, tag::ab}, eng, wt.data()), wei(pd.weights_desc(), eng);
    dnnl::reorder(wt_user, wei).execute(strm, wt_user, wei);
    std::vector<uint8_t> xq(size_t(M) * K);
    int32_t zp = 128;
    dnnl::memory src(src_md, eng, xq.data()), dst(dst_md, eng, y.data()),
        zp_mem({{1}, dt::s32, tag::x}, eng, &zp), sc_mem({{O}, dt::f32, tag::x}, eng, scales.data());
    dnnl::matmul mm(pd);
    const double theirs = best_us(repeats, [&] {
        for (size_t i = 0; i < xq.size(); ++i)
            xq[i] = static_cast<uint8_t>(128 + std::clamp(static_cast<int>(std::nearbyint(127.f * x[i])), -127, 127));
        mm.execute(strm, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst},
                          {DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, zp_mem}, {DNNL_ARG_ATTR_OUTPUT_SCALES, sc_mem}});
        strm.wait();
    });
    std::printf("M=%d K=%d O=%d charlm(%s)=%.1fus onednn_matmul(%s)=%.1fus ratio=%.2f\n", M, K, O,
                charlm::nn::to_string(charlm::nn::best_qkernel()), ours, pd.impl_info_str(), theirs, theirs / ours);
    std::fflush(stdout);
}

void run_bf16(int M, int K, int O, int repeats) {
    std::mt19937 g(1);
    std::normal_distribution<float> d(0.f, 0.1f);
    std::vector<float> w(size_t(O) * K), x(size_t(M) * K), y(size_t(M) * O);
    for (auto& v : w) v = d(g);
    for (auto& v : x) v = std::tanh(10 * d(g));
    const charlm::nn::qlinear q = charlm::nn::bf16_linear(w.data(), nullptr, O, K);
    charlm::nn::qscratch s;
    const double ours = best_us(repeats, [&] {
        charlm::nn::qlinear_forward(y.data(), O, x.data(), M, q, s, charlm::nn::qkernel::avx512_bf16);
    });
    // What --precision bf16 runs (qgemm.h's choice), rounding of the rows included.
    const double used = best_us(repeats, [&] { charlm::nn::qlinear_forward(y.data(), O, x.data(), M, q, s); });

    dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    dnnl::stream strm(eng);
    dnnl::memory::desc src_md({M, K}, dt::bf16, tag::ab), wei_any({K, O}, dt::bf16, tag::any),
        dst_md({M, O}, dt::f32, tag::ab);
    dnnl::matmul::primitive_desc pd({src_md, wei_any, dst_md}, eng);
    std::vector<float> wt(size_t(K) * O);
    for (int o = 0; o < O; ++o)
        for (int k = 0; k < K; ++k) wt[size_t(k) * O + o] = w[size_t(o) * K + k];
    dnnl::memory wt_user({{K, O}, dt::f32, tag::ab}, eng, wt.data()), wei(pd.weights_desc(), eng);
    dnnl::reorder(wt_user, wei).execute(strm, wt_user, wei);
    std::vector<uint16_t> xb(size_t(M) * K);
    dnnl::memory src(src_md, eng, xb.data()), dst(dst_md, eng, y.data());
    dnnl::matmul mm(pd);
    const double theirs = best_us(repeats, [&] {
        for (size_t i = 0; i < xb.size(); ++i) xb[i] = charlm::nn::to_bf16(x[i]);
        mm.execute(strm, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}});
        strm.wait();
    });
    // The same with the weights in their plain (O, K) layout, as W^T (K, O) tag ba: one copy for every M.
    dnnl::matmul::primitive_desc plain_pd({src_md, {{K, O}, dt::bf16, tag::ba}, dst_md}, eng);
    std::vector<uint16_t> wp(size_t(O) * K);
    for (size_t i = 0; i < wp.size(); ++i) wp[i] = charlm::nn::to_bf16(w[i]);
    dnnl::memory wplain({{K, O}, dt::bf16, tag::ba}, eng, wp.data());
    dnnl::matmul mp(plain_pd);
    const double plain = best_us(repeats, [&] {
        for (size_t i = 0; i < xb.size(); ++i) xb[i] = charlm::nn::to_bf16(x[i]);
        mp.execute(strm, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wplain}, {DNNL_ARG_DST, dst}});
        strm.wait();
    });
    // And with the weights in the layout oneDNN picks for 16 rows, whatever M: one copy for every M.
    const auto w16 = dnnl::matmul::primitive_desc({{{16, K}, dt::bf16, tag::ab}, wei_any, {{16, O}, dt::f32, tag::ab}}, eng)
                         .weights_desc();
    dnnl::matmul::primitive_desc fixed_pd({src_md, w16, dst_md}, eng);
    dnnl::memory wfixed(w16, eng);
    dnnl::reorder(wt_user, wfixed).execute(strm, wt_user, wfixed);
    dnnl::matmul mf(fixed_pd);
    const double fixed = best_us(repeats, [&] {
        for (size_t i = 0; i < xb.size(); ++i) xb[i] = charlm::nn::to_bf16(x[i]);
        mf.execute(strm, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wfixed}, {DNNL_ARG_DST, dst}});
        strm.wait();
    });
    std::printf("bf16 M=%d K=%d O=%d charlm(avx512-bf16)=%.1fus onednn_matmul(%s)=%.1fus ratio=%.2f "
                "plain_weights(%s)=%.1fus m16_layout(%s)=%.1fus used(%s)=%.1fus\n",
                M, K, O, ours, pd.impl_info_str(), theirs, theirs / ours, plain_pd.impl_info_str(), plain,
                fixed_pd.impl_info_str(), fixed, charlm::nn::to_string(charlm::nn::best_bkernel()), used);
    std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
    const int repeats = argc > 1 ? std::atoi(argv[1]) : 2000;
    for (int M : {1, 16})
        for (int O : {66, 733, 9602}) run(M, 512, O, O > 1000 ? repeats / 10 : repeats);
    // bf16: also the Tang model's adaptive-softmax clusters (512 -> 128 -> 2352, 512 -> 32 -> 6519).
    const int shapes[][2] = {{512, 66}, {512, 733}, {512, 9602}, {128, 2352}, {32, 6519}};
    if (charlm::nn::cpu_runs(charlm::nn::qkernel::avx512_bf16))
        for (int M : {1, 16})
            for (const auto& ko : shapes) run_bf16(M, ko[0], ko[1], ko[1] > 1000 ? repeats / 10 : repeats);
    return 0;
}
