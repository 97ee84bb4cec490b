// int8 and bf16 linear layers (see qgemm.h): quantization of weights and input rows, the three int8
// dot-product kernels over one block of 16 outputs and the rescaling they share; the two bf16 ones. The kernels compute the same
// exact s32 sums, so every path gives the same bits; tests/int8_test.cpp checks it.
#include "layers/qgemm.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "charlm/status.hpp"
#include "layers/simd.h"

namespace charlm::nn {

namespace {

constexpr int k_block = 16;     // outputs per block
constexpr int k_group = 4;      // inputs per vpdpbusd group
constexpr int k_zero = 128;     // the u8 input's zero point
constexpr size_t k_parallel_min = size_t{1} << 19;  // multiply-adds below which one thread runs

int padded(int k) { return (k + 63) / 64 * 64; }

// acc (R, 16) = sums over Kp inputs of block `wb` (Kp / 4, 16, 4) times R rows of x (R, Kp) u8,
// R <= k_rows: the VNNI kernel loads each 64 bytes of weights once for all R rows.
constexpr int k_rows = 4;

void dot16_scalar(int32_t* acc, const uint8_t* x, size_t Kp, int R, const int8_t* wb, int groups) {
    for (int r = 0; r < R; ++r) {
        int32_t* a = acc + r * k_block;
        const uint8_t* xr = x + r * Kp;
        for (int j = 0; j < k_block; ++j) a[j] = 0;
        for (int g = 0; g < groups; ++g) {
            const int8_t* w = wb + static_cast<size_t>(g) * k_block * k_group;
            const uint8_t* xg = xr + static_cast<size_t>(g) * k_group;
            for (int j = 0; j < k_block; ++j)
                for (int t = 0; t < k_group; ++t) a[j] += int32_t{xg[t]} * int32_t{w[j * k_group + t]};
        }
    }
}

template <int R>
[[gnu::target("avx512f,avx512bw,avx512vnni")]] void dot16_vnni_rows(int32_t* acc, const uint8_t* x, size_t Kp,
                                                                    const int8_t* wb, int groups) {
    __m512i a[R];
    for (int r = 0; r < R; ++r) a[r] = _mm512_setzero_si512();
    for (int g = 0; g < groups; ++g) {
        const __m512i w = _mm512_loadu_si512(wb + static_cast<size_t>(g) * k_block * k_group);
        for (int r = 0; r < R; ++r) {
            int32_t xv;
            std::memcpy(&xv, x + r * Kp + static_cast<size_t>(g) * k_group, 4);
            a[r] = _mm512_dpbusd_epi32(a[r], _mm512_set1_epi32(xv), w);
        }
    }
    for (int r = 0; r < R; ++r) _mm512_storeu_si512(acc + r * k_block, a[r]);
}

// One row: two chains over alternate groups (groups is even), for the adds' latency.
[[gnu::target("avx512f,avx512bw,avx512vnni")]] void dot16_vnni_one(int32_t* acc, const uint8_t* x, const int8_t* wb,
                                                                   int groups) {
    __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512();
    for (int g = 0; g < groups; g += 2) {
        int32_t x0, x1;
        std::memcpy(&x0, x + static_cast<size_t>(g) * k_group, 4);
        std::memcpy(&x1, x + static_cast<size_t>(g + 1) * k_group, 4);
        const int8_t* w = wb + static_cast<size_t>(g) * k_block * k_group;
        a0 = _mm512_dpbusd_epi32(a0, _mm512_set1_epi32(x0), _mm512_loadu_si512(w));
        a1 = _mm512_dpbusd_epi32(a1, _mm512_set1_epi32(x1), _mm512_loadu_si512(w + 64));
    }
    _mm512_storeu_si512(acc, _mm512_add_epi32(a0, a1));
}

void dot16_vnni(int32_t* acc, const uint8_t* x, size_t Kp, int R, const int8_t* wb, int groups) {
    switch (R) {
        case 1: return dot16_vnni_one(acc, x, wb, groups);
        case 2: return dot16_vnni_rows<2>(acc, x, Kp, wb, groups);
        case 3: return dot16_vnni_rows<3>(acc, x, Kp, wb, groups);
        default: return dot16_vnni_rows<4>(acc, x, Kp, wb, groups);
    }
}

// 4 outputs x 2 pairs of inputs per register (vpmaddwd on s16: u8 x s8 pairs cannot saturate),
// the pairs added at the end.
[[gnu::target("avx2")]] void dot16_avx2_one(int32_t* acc, const uint8_t* x, const int8_t* wb, int groups) {
    __m256i a[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
    for (int g = 0; g < groups; ++g) {
        int32_t xv;
        std::memcpy(&xv, x + static_cast<size_t>(g) * k_group, 4);
        const __m256i xs = _mm256_cvtepu8_epi16(_mm_set1_epi32(xv));  // x0..x3 four times
        const int8_t* w = wb + static_cast<size_t>(g) * k_block * k_group;
        for (int q = 0; q < 4; ++q) {
            const __m256i w16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + 16 * q)));
            a[q] = _mm256_add_epi32(a[q], _mm256_madd_epi16(xs, w16));
        }
    }
    // hadd gives (o0 o1 o4 o5 | o2 o3 o6 o7); 0xD8 puts the 64-bit pairs in order.
    const __m256i lo = _mm256_permute4x64_epi64(_mm256_hadd_epi32(a[0], a[1]), 0xD8);
    const __m256i hi = _mm256_permute4x64_epi64(_mm256_hadd_epi32(a[2], a[3]), 0xD8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc), lo);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc + 8), hi);
}

void dot16_avx2(int32_t* acc, const uint8_t* x, size_t Kp, int R, const int8_t* wb, int groups) {
    for (int r = 0; r < R; ++r) dot16_avx2_one(acc + r * k_block, x + r * Kp, wb, groups);
}

using dot16_fn = void (*)(int32_t*, const uint8_t*, size_t, int, const int8_t*, int);

dot16_fn kernel_of(qkernel k) {
    switch (k) {
        case qkernel::avx512_vnni: return dot16_vnni;
        case qkernel::avx2: return dot16_avx2;
        case qkernel::scalar:
        case qkernel::avx512_bf16:
        case qkernel::onednn_bf16: break;
    }
    return dot16_scalar;
}

// Round to nearest, ties to even, for |v| < 2^22, inline: adding and subtracting 1.5 x 2^23 leaves
// no fraction bits (std::nearbyint is a library call here, and was most of a one-row product).
inline int round_half_even(float v) {
    constexpr float magic = 12582912.f;
    return static_cast<int>((v + magic) - magic);
}

// x (M, K) -> u8 (M, Kp) around 128 and the row scales.
void quantize_rows(qscratch& s, const float* x, size_t M, int K, int Kp) {
    if (s.x.size() < M * Kp) s.x.resize(M * Kp);
    if (s.xs.size() < M) s.xs.resize(M);
    for (size_t m = 0; m < M; ++m) {
        const float* r = x + m * K;
        float mx = 0.f;
        for (int k = 0; k < K; ++k) mx = std::max(mx, std::fabs(r[k]));
        const float sc = mx > 0.f ? mx / 127.f : 1.f, inv = 1.f / sc;
        uint8_t* u = s.x.data() + m * Kp;
        for (int k = 0; k < K; ++k) u[k] = static_cast<uint8_t>(k_zero + std::clamp(round_half_even(r[k] * inv), -127, 127));
        std::memset(u + K, k_zero, static_cast<size_t>(Kp - K));
        s.xs[m] = sc;
    }
}


// --- bf16: blocks of 16 outputs x 2 inputs (one vdpbf16ps per pair and block)

constexpr int k_pair = 2;
constexpr int k_bblocks = 8;  // blocks per pass: independent sums for the adds' latency

// The weights of a pass of up to 8 blocks lie together, pair by pair: (Kp / 2, B, 16, 2), so that a
// pass reads one stream (eight streams 16 KiB apart alias in the L1 cache). Block b's 32 values of
// pair g are at w + g * gstride + b * bstride.
size_t bf16_index(int o, int k, int Kp, int blocks) {
    const int b = o / k_block, b0 = b / k_bblocks * k_bblocks, B = std::min(k_bblocks, blocks - b0);
    return static_cast<size_t>(b0) * k_block * Kp +
           ((static_cast<size_t>(k / k_pair) * B + (b - b0)) * k_block + o % k_block) * k_pair + k % k_pair;
}

// acc (R, B, 16) with row stride k_bblocks = sums over Kp / 2 pairs of B blocks times R rows of x
// (R, Kp) bf16. Each sum adds the odd input's product, then the even one's, pair by pair (vdpbf16ps's
// order; a bf16 x bf16 product is exact in f32, so only the adds round).
inline float bits_to_float(uint32_t u) {
    float v;
    std::memcpy(&v, &u, 4);
    return v;
}

void bdot_scalar(float* acc, const uint16_t* x, size_t Kp, int R, const uint16_t* wb, size_t bstride, size_t gstride,
                 int B) {
    const size_t pairs = Kp / k_pair;
    for (int r = 0; r < R; ++r)
        for (int b = 0; b < B; ++b) {
            float* a = acc + (static_cast<size_t>(r) * k_bblocks + b) * k_block;
            const uint16_t* xr = x + r * Kp;
            std::fill(a, a + k_block, 0.f);
            for (size_t g = 0; g < pairs; ++g) {
                const float odd = from_bf16(xr[2 * g + 1]), even = from_bf16(xr[2 * g]);
                const uint16_t* w = wb + g * gstride + b * bstride;
                for (int j = 0; j < k_block; ++j) {  // the pair as one 32-bit word, as vdpbf16ps reads it
                    uint32_t pair;
                    std::memcpy(&pair, w + j * k_pair, 4);
                    a[j] += odd * bits_to_float(pair & 0xffff0000u);
                    a[j] += even * bits_to_float(pair << 16);
                }
            }
        }
}

template <int R, int B>
[[gnu::target("avx512f,avx512bf16")]] void bdot_avx512_rb(float* acc, const uint16_t* x, size_t Kp,
                                                           const uint16_t* wb, size_t bstride, size_t gstride) {
    __m512 a[R][B];
    for (int r = 0; r < R; ++r)
        for (int b = 0; b < B; ++b) a[r][b] = _mm512_setzero_ps();
    const size_t pairs = Kp / k_pair;
    for (size_t g = 0; g < pairs; ++g) {
        __m512i xv[R];
        for (int r = 0; r < R; ++r) {
            int32_t v;
            std::memcpy(&v, x + r * Kp + g * k_pair, 4);
            xv[r] = _mm512_set1_epi32(v);
        }
        for (int b = 0; b < B; ++b) {
            const __m512i w = _mm512_loadu_si512(wb + g * gstride + b * bstride);
            for (int r = 0; r < R; ++r) a[r][b] = _mm512_dpbf16_ps(a[r][b], (__m512bh)xv[r], (__m512bh)w);
        }
    }
    for (int r = 0; r < R; ++r)
        for (int b = 0; b < B; ++b) _mm512_storeu_ps(acc + (static_cast<size_t>(r) * k_bblocks + b) * k_block, a[r][b]);
}

// Up to 16 sums in registers: B blocks of R rows, R x B <= 16.
template <int R>
void bdot_avx512_r(float* acc, const uint16_t* x, size_t Kp, const uint16_t* wb, size_t bs, size_t gs, int B) {
    switch (B) {
        case 1: return bdot_avx512_rb<R, 1>(acc, x, Kp, wb, bs, gs);
        case 2: return bdot_avx512_rb<R, 2>(acc, x, Kp, wb, bs, gs);
        case 3: return bdot_avx512_rb<R, 3>(acc, x, Kp, wb, bs, gs);
        case 4: return bdot_avx512_rb<R, 4>(acc, x, Kp, wb, bs, gs);
    }
    if constexpr (R <= 2) {
        switch (B) {
            case 5: return bdot_avx512_rb<R, 5>(acc, x, Kp, wb, bs, gs);
            case 6: return bdot_avx512_rb<R, 6>(acc, x, Kp, wb, bs, gs);
            case 7: return bdot_avx512_rb<R, 7>(acc, x, Kp, wb, bs, gs);
            default: return bdot_avx512_rb<R, 8>(acc, x, Kp, wb, bs, gs);
        }
    } else {  // two passes of at most 4 blocks (acc's row stride stays k_bblocks)
        bdot_avx512_rb<R, 4>(acc, x, Kp, wb, bs, gs);
        bdot_avx512_r<R>(acc + 4 * k_block, x, Kp, wb + 4 * bs, bs, gs, B - 4);
    }
}

void bdot_avx512(float* acc, const uint16_t* x, size_t Kp, int R, const uint16_t* wb, size_t bs, size_t gs, int B) {
    switch (R) {
        case 1: return bdot_avx512_r<1>(acc, x, Kp, wb, bs, gs, B);
        case 2: return bdot_avx512_r<2>(acc, x, Kp, wb, bs, gs, B);
        case 3: return bdot_avx512_r<3>(acc, x, Kp, wb, bs, gs, B);
        default: return bdot_avx512_r<4>(acc, x, Kp, wb, bs, gs, B);
    }
}

// x (M, K) -> bf16 (M, Kp), padding 0.
void bf16_rows(qscratch& s, const float* x, size_t M, int K, int Kp) {
    if (s.xb.size() < M * Kp) s.xb.resize(M * Kp);
    for (size_t m = 0; m < M; ++m) {
        uint16_t* u = s.xb.data() + m * Kp;
        for (int k = 0; k < K; ++k) u[k] = to_bf16(x[m * K + k]);
        for (int k = K; k < Kp; ++k) u[k] = 0;
    }
}

// Whether kernel k computes q's arithmetic (scalar computes both).
bool kernel_fits(const qlinear& q, qkernel k) {
    switch (k) {
        case qkernel::scalar: return true;
        case qkernel::avx2:
        case qkernel::avx512_vnni: return !q.bf16;
        case qkernel::avx512_bf16: return q.bf16;
        case qkernel::onednn_bf16: return q.bf16 && q.mm != nullptr;
    }
    return false;
}

void bf16_forward(float* y, size_t ldy, const float* x, size_t M, const qlinear& q, qscratch& s, qkernel k) {
    const int Kp = q.in_padded, blocks = (q.out + k_block - 1) / k_block;
    const size_t block = static_cast<size_t>(k_block) * Kp, bs = k_block * k_pair;  // one block's values
    bf16_rows(s, x, M, q.in, Kp);
    if (k == qkernel::onednn_bf16) {
        // oneDNN's brgemm takes only a dense result (a row stride past O fell to its slow 'ref'):
        // a slice of wider rows (the adaptive softmax's clusters) goes through s.y.
        const size_t O = static_cast<size_t>(q.out);
        if (ldy != O && s.y.size() < M * O) s.y.resize(M * O);
        float* to = ldy == O ? y : s.y.data();
        bf16_matmul_forward(*q.mm, to, O, s.xb.data(), static_cast<size_t>(Kp), M);
        for (size_t m = 0; m < M; ++m)
            for (size_t o = 0; o < O; ++o) y[m * ldy + o] = to[m * O + o] + (q.bias.empty() ? 0.f : q.bias[o]);
        return;
    }
    const auto dot = k == qkernel::avx512_bf16 ? bdot_avx512 : bdot_scalar;
    const uint16_t* xb = s.xb.data();
    const int passes = (blocks + k_bblocks - 1) / k_bblocks;
    const bool parallel = M * static_cast<size_t>(q.out) * Kp >= k_parallel_min;
#pragma omp parallel for schedule(static) if (parallel)
    for (int p = 0; p < passes; ++p) {
        const int b0 = p * k_bblocks, B = std::min(k_bblocks, blocks - b0);
        alignas(64) float acc[k_rows * k_bblocks * k_block];
        for (size_t m0 = 0; m0 < M; m0 += k_rows) {
            const int R = static_cast<int>(std::min<size_t>(k_rows, M - m0));
            dot(acc, xb + m0 * Kp, static_cast<size_t>(Kp), R, q.wb.data() + b0 * block, bs, B * bs, B);
            for (int r = 0; r < R; ++r)
                for (int b = 0; b < B; ++b) {
                    const int o0 = (b0 + b) * k_block, n = std::min(k_block, q.out - o0);
                    const float* a = acc + (static_cast<size_t>(r) * k_bblocks + b) * k_block;
                    float* ym = y + (m0 + r) * ldy + o0;
                    for (int j = 0; j < n; ++j) ym[j] = a[j] + (q.bias.empty() ? 0.f : q.bias[o0 + j]);
                }
        }
    }
}

}  // namespace

uint16_t to_bf16(float v) {
    uint32_t u;
    std::memcpy(&u, &v, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // NaN stays NaN
    u += 0x7fffu + ((u >> 16) & 1u);
    return static_cast<uint16_t>(u >> 16);
}

float from_bf16(uint16_t b) {
    const uint32_t u = uint32_t{b} << 16;
    float v;
    std::memcpy(&v, &u, 4);
    return v;
}

qkernel best_bkernel() { return cpu_runs(qkernel::onednn_bf16) ? qkernel::onednn_bf16 : qkernel::scalar; }

qlinear bf16_linear(const float* w, const float* bias, int out, int in) {
    CHARLM_ASSERT(out >= 1 && in >= 1);
    qlinear q;
    q.out = out;
    q.in = in;
    q.bf16 = true;
    q.in_padded = (in + k_pair - 1) / k_pair * k_pair;
    const int blocks = (out + k_block - 1) / k_block;
    const size_t Kp = static_cast<size_t>(q.in_padded);
    q.wb.assign(static_cast<size_t>(blocks) * k_block * Kp, 0);
    for (int o = 0; o < out; ++o)
        for (int k = 0; k < in; ++k)
            q.wb[bf16_index(o, k, q.in_padded, blocks)] = to_bf16(w[static_cast<size_t>(o) * in + k]);
    if (bias) q.bias.assign(bias, bias + out);
    if (simd::cpu_has_avx512_bf16()) q.mm = make_bf16_matmul(w, out, in);
    return q;
}

bool cpu_runs(qkernel k) {
    switch (k) {
        case qkernel::avx512_vnni: return simd::cpu_has_avx512_vnni();
        case qkernel::avx512_bf16:
        case qkernel::onednn_bf16: return simd::cpu_has_avx512_bf16();
        case qkernel::avx2: return simd::cpu_has_avx2_fma();
        case qkernel::scalar: return true;
    }
    return false;
}

qkernel best_qkernel() {
    if (simd::force_scalar) return qkernel::scalar;
    if (cpu_runs(qkernel::avx512_vnni)) return qkernel::avx512_vnni;
    if (cpu_runs(qkernel::avx2)) return qkernel::avx2;
    return qkernel::scalar;
}

const char* to_string(qkernel k) {
    switch (k) {
        case qkernel::avx512_vnni: return "avx512-vnni";
        case qkernel::avx512_bf16: return "avx512-bf16";
        case qkernel::onednn_bf16: return "onednn-bf16-matmul";
        case qkernel::avx2: return "avx2";
        case qkernel::scalar: return "scalar";
    }
    return "?";
}

qlinear quantize_linear(const float* w, const float* bias, int out, int in) {
    CHARLM_ASSERT(out >= 1 && in >= 1);
    qlinear q;
    q.out = out;
    q.in = in;
    q.in_padded = padded(in);
    const int blocks = (out + k_block - 1) / k_block, groups = q.in_padded / k_group;
    q.w.assign(static_cast<size_t>(blocks) * k_block * q.in_padded, 0);
    q.scale.assign(static_cast<size_t>(blocks) * k_block, 0.f);
    q.row_sum.assign(q.scale.size(), 0);
    for (int o = 0; o < out; ++o) {
        const float* r = w + static_cast<size_t>(o) * in;
        float mx = 0.f;
        for (int k = 0; k < in; ++k) mx = std::max(mx, std::fabs(r[k]));
        const float sc = mx > 0.f ? mx / 127.f : 1.f;
        q.scale[o] = sc;
        const int b = o / k_block, j = o % k_block;
        for (int k = 0; k < in; ++k) {
            const auto v = static_cast<int8_t>(std::clamp(static_cast<int>(std::nearbyint(r[k] / sc)), -127, 127));
            const int g = k / k_group, t = k % k_group;
            q.w[((static_cast<size_t>(b) * groups + g) * k_block + j) * k_group + t] = v;
            q.row_sum[o] += v;
        }
    }
    if (bias) q.bias.assign(bias, bias + out);
    return q;
}

std::vector<float> dequantize(const qlinear& q) {
    std::vector<float> w(static_cast<size_t>(q.out) * q.in);
    if (q.bf16) {
        const int blocks = (q.out + k_block - 1) / k_block;
        for (int o = 0; o < q.out; ++o)
            for (int k = 0; k < q.in; ++k)
                w[static_cast<size_t>(o) * q.in + k] = from_bf16(q.wb[bf16_index(o, k, q.in_padded, blocks)]);
        return w;
    }
    const int groups = q.in_padded / k_group;
    for (int o = 0; o < q.out; ++o)
        for (int k = 0; k < q.in; ++k) {
            const size_t at = ((static_cast<size_t>(o / k_block) * groups + k / k_group) * k_block + o % k_block) *
                                  k_group + k % k_group;
            w[static_cast<size_t>(o) * q.in + k] = q.w[at] * q.scale[o];
        }
    return w;
}

void qlinear_forward(float* y, size_t ldy, const float* x, size_t M, const qlinear& q, qscratch& s) {
    qlinear_forward(y, ldy, x, M, q, s, q.bf16 ? best_bkernel() : best_qkernel());
}

void qlinear_forward(float* y, size_t ldy, const float* x, size_t M, const qlinear& q, qscratch& s, qkernel k) {
    CHARLM_ASSERT(cpu_runs(k) && kernel_fits(q, k));
    if (q.bf16) return bf16_forward(y, ldy, x, M, q, s, k);
    const int Kp = q.in_padded, groups = Kp / k_group, blocks = (q.out + k_block - 1) / k_block;
    quantize_rows(s, x, M, q.in, Kp);
    const dot16_fn dot = kernel_of(k);
    const uint8_t* xq = s.x.data();
    const float* xs = s.xs.data();
    const bool parallel = M * static_cast<size_t>(q.out) * Kp >= k_parallel_min;
#pragma omp parallel for schedule(static) if (parallel)
    for (int b = 0; b < blocks; ++b) {
        const int8_t* wb = q.w.data() + static_cast<size_t>(b) * k_block * Kp;
        const int o0 = b * k_block, n = std::min(k_block, q.out - o0);
        const int32_t* zero = q.row_sum.data() + o0;  // times 128: the zero point's term
        const float* ws = q.scale.data() + o0;
        alignas(64) int32_t acc[k_rows * k_block];
        for (size_t m0 = 0; m0 < M; m0 += k_rows) {
            const int R = static_cast<int>(std::min<size_t>(k_rows, M - m0));
            dot(acc, xq + m0 * Kp, static_cast<size_t>(Kp), R, wb, groups);
            for (int r = 0; r < R; ++r) {
                const int32_t* a = acc + r * k_block;
                const float sx = xs[m0 + r];
                float* ym = y + (m0 + r) * ldy + o0;
                for (int j = 0; j < n; ++j) ym[j] = static_cast<float>(a[j] - k_zero * zero[j]) * (ws[j] * sx);
                if (!q.bias.empty())
                    for (int j = 0; j < n; ++j) ym[j] += q.bias[o0 + j];
            }
        }
    }
}

}  // namespace charlm::nn
