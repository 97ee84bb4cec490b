// int8 linear layers for generation and evaluation (--precision int8): y = x W^T + b with W
// quantized once to s8 per output row (scale max|row| / 127) and each input row quantized on the
// fly to u8 around 128 (scale max|x| / 127), accumulated exactly in s32 and rescaled to f32.
// Three kernels of the same s32 sums, chosen at run time (simd.h): AVX-512 VNNI (vpdpbusd),
// AVX2 (widened to s16, vpmaddwd: exact, no saturation) and scalar, the reference of the others.
// bf16 (--precision bf16): W rounded to bf16 once, each input row rounded to bf16 as it is used,
// f32 sums. Three kernels: oneDNN's bf16 matmul (brgemm, AMX where the CPU has it), the one used:
// bench_qgemm measured it 1.1-7x faster than charlm's own AVX-512 BF16 (vdpbf16ps) kernel at
// generation's shapes but one (bench/RESULTS.md); that kernel, kept as the measured alternative and
// as the hardware check of the scalar one; and scalar, the reference, which adds the products in
// vdpbf16ps's order (odd input of a pair, then even) so that the AVX-512 kernel gives its bits.
// Not here: the softmax (softmax_xent.h), the recurrent layers' int8 and bf16 (dnnl/rnn_reduced.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace charlm::nn {

enum class qkernel { scalar, avx2, avx512_vnni, avx512_bf16, onednn_bf16 };
// The fastest int8 kernel this CPU runs (scalar when simd::force_scalar is set); best_bkernel() the
// bf16 one used (onednn_bf16 where the CPU has avx512_bf16, else scalar).
qkernel best_qkernel();
qkernel best_bkernel();
const char* to_string(qkernel k);
bool cpu_runs(qkernel k);

// Letters: O outputs, K inputs, Kp = K rounded up to 64, M rows.
// Weights in blocks of 16 outputs x 4 inputs, (ceil(O / 16), Kp / 4, 16, 4) s8, so one vpdpbusd
// of a broadcast group of 4 inputs adds into 16 outputs; padding is zero.
struct bf16_matmul;  // qgemm_onednn.cpp

// bf16 weights (bf16 true): blocks of 16 outputs x 2 inputs, in passes of up to 8 blocks stored
// pair by pair, (passes, Kp / 2, 8, 16, 2) (the last pass fewer blocks), Kp = K rounded up to 2;
// no scale.
struct qlinear {
    int out = 0, in = 0, in_padded = 0;
    bool bf16 = false;
    std::vector<int8_t> w;         // (O16 / 16, Kp / 4, 16, 4)
    std::vector<uint16_t> wb;      // bf16: (O16 / 128, Kp / 2, 8, 16, 2)
    std::shared_ptr<const bf16_matmul> mm;  // bf16 on a CPU with avx512_bf16: oneDNN's copy
    std::vector<float> scale;      // (O16) per output row: w_f32 ~ w_s8 * scale
    std::vector<int32_t> row_sum;  // (O16) sum of the row's s8 weights (the zero point's term)
    std::vector<float> bias;       // (O) or empty
    size_t bytes() const { return w.size() + 2 * wb.size() + 8 * scale.size() + 4 * bias.size(); }
};
// w (O, K) row-major as nn.Linear, bias (O) or null: int8, or bf16.
qlinear quantize_linear(const float* w, const float* bias, int out, int in);
qlinear bf16_linear(const float* w, const float* bias, int out, int in);
// f32 -> bf16, rounded to nearest even (NaN kept a NaN), and back.
uint16_t to_bf16(float v);
float from_bf16(uint16_t b);
// The f32 weights the quantized ones stand for (O, K): tests bound the error with them.
std::vector<float> dequantize(const qlinear& q);

// Work space of qlinear_forward for up to `rows` rows of up to `in_padded` inputs.
struct qscratch {
    std::vector<uint8_t> x;   // (M, Kp): u8 = round(x / s) + 128, padding 128
    std::vector<float> xs;    // (M): s
    std::vector<uint16_t> xb; // bf16: (M, Kp), padding 0
    std::vector<float> y;     // bf16 on oneDNN: (M, O), the product of a slice of wider rows
};

// oneDNN's bf16 matmul (qgemm_onednn.cpp): W (O, K) f32 copied once to bf16 in the layout oneDNN
// picks for 16 rows (as fast as each M's own at 1 and 16 rows); its primitives per (M, ldy, ldx)
// made on first use and kept (64 at most), under a lock; y (M, O) = xb (M, K) bf16 W^T, no bias.
std::shared_ptr<const bf16_matmul> make_bf16_matmul(const float* w, int out, int in);
void bf16_matmul_forward(const bf16_matmul& mm, float* y, size_t ldy, const uint16_t* xb, size_t ldx, size_t M);

// y (M, O) with row stride ldy = x (M, K) W^T + b, in q's arithmetic (k: one of its kernels).
void qlinear_forward(float* y, size_t ldy, const float* x, size_t M, const qlinear& q, qscratch& s);
void qlinear_forward(float* y, size_t ldy, const float* x, size_t M, const qlinear& q, qscratch& s, qkernel k);

}  // namespace charlm::nn
