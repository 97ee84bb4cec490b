// The output layer: logits = X W^T + b on oneDNN (matmul, inner_product or dnnl_sgemm), its
// backward with accumulating weight gradients, primitives built once per row count M.
// The master weight keeps PyTorch's nn.Linear layout W (V, H) "oi"; nothing is reordered.
// Not here: the softmax and loss (softmax_xent.h), the optimizer.
#pragma once

#include <map>
#include <memory>

#include <oneapi/dnnl/dnnl.hpp>

namespace charlm::nn {

// Three implementations of the same GEMMs, all oneDNN's JIT sgemm underneath. Measured with
// bench/bench_layers.cpp at M=1120, H=256 (forward + backward, ms, 1 / 2 threads):
//   V=65:   matmul 0.53 / 0.30, inner_product 0.54 / 0.30, sgemm 0.54 / 0.30
//   V=7000: matmul 65 / 32.5,   inner_product 57 / 29.8,   sgemm 57.5 / 29.2
// matmul's backward is ~15% slower; sgemm ties inner_product and needs no primitives and no
// scratch, so it is the default.
enum class projection_backend { matmul, inner_product, sgemm };

// Letters: M rows (M = T*N), H input width (hidden), V outputs (vocabulary).
class projection {
public:
    projection(const dnnl::engine& eng, dnnl::stream& strm, int hidden, int vocab,
               projection_backend backend = projection_backend::sgemm);
    ~projection();
    projection(projection&&) noexcept;
    projection& operator=(projection&&) noexcept;
    projection(const projection&) = delete;
    projection& operator=(const projection&) = delete;

    // Selects M for the calls that follow; builds the primitives the first time M is seen.
    void prepare(int rows);

    // y (M, V) = x (M, H) · w (V, H)^T + b (V).
    void forward(float* y, const float* x, const float* w, const float* b);

    // dx (M, H) = dy (M, V) · w          OVERWRITTEN (skipped when dx is null)
    // dw (V, H) += dy^T · x              accumulated, like every gradient
    // db (V)    += column sums of dy     accumulated (summed in double over the M rows)
    // x must be the forward's input, dy the gradient of the loss w.r.t. its y.
    void backward(float* dx, float* dw, float* db, const float* dy, const float* x, const float* w);

    int rows() const { return rows_; }
    int hidden() const { return hidden_; }
    int vocab() const { return vocab_; }
    projection_backend backend() const { return backend_; }
    // Primitives built since construction: constant in the steady state (known M).
    size_t primitives_built() const { return built_; }

private:
    struct shape;  // primitives and memory objects for one M
    shape& build(int rows);

    dnnl::engine eng_;
    dnnl::stream strm_;
    int hidden_, vocab_;
    projection_backend backend_;
    int rows_ = 0;
    std::map<int, std::unique_ptr<shape>> shapes_;  // key M
    shape* current_ = nullptr;
    size_t built_ = 0;
    // inner_product only: its backward-weights primitive overwrites, so it writes here first.
    std::unique_ptr<float[]> dw_scratch_;  // (V, H)
    std::unique_ptr<float[]> db_scratch_;  // (V)
};

}  // namespace charlm::nn
