// Adaptive softmax (see adaptive_softmax.h): the head and each cluster are two dnnl_sgemm calls
// forward and three or four backward, around the fused softmax cross-entropy of softmax_xent.h.
// Rows are grouped by cluster with a stable counting sort, so row order (and with it every sum of
// ours) is the same for any thread count; the matrix products are oneDNN's, whose last bits depend
// on the thread count on some CPUs (tests/adaptive_softmax_test.cpp probes it).
#include "layers/adaptive_softmax.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/gemm.h"
#include "charlm/model_config.hpp"
#include "charlm/random.hpp"
#include "charlm/status.hpp"
#include "layers/softmax_xent.h"

namespace charlm::nn {

namespace {

// Rows go parallel only when the work pays for the OpenMP fork/join.
constexpr size_t k_parallel_min = size_t{1} << 15;
constexpr size_t k_max_clusters = 64;

}  // namespace

std::vector<int> adaptive_softmax::tail_widths(int hidden, size_t clusters, float div_value) {
    std::vector<int> p(clusters);
    for (size_t k = 0; k < clusters; ++k)
        p[k] = static_cast<int>(adaptive_tail_width(static_cast<uint32_t>(hidden), div_value, k));
    return p;
}

adaptive_softmax::adaptive_softmax(int hidden, int vocab, std::vector<uint32_t> cutoffs, float div_value)
    : H_(hidden), V_(vocab), bounds_(std::move(cutoffs)) {
    CHARLM_ASSERT(!bounds_.empty() && bounds_.size() <= k_max_clusters && bounds_[0] > 0);
    for (size_t k = 1; k < bounds_.size(); ++k) CHARLM_ASSERT(bounds_[k] > bounds_[k - 1]);
    CHARLM_ASSERT(bounds_.back() < static_cast<uint32_t>(V_));
    K_ = static_cast<int>(bounds_.size());
    bounds_.push_back(static_cast<uint32_t>(V_));
    S_ = static_cast<int>(bounds_[0]) + K_;
    P_ = tail_widths(H_, static_cast<size_t>(K_), div_value);
    const auto take = [&](std::string name, std::vector<int64_t> shape) {
        const size_t n = static_cast<size_t>(shape_numel(shape));
        tensors_.push_back({std::move(name), std::move(shape), region_floats_, n});
        region_floats_ += (n + 15) / 16 * 16;
    };
    take("head.weight", {S_, H_});
    take("head.bias", {S_});
    for (int k = 0; k < K_; ++k) {
        CHARLM_ASSERT(P_[k] >= 1);
        const int64_t O = bounds_[k + 1] - bounds_[k];
        take("tail." + std::to_string(k) + ".0.weight", {P_[k], H_});
        take("tail." + std::to_string(k) + ".1.weight", {O, P_[k]});
    }
    own_w_.assign(region_floats_, 0.f);
    own_g_.assign(region_floats_, 0.f);
    bind(own_w_.data(), own_g_.data());
}

void adaptive_softmax::bind(float* values, float* grads) {
    values_ = values;
    grads_ = grads;
    const auto at = [&](float* base, size_t i) { return fspan{base + tensors_[i].offset, tensors_[i].count}; };
    head_w_ = at(values, 0);
    head_wg_ = at(grads, 0);
    head_b_ = at(values, 1);
    head_bg_ = at(grads, 1);
    proj_w_.clear(), proj_g_.clear(), out_w_.clear(), out_g_.clear();
    for (size_t k = 0; k < static_cast<size_t>(K_); ++k) {
        proj_w_.push_back(at(values, 2 + 2 * k));
        proj_g_.push_back(at(grads, 2 + 2 * k));
        out_w_.push_back(at(values, 3 + 2 * k));
        out_g_.push_back(at(grads, 3 + 2 * k));
    }
}

void adaptive_softmax::place_values(float* values) {
    std::copy(values_, values_ + region_floats_, values);
    bind(values, grads_);
    own_w_ = {};
}

void adaptive_softmax::place_grads(float* grads) {
    bind(values_, grads);  // not copied: the region a training session held before may be gone
    own_g_ = {};
}

void adaptive_softmax::init_uniform(uint64_t seed) {
    uint64_t s = seed;
    const float a = 1.0f / std::sqrt(static_cast<float>(H_));
    for (float& w : head_w_) w = uniform_pm(s, a);
    for (float& b : head_b_) b = uniform_pm(s, a);
    for (int k = 0; k < K_; ++k) {
        for (float& w : proj_w_[k]) w = uniform_pm(s, a);
        const float ao = 1.0f / std::sqrt(static_cast<float>(P_[k]));
        for (float& w : out_w_[k]) w = uniform_pm(s, ao);
    }
}

void adaptive_softmax::prepare(scratch& sc, size_t rows) const {
    if (rows <= sc.rows_) return;
    sc.rows_ = rows;
    const size_t H = static_cast<size_t>(H_);
    size_t maxP = 1, maxO = 1;
    for (int k = 0; k < K_; ++k) {
        maxP = std::max(maxP, static_cast<size_t>(P_[k]));
        maxO = std::max<size_t>(maxO, bounds_[k + 1] - bounds_[k]);
    }
    sc.head_.resize(rows * static_cast<size_t>(S_));
    sc.head_target_.resize(rows);
    sc.order_.resize(rows);
    sc.local_.resize(rows);
    sc.xk_.resize(rows * H);
    sc.dxk_.resize(rows * H);
    sc.pk_.resize(rows * maxP);
    sc.dpk_.resize(rows * maxP);
    sc.lk_.resize(rows * maxO);
    sc.row_tmp_.resize(rows);
}

std::vector<param_view> adaptive_softmax::params() const {
    std::vector<param_view> out;
    for (const auto& t : tensors_) out.push_back({t.name, values_ + t.offset, grads_ + t.offset, t.count});
    return out;
}

void adaptive_softmax::zero_grad() {
    std::fill(head_wg_.begin(), head_wg_.end(), 0.f);
    std::fill(head_bg_.begin(), head_bg_.end(), 0.f);
    for (auto& g : proj_g_) std::fill(g.begin(), g.end(), 0.f);
    for (auto& g : out_g_) std::fill(g.begin(), g.end(), 0.f);
}

namespace {

// The head target of each row, and the rows of every cluster grouped (stable) in `order` with
// their targets within the cluster in `local`; offsets (K + 1) delimit the groups.
void group_rows(const std::vector<uint32_t>& bounds, int K, const int32_t* targets, size_t M,
                            int32_t* head_target, int32_t* order, int32_t* local, size_t* offsets) {
    const uint32_t c0 = bounds[0];
    std::fill(offsets, offsets + K + 1, 0);
    for (size_t r = 0; r < M; ++r) {
        const int32_t t = targets[r];
        if (t < 0) {
            head_target[r] = -1;
            continue;
        }
        CHARLM_ASSERT(static_cast<uint32_t>(t) < bounds[static_cast<size_t>(K)]);
        if (static_cast<uint32_t>(t) < c0) {
            head_target[r] = t;
            continue;
        }
        const auto k = static_cast<size_t>(std::upper_bound(bounds.begin(), bounds.end(), static_cast<uint32_t>(t)) -
                                           bounds.begin()) - 1;
        head_target[r] = static_cast<int32_t>(c0 + k);
        ++offsets[k + 1];
    }
    for (int k = 0; k < K; ++k) offsets[k + 1] += offsets[k];
    size_t at[k_max_clusters];
    std::copy(offsets, offsets + K, at);
    for (size_t r = 0; r < M; ++r) {
        const int32_t t = targets[r];
        if (t < 0 || static_cast<uint32_t>(t) < c0) continue;
        const size_t k = static_cast<size_t>(head_target[r]) - c0;
        order[at[k]] = static_cast<int32_t>(r);
        local[at[k]] = static_cast<int32_t>(static_cast<uint32_t>(t) - bounds[k]);
        ++at[k];
    }
}

void head_logits(float* head, const float* x, const float* w, const float* b, size_t M, size_t S, size_t H) {
    for (size_t r = 0; r < M; ++r) std::memcpy(head + r * S, b, S * sizeof(float));
    sgemm('N', 'T', M, S, H, x, H, w, H, 1.f, head, S);
}

}  // namespace

// The f32 product `which` (see log_prob_with) of m rows `in` into y (row stride ldy).
void adaptive_softmax::f32_product(int which, float* y, size_t ldy, const float* in, size_t m) const {
    const size_t H = static_cast<size_t>(H_), S = static_cast<size_t>(S_);
    if (which == 0) {
        CHARLM_ASSERT(ldy == S);
        head_logits(y, in, head_w_.data(), head_b_.data(), m, S, H);
        return;
    }
    const int k = (which - 1) / 2;
    const size_t P = static_cast<size_t>(P_[k]), O = bounds_[k + 1] - bounds_[k];
    if (which % 2 == 1) {
        sgemm('N', 'T', m, P, H, in, H, proj_w_[k].data(), H, 0.f, y, ldy);  // p = x W_p^T
    } else {
        sgemm('N', 'T', m, O, P, in, P, out_w_[k].data(), P, 0.f, y, ldy);  // l = p W_o^T
    }
}

// Cluster k's logits lk_ (Mk, O_k) for the rows `rows` of x, gathered into xk_ through pk_ (Mk, P_k).
template <class Linear>
void adaptive_softmax::cluster_logits(scratch& sc, int k, const float* x, const int32_t* rows, size_t Mk,
                                      Linear&& lin) const {
    const size_t H = static_cast<size_t>(H_), P = static_cast<size_t>(P_[k]), O = bounds_[k + 1] - bounds_[k];
    for (size_t i = 0; i < Mk; ++i)
        std::memcpy(sc.xk_.data() + i * H, x + static_cast<size_t>(rows[i]) * H, H * sizeof(float));
    lin(1 + 2 * k, sc.pk_.data(), P, sc.xk_.data(), Mk);
    lin(2 + 2 * k, sc.lk_.data(), O, sc.pk_.data(), Mk);
}

double adaptive_softmax::forward_backward(float* dx, const float* x, const int32_t* targets, size_t M, float scale,
                                          uint64_t* counted) {
    scratch& sc = own_;
    CHARLM_ASSERT(M <= sc.rows_);
    const size_t H = static_cast<size_t>(H_), S = static_cast<size_t>(S_);
    size_t offsets[k_max_clusters + 1];
    group_rows(bounds_, K_, targets, M, sc.head_target_.data(), sc.order_.data(), sc.local_.data(), offsets);
    // head: forward, fused softmax + loss + gradient, backward
    head_logits(sc.head_.data(), x, head_w_.data(), head_b_.data(), M, S, H);
    double total = softmax_xent_forward_backward(sc.head_.data(), sc.head_target_.data(), M, S, scale, counted);
    sgemm('N', 'N', M, H, S, sc.head_.data(), S, head_w_.data(), H, 0.f, dx, H);               // dx = dhead W_h
    sgemm('T', 'N', S, H, M, sc.head_.data(), S, x, H, 1.f, head_wg_.data(), H);               // dW_h += dhead^T x
    column_sums(head_bg_.data(), sc.head_.data(), M, S);                       // db_h += col sums
    // clusters: only the rows whose target is in them
    for (int k = 0; k < K_; ++k) {
        const size_t first = offsets[k], Mk = offsets[k + 1] - first;
        if (Mk == 0) continue;
        const size_t P = static_cast<size_t>(P_[k]), O = bounds_[k + 1] - bounds_[k];
        const int32_t* rows = sc.order_.data() + first;
        cluster_logits(sc, k, x, rows, Mk, f32());
        total += softmax_xent_forward_backward(sc.lk_.data(), sc.local_.data() + first, Mk, O, scale);
        sgemm('T', 'N', O, P, Mk, sc.lk_.data(), O, sc.pk_.data(), P, 1.f, out_g_[k].data(), P);   // dW_o += dl^T p
        sgemm('N', 'N', Mk, P, O, sc.lk_.data(), O, out_w_[k].data(), P, 0.f, sc.dpk_.data(), P);  // dp = dl W_o
        sgemm('T', 'N', P, H, Mk, sc.dpk_.data(), P, sc.xk_.data(), H, 1.f, proj_g_[k].data(), H); // dW_p += dp^T x
        sgemm('N', 'N', Mk, H, P, sc.dpk_.data(), P, proj_w_[k].data(), H, 0.f, sc.dxk_.data(), H); // dx_k = dp W_p
        for (size_t i = 0; i < Mk; ++i) {
            float* d = dx + static_cast<size_t>(rows[i]) * H;
            const float* s = sc.dxk_.data() + i * H;
            for (size_t j = 0; j < H; ++j) d[j] += s[j];
        }
    }
    return total;
}

template <class Linear>
double adaptive_softmax::nll_with(scratch& sc, float* row_nll, const float* x, const int32_t* targets, size_t M,
                                  uint64_t* counted, Linear&& lin) const {
    CHARLM_ASSERT(M <= sc.rows_);
    const size_t S = static_cast<size_t>(S_);
    size_t offsets[k_max_clusters + 1];
    group_rows(bounds_, K_, targets, M, sc.head_target_.data(), sc.order_.data(), sc.local_.data(), offsets);
    lin(0, sc.head_.data(), S, x, M);
    double total = softmax_xent_nll(row_nll, sc.head_.data(), sc.head_target_.data(), M, S, counted);
    for (int k = 0; k < K_; ++k) {
        const size_t first = offsets[k], Mk = offsets[k + 1] - first;
        if (Mk == 0) continue;
        const size_t O = bounds_[k + 1] - bounds_[k];
        const int32_t* rows = sc.order_.data() + first;
        cluster_logits(sc, k, x, rows, Mk, lin);
        total += softmax_xent_nll(sc.row_tmp_.data(), sc.lk_.data(), sc.local_.data() + first, Mk, O);
        for (size_t i = 0; i < Mk; ++i) row_nll[rows[i]] += sc.row_tmp_[i];
    }
    return total;
}

double adaptive_softmax::nll(scratch& sc, float* row_nll, const float* x, const int32_t* targets, size_t M,
                             uint64_t* counted) const {
    return nll_with(sc, row_nll, x, targets, M, counted, f32());
}

double adaptive_softmax::nll(scratch& sc, float* row_nll, const float* x, const int32_t* targets, size_t M,
                             const quantized& q, qscratch& qs) const {
    return nll_with(sc, row_nll, x, targets, M, nullptr, reduced(q, qs));
}

// The full distribution from the products `lin(which, y, ldy, in, M)`: which 0 the head (with its
// bias), 1 + 2k cluster k's bottleneck, 2 + 2k its output; f32 or int8 weights alike.
template <class Linear>
void adaptive_softmax::log_prob_with(scratch& sc, float* out, const float* x, size_t M, Linear&& lin) const {
    CHARLM_ASSERT(M <= sc.rows_);
    const size_t S = static_cast<size_t>(S_), V = static_cast<size_t>(V_);
    const size_t c0 = bounds_[0];
    lin(0, sc.head_.data(), S, x, M);
    const auto rows = static_cast<ptrdiff_t>(M);
#pragma omp parallel for schedule(static) if (M * S >= k_parallel_min)
    for (ptrdiff_t r = 0; r < rows; ++r) {
        float* h = sc.head_.data() + static_cast<size_t>(r) * S;
        log_softmax(h, h, S);
        std::memcpy(out + static_cast<size_t>(r) * V, h, c0 * sizeof(float));
    }
    for (int k = 0; k < K_; ++k) {
        const size_t P = static_cast<size_t>(P_[k]), O = bounds_[k + 1] - bounds_[k], ck = bounds_[k];
        lin(1 + 2 * k, sc.pk_.data(), P, x, M);
        lin(2 + 2 * k, out + ck, V, sc.pk_.data(), M);  // into the slice
#pragma omp parallel for schedule(static) if (M * O >= k_parallel_min)
        for (ptrdiff_t r = 0; r < rows; ++r) {
            float* o = out + static_cast<size_t>(r) * V + ck;
            log_softmax(o, o, O);
            const float lp = sc.head_[static_cast<size_t>(r) * S + c0 + static_cast<size_t>(k)];
            for (size_t i = 0; i < O; ++i) o[i] += lp;
        }
    }
}

void adaptive_softmax::log_prob(scratch& sc, float* out, const float* x, size_t M) const {
    log_prob_with(sc, out, x, M, f32());
}

adaptive_softmax::quantized adaptive_softmax::quantize(bool bf16) const {
    const auto make = bf16 ? bf16_linear : quantize_linear;
    quantized q;
    q.linear.push_back(make(head_w_.data(), head_b_.data(), S_, H_));
    for (int k = 0; k < K_; ++k) {
        const int O = static_cast<int>(bounds_[k + 1] - bounds_[k]);
        q.linear.push_back(make(proj_w_[k].data(), nullptr, P_[k], H_));
        q.linear.push_back(make(out_w_[k].data(), nullptr, O, P_[k]));
    }
    return q;
}

void adaptive_softmax::log_prob(scratch& sc, float* out, const float* x, size_t M, const quantized& q,
                                qscratch& qs) const {
    log_prob_with(sc, out, x, M, reduced(q, qs));
}

}  // namespace charlm::nn
