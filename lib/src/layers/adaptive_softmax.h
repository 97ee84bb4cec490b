// Adaptive softmax (Grave et al. 2017, "Efficient softmax approximation for GPUs"), laid out as
// PyTorch's nn.AdaptiveLogSoftmaxWithLoss(H, V, cutoffs, div_value, head_bias=True) so that a
// model file loads into it by name. The vocabulary must be sorted by frequency (charlm's is).
//
//   head:      logits (M, S) = x W_h^T + b_h, S = c_0 + K: the c_0 most frequent tokens, then one
//              entry per tail cluster.
//   cluster k: tokens [c_k, c_{k+1}); logits (M_k, O_k) = (x W_pk^T) W_ok^T, a bottleneck of width
//              P_k = H / div^(k+1), no biases.
//   log p(t) = log softmax(head)[t] for t < c_0, else log softmax(head)[c_0 + k]
//              + log softmax(cluster k)[t - c_k].
//
// Training and validation only evaluate a row's own cluster, which is what makes it fast when
// the frequent head covers most of the text; the full distribution (sampling, logits export)
// costs as much as the plain softmax.
// Not here: the full softmax (projection.h + softmax_xent.h), the optimizer, the file format.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "charlm/tensor.hpp"
#include "layers/qgemm.h"

namespace charlm::nn {

class adaptive_softmax {
public:
    // cutoffs: strictly increasing, 0 < c_0, c_last < V (V is appended). Widths P_k >= 1.
    adaptive_softmax(int hidden, int vocab, std::vector<uint32_t> cutoffs, float div_value);
    adaptive_softmax(const adaptive_softmax&) = delete;  // its tensors point into its regions
    adaptive_softmax& operator=(const adaptive_softmax&) = delete;

    // Work space of the calls below, grown (never shrunk) by prepare() for up to `rows` rows. The
    // weights are only read by nll() and log_prob(): sessions on other threads, each with its own
    // scratch, may call them at once. The overloads without a scratch use the object's own.
    struct scratch {
        size_t rows_ = 0;
        std::vector<float> head_;           // (M, S) logits, then their gradient
        std::vector<int32_t> head_target_;  // (M)
        std::vector<int32_t> order_;        // (M) row indices grouped by cluster
        std::vector<int32_t> local_;        // (M) target within its cluster, in order_'s order
        std::vector<float> xk_, pk_, lk_, dpk_, dxk_;  // gathered rows, bottleneck, cluster logits, grads
        std::vector<float> row_tmp_;        // (M)
    };
    void prepare(scratch& sc, size_t rows) const;
    void prepare(size_t rows) { prepare(own_, rows); }

    // U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for every weight and the head bias (nn.Linear's).
    void init_uniform(uint64_t seed);

    // Training: returns the summed NLL of the counted rows (target >= 0), their number in
    // *counted. dx (M, H) is OVERWRITTEN with the gradient of scale * summed NLL w.r.t. x;
    // parameter gradients are ACCUMULATED. x must stay valid during the call.
    double forward_backward(float* dx, const float* x, const int32_t* targets, size_t M, float scale,
                            uint64_t* counted = nullptr);

    // Evaluation: row_nll (M) = -log p(target), 0 for ignored rows. Returns their sum (double).
    double nll(scratch& sc, float* row_nll, const float* x, const int32_t* targets, size_t M,
               uint64_t* counted = nullptr) const;
    double nll(float* row_nll, const float* x, const int32_t* targets, size_t M, uint64_t* counted = nullptr) {
        return nll(own_, row_nll, x, targets, M, counted);
    }

    // The full distribution: out (M, V) = log p(v | x) for every v (normalized: logsumexp = 0).
    void log_prob(scratch& sc, float* out, const float* x, size_t M) const;
    void log_prob(float* out, const float* x, size_t M) { log_prob(own_, out, x, M); }
    // The same on int8 or bf16 copies of every weight (qgemm.h), made once from the f32 values by
    // quantize(): linear[0] the head, then per cluster k its bottleneck (1 + 2k) and output (2 + 2k).
    struct quantized {
        std::vector<qlinear> linear;
    };
    quantized quantize(bool bf16) const;
    void log_prob(scratch& sc, float* out, const float* x, size_t M, const quantized& q, qscratch& qs) const;
    double nll(scratch& sc, float* row_nll, const float* x, const int32_t* targets, size_t M, const quantized& q,
               qscratch& qs) const;

    // Values and gradients each live in one region of region_floats() floats, tensors() in order,
    // each on a 64-byte line. Own regions until place_values() / place_grads() move them (contents
    // included) into the caller's: slices of the model's parameter arena and of the training
    // session's gradient arena. Names are PyTorch's under the module's prefix ("head.weight",
    // "tail.0.1.weight"); offsets are into a region: values() + offset, grads() + offset.
    const std::vector<tensor_desc>& tensors() const { return tensors_; }
    float* values() const { return values_; }
    float* grads() const { return grads_; }
    std::vector<param_view> params() const;  // tensors() as {name, value, grad, count}
    void zero_grad();
    size_t region_floats() const { return region_floats_; }
    void place_values(float* values);
    void place_grads(float* grads);

    int hidden() const { return H_; }
    int vocab() const { return V_; }
    int head_size() const { return S_; }
    int clusters() const { return K_; }
    const std::vector<uint32_t>& bounds() const { return bounds_; }  // c_0 .. c_{K-1}, V
    int tail_width(int k) const { return P_[k]; }

    // The bottleneck widths PyTorch gives the tails: floor(H / div^(k+1)).
    static std::vector<int> tail_widths(int hidden, size_t clusters, float div_value);

private:
    // The products of the head (which 0) and of cluster k's bottleneck (1 + 2k) and output (2 + 2k),
    // lin(which, y, ldy, in, m), in f32, int8 or bf16: every routine below is written once for all.
    void f32_product(int which, float* y, size_t ldy, const float* in, size_t m) const;
    auto f32() const {
        return [this](int which, float* y, size_t ldy, const float* in, size_t m) { f32_product(which, y, ldy, in, m); };
    }
    static auto reduced(const quantized& q, qscratch& qs) {
        return [&q, &qs](int which, float* y, size_t ldy, const float* in, size_t m) {
            qlinear_forward(y, ldy, in, m, q.linear[static_cast<size_t>(which)], qs);
        };
    }
    template <class Linear>
    void log_prob_with(scratch& sc, float* out, const float* x, size_t M, Linear&& lin) const;
    template <class Linear>
    double nll_with(scratch& sc, float* row_nll, const float* x, const int32_t* targets, size_t M, uint64_t* counted,
                    Linear&& lin) const;
    template <class Linear>
    void cluster_logits(scratch& sc, int k, const float* x, const int32_t* rows, size_t Mk, Linear&& lin) const;

    int H_, V_, S_, K_;
    std::vector<uint32_t> bounds_;  // K + 1 entries: c_0, ..., c_{K-1}, V
    std::vector<int> P_;            // bottleneck widths (K)

    // A tensor's floats in a region (the object's own, or the caller's after place()).
    struct fspan {
        float* p = nullptr;
        size_t n = 0;
        float* data() const { return p; }
        size_t size() const { return n; }
        float* begin() const { return p; }
        float* end() const { return p + n; }
    };
    void bind(float* values, float* grads);
    std::vector<tensor_desc> tensors_;  // in region order
    size_t region_floats_ = 0;
    std::vector<float> own_w_, own_g_;  // the regions until place()
    float *values_ = nullptr, *grads_ = nullptr;
    fspan head_w_, head_b_, head_wg_, head_bg_;  // (S, H), (S)
    std::vector<fspan> proj_w_, proj_g_;         // per k: (P_k, H)
    std::vector<fspan> out_w_, out_g_;           // per k: (O_k, P_k)

    scratch own_;                   // training's, and the overloads' without a scratch
};

}  // namespace charlm::nn
