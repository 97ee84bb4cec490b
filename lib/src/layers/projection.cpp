// Output layer on oneDNN (see projection.h): the three GEMMs of a step on one of three backends,
// primitives and memory objects built once per M, and the bias gradient's column sums.
// Not here: the loss, the choice of backend (the caller's; the default is in projection.h).
//
// GEMMs, row-major throughout:  y = x · w^T + b (M, V);  dx = dy · w (M, H);  dw += dy^T · x (V, H).
// matmul reads w^T and dy^T as strided views ("ba") and accumulates dw with a sum post-op;
// dnnl_sgemm accumulates with beta = 1; inner_product's backward overwrites, so it writes a
// scratch that is then added. The bias gradient is our own column sum except for inner_product.
#include "layers/projection.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "base/gemm.h"
#include "charlm/status.hpp"
#include "layers/simd.h"

namespace charlm::nn {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

namespace {

constexpr size_t k_parallel_min = size_t{1} << 16;

__attribute__((target_clones("arch=x86-64-v3", "default"))) void add_into(float* __restrict y,
                                                                          const float* __restrict x, size_t n) {
    for (size_t i = 0; i < n; ++i) y[i] += x[i];
}

void add_parallel(float* y, const float* x, size_t n) {
    constexpr size_t block = size_t{1} << 14;
    const auto blocks = static_cast<ptrdiff_t>((n + block - 1) / block);
#pragma omp parallel for schedule(static) if (n >= k_parallel_min)
    for (ptrdiff_t b = 0; b < blocks; ++b) {
        const size_t first = static_cast<size_t>(b) * block;
        add_into(y + first, x + first, std::min(block, n - first));
    }
}

void bind(const memory& m, const float* p) { m.set_data_handle(const_cast<float*>(p)); }


// One row (M = 1, a generation step): y = w · x + b as a matrix-vector product. oneDNN's sgemm
// reads w at 63 GB/s on 1 thread and 90 GB/s on 2 here (V 7000, H 256: 7.2 MB a step); this reads
// it as one contiguous stream, row by row, with four independent chains of FMAs per row.
[[gnu::target("avx2,fma")]] inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

[[gnu::target("avx2,fma")]] void gemv_rows_avx2(float* y, const float* w, const float* x, const float* b, size_t v0,
                                                size_t v1, size_t H) {
    const size_t H32 = H / 32 * 32, H8 = H / 8 * 8;
    for (size_t v = v0; v < v1; ++v) {
        const float* row = w + v * H;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        size_t h = 0;
        for (; h < H32; h += 32) {
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(row + h), _mm256_loadu_ps(x + h), a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(row + h + 8), _mm256_loadu_ps(x + h + 8), a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(row + h + 16), _mm256_loadu_ps(x + h + 16), a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(row + h + 24), _mm256_loadu_ps(x + h + 24), a3);
        }
        for (; h < H8; h += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(row + h), _mm256_loadu_ps(x + h), a0);
        float sum = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
        for (; h < H; ++h) sum += row[h] * x[h];
        y[v] = b[v] + sum;
    }
}

void gemv_rows_scalar(float* y, const float* w, const float* x, const float* b, size_t v0, size_t v1, size_t H) {
    for (size_t v = v0; v < v1; ++v) {
        float sum = 0.f;
        for (size_t h = 0; h < H; ++h) sum += w[v * H + h] * x[h];
        y[v] = b[v] + sum;
    }
}

// y (V) = w (V, H) · x (H) + b; rows split over the threads in blocks of 64 when the product is
// large enough to pay for the fork/join.
void gemv(float* y, const float* w, const float* x, const float* b, size_t V, size_t H) {
    auto* rows = simd::active() ? gemv_rows_avx2 : gemv_rows_scalar;
    constexpr size_t block = 64;
    const auto blocks = static_cast<int64_t>((V + block - 1) / block);
    if (V * H < 4 * k_parallel_min) {  // no OpenMP region at all: even a 1-thread one costs microseconds
        rows(y, w, x, b, 0, V, H);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < blocks; ++i) {
        const size_t v0 = static_cast<size_t>(i) * block;
        rows(y, w, x, b, v0, std::min(V, v0 + block), H);
    }
}

}  // namespace

// Memory objects are created without buffers and re-pointed (set_data_handle) at every call, so
// a step builds nothing; the argument maps hold handles to the same objects.
struct projection::shape {
    dnnl::primitive fwd, bwd_data, bwd_weights;
    memory x, w, w_t, b, y;        // x (M, H); w (V, H); w_t (H, V) view of w; b (1, V) or (V); y (M, V)
    memory dy, dy_t, dx, dw, db;   // dy (M, V); dy_t (V, M) view of dy; dx (M, H); dw (V, H); db (V)
    std::unordered_map<int, memory> fwd_args, bwd_data_args, bwd_weights_args;
};

projection::projection(const dnnl::engine& eng, dnnl::stream& strm, int hidden, int vocab,
                       projection_backend backend)
    : eng_(eng), strm_(strm), hidden_(hidden), vocab_(vocab), backend_(backend) {
    CHARLM_ASSERT(hidden > 0 && vocab > 0);
    if (backend_ == projection_backend::inner_product) {
        dw_scratch_ = std::make_unique<float[]>(static_cast<size_t>(vocab) * hidden);
        db_scratch_ = std::make_unique<float[]>(static_cast<size_t>(vocab));
    }
}

projection::~projection() = default;
projection::projection(projection&&) noexcept = default;
projection& projection::operator=(projection&&) noexcept = default;

void projection::prepare(int rows) {
    CHARLM_ASSERT(rows > 0);
    auto it = shapes_.find(rows);
    current_ = it != shapes_.end() ? it->second.get() : &build(rows);
    rows_ = rows;
}

projection::shape& projection::build(int rows) {
    auto s = std::make_unique<shape>();
    const memory::dim M = rows, H = hidden_, V = vocab_;
    auto mem = [&](const memory::desc& d) { return memory(d, eng_, DNNL_MEMORY_NONE); };
    const memory::desc x_md({M, H}, dt::f32, tag::ab), w_md({V, H}, dt::f32, tag::ab);
    const memory::desc y_md({M, V}, dt::f32, tag::ab);
    s->x = mem(x_md);
    s->w = mem(w_md);
    s->y = mem(y_md);
    s->dy = mem(y_md);
    s->dx = mem(x_md);
    s->dw = mem(w_md);
    switch (backend_) {
        case projection_backend::matmul: {
            const memory::desc wt_md({H, V}, dt::f32, tag::ba), b_md({1, V}, dt::f32, tag::ab);
            const memory::desc dyt_md({V, M}, dt::f32, tag::ba);
            s->w_t = mem(wt_md);
            s->b = mem(b_md);
            s->dy_t = mem(dyt_md);
            s->fwd = dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(x_md, wt_md, b_md, y_md), eng_));
            s->bwd_data = dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(y_md, w_md, x_md), eng_));
            dnnl::post_ops sum;
            sum.append_sum(1.f);  // dw += ..., the accumulation the API promises
            dnnl::primitive_attr attr;
            attr.set_post_ops(sum);
            s->bwd_weights =
                dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(dyt_md, x_md, w_md), attr, eng_));
            s->fwd_args = {{DNNL_ARG_SRC, s->x}, {DNNL_ARG_WEIGHTS, s->w_t}, {DNNL_ARG_BIAS, s->b},
                           {DNNL_ARG_DST, s->y}};
            s->bwd_data_args = {{DNNL_ARG_SRC, s->dy}, {DNNL_ARG_WEIGHTS, s->w}, {DNNL_ARG_DST, s->dx}};
            s->bwd_weights_args = {{DNNL_ARG_SRC, s->dy_t}, {DNNL_ARG_WEIGHTS, s->x}, {DNNL_ARG_DST, s->dw}};
            built_ += 3;
            break;
        }
        case projection_backend::inner_product: {
            const memory::desc xi_md({M, H}, dt::f32, tag::nc), wi_md({V, H}, dt::f32, tag::oi);
            const memory::desc yi_md({M, V}, dt::f32, tag::nc), b_md({V}, dt::f32, tag::x);
            s->b = mem(b_md);
            s->db = mem(b_md);
            using ipf = dnnl::inner_product_forward;
            using ipd = dnnl::inner_product_backward_data;
            using ipw = dnnl::inner_product_backward_weights;
            const ipf::primitive_desc fpd(ipf::desc(dnnl::prop_kind::forward_training, xi_md, wi_md, b_md, yi_md),
                                          eng_);
            s->fwd = ipf(fpd);
            s->bwd_data = ipd(ipd::primitive_desc(ipd::desc(xi_md, wi_md, yi_md), eng_, fpd));
            s->bwd_weights = ipw(ipw::primitive_desc(ipw::desc(xi_md, wi_md, b_md, yi_md), eng_, fpd));
            s->fwd_args = {{DNNL_ARG_SRC, s->x}, {DNNL_ARG_WEIGHTS, s->w}, {DNNL_ARG_BIAS, s->b},
                           {DNNL_ARG_DST, s->y}};
            s->bwd_data_args = {{DNNL_ARG_DIFF_DST, s->dy}, {DNNL_ARG_WEIGHTS, s->w}, {DNNL_ARG_DIFF_SRC, s->dx}};
            s->bwd_weights_args = {{DNNL_ARG_SRC, s->x}, {DNNL_ARG_DIFF_DST, s->dy},
                                   {DNNL_ARG_DIFF_WEIGHTS, s->dw}, {DNNL_ARG_DIFF_BIAS, s->db}};
            bind(s->dw, dw_scratch_.get());
            bind(s->db, db_scratch_.get());
            built_ += 3;
            break;
        }
        case projection_backend::sgemm:
            break;  // no primitives: dnnl_sgemm takes raw pointers
    }
    auto& slot = shapes_[rows];
    slot = std::move(s);
    return *slot;
}

void projection::forward(float* y, const float* x, const float* w, const float* b) {
    CHARLM_ASSERT(current_);
    const size_t M = static_cast<size_t>(rows_), V = static_cast<size_t>(vocab_);
    shape& s = *current_;
    switch (backend_) {
        case projection_backend::matmul:
            bind(s.x, x);
            bind(s.w_t, w);
            bind(s.b, b);
            bind(s.y, y);
            s.fwd.execute(strm_, s.fwd_args);
            strm_.wait();
            break;
        case projection_backend::inner_product:
            bind(s.x, x);
            bind(s.w, w);
            bind(s.b, b);
            bind(s.y, y);
            s.fwd.execute(strm_, s.fwd_args);
            strm_.wait();
            break;
        case projection_backend::sgemm:
            if (M == 1) {
                gemv(y, w, x, b, V, static_cast<size_t>(hidden_));
                break;
            }
            // y rows start as b, then y += x · w^T.
            for (size_t r = 0; r < M; ++r) std::memcpy(y + r * V, b, V * sizeof(float));
            sgemm('N', 'T', rows_, vocab_, hidden_, x, hidden_, w, hidden_, 1.f, y, vocab_);
            break;
    }
}

void projection::backward(float* dx, float* dw, float* db, const float* dy, const float* x, const float* w) {
    CHARLM_ASSERT(current_);
    const size_t M = static_cast<size_t>(rows_), H = static_cast<size_t>(hidden_), V = static_cast<size_t>(vocab_);
    shape& s = *current_;
    switch (backend_) {
        case projection_backend::matmul:
            if (dx) {
                bind(s.dy, dy);
                bind(s.w, w);
                bind(s.dx, dx);
                s.bwd_data.execute(strm_, s.bwd_data_args);
            }
            bind(s.dy_t, dy);
            bind(s.x, x);
            bind(s.dw, dw);
            s.bwd_weights.execute(strm_, s.bwd_weights_args);
            strm_.wait();
            column_sums(db, dy, M, V);
            break;
        case projection_backend::inner_product:
            bind(s.dy, dy);
            if (dx) {
                bind(s.w, w);
                bind(s.dx, dx);
                s.bwd_data.execute(strm_, s.bwd_data_args);
            }
            bind(s.x, x);
            s.bwd_weights.execute(strm_, s.bwd_weights_args);  // overwrites the scratch
            strm_.wait();
            add_parallel(dw, dw_scratch_.get(), V * H);
            add_into(db, db_scratch_.get(), V);
            break;
        case projection_backend::sgemm:
            if (dx) sgemm('N', 'N', rows_, hidden_, vocab_, dy, vocab_, w, hidden_, 0.f, dx, hidden_);
            sgemm('T', 'N', vocab_, hidden_, rows_, dy, vocab_, x, hidden_, 1.f, dw, hidden_);
            column_sums(db, dy, M, V);
            break;
    }
}

}  // namespace charlm::nn
