// Run-time choice of the hand-vectorized (AVX2+FMA, AVX-512 VNNI) kernels of layers/: the product is built for
// generic x86-64, so kernels written with intrinsics are compiled with gnu::target and called
// only when the CPU has them. Loops left to the compiler use target_clones instead.
// Not here: the kernels themselves.
#pragma once

#include <cstdlib>

namespace charlm::nn::simd {

inline bool cpu_has_avx2_fma() {
    static const bool yes = [] {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }();
    return yes;
}

// AVX-512 with VNNI (vpdpbusd: u8 x s8 dot products of 4 into s32), for the int8 kernels of
// layers/qgemm.h.
inline bool cpu_has_avx512_vnni() {
    static const bool yes = [] {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vnni");
    }();
    return yes;
}

// Tests only: force the scalar kernels on an AVX2 machine, and behave as a CPU without
// avx512_bf16 (--precision bf16 refused). Not synchronized: set it while no kernel runs. A process
// started with CHARLM_FORCE_SCALAR=1 in its environment starts with it set (the CLI's and Python's
// tests of the refusal).
inline bool force_scalar = [] {
    const char* v = std::getenv("CHARLM_FORCE_SCALAR");
    return v != nullptr && v[0] == '1';
}();

// AVX-512 BF16 (vdpbf16ps: pairs of bf16 products summed into f32), for --precision bf16: the
// output layer's kernel (layers/qgemm.h) and oneDNN's bf16 RNN primitives. False under force_scalar.
inline bool cpu_has_avx512_bf16() {
    static const bool yes = [] {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16");
    }();
    return yes && !force_scalar;
}

inline bool active() { return cpu_has_avx2_fma() && !force_scalar; }

}  // namespace charlm::nn::simd
