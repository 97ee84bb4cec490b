// Global-norm gradient clipping and the parameter updates (SGD, Adam) over a list of flat
// parameter buffers, with Adam's state exposed for checkpoints.
// Not here: zeroing the gradients (the model's zero_grad), the learning-rate schedule (train/).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "charlm/tensor.hpp"

namespace charlm::nn {

using charlm::param_view;  // {name, value, grad, count}: one per flat parameter buffer

// sqrt(sum of all grad^2), accumulated in double over fixed blocks whose partial sums are added
// in a fixed order: the same value for any OpenMP thread count. Not finite iff a gradient is not
// finite (float squares cannot overflow a double).
double global_norm(const std::vector<param_view>& params);

inline bool norm_is_finite(double norm) { return std::isfinite(norm); }

// g <- g * theta / norm when norm > theta (theta <= 0 disables clipping). `norm` is
// global_norm(params), passed in because the caller logs it anyway. A non-finite norm is left
// alone (the trainer stops on it). Returns whether the gradients were scaled.
bool clip_global_norm(const std::vector<param_view>& params, double theta, double norm);

enum class optimizer_kind { sgd, adam };

struct adam_config {
    float beta1 = 0.9f;
    float beta2 = 0.999f;
    float eps = 1e-8f;
};

// SGD: w -= lr g. Adam (Kingma & Ba, as PyTorch's torch.optim.Adam without weight decay), at
// step t = 1, 2, ...: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
// w -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps). State m, v (one per parameter buffer,
// zero at start) is allocated in the constructor; step() allocates nothing.
// Weight decay `wd` is decoupled (Loshchilov & Hutter, PyTorch's AdamW): w *= 1 - lr wd before the
// update, on every parameter; for SGD that is PyTorch's SGD weight_decay (L2) exactly.
class optimizer {
public:
    optimizer(optimizer_kind kind, std::vector<param_view> params, adam_config adam = {});

    void step(float lr, float weight_decay = 0.f);

    const std::vector<param_view>& buffers() const { return params_; }
    optimizer_kind kind() const { return kind_; }
    const adam_config& adam() const { return adam_; }

    // Steps taken so far (Adam's t after the last step). Restore it with the state.
    uint64_t step_count() const { return steps_; }
    void set_step_count(uint64_t steps) { steps_ = steps; }

    // The state for checkpoints, writable (to restore): for Adam
    // "optimizer.exp_avg.<param>" (m) and "optimizer.exp_avg_sq.<param>" (v), each `count` floats
    // in `value` like its parameter (no grad); empty for SGD.
    std::vector<param_view> state();

private:
    optimizer_kind kind_;
    std::vector<param_view> params_;
    adam_config adam_;
    uint64_t steps_ = 0;
    std::vector<std::vector<float>> m_, v_;  // per parameter, (count)
};

}  // namespace charlm::nn
