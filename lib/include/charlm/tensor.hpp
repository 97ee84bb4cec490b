// The three ways charlm names a tensor, one type each:
//   tensor_desc   where a tensor lives in an arena (the model's parameters, the session's gradients,
//                 Adam's moments: buffers of one layout) — name, logical shape, offset, floats;
//   param_view    a flat float buffer as element-wise loops see it (optimizer, clipping, finite check);
//   named_tensor  a tensor's values with its name and shape, row-major, as model files store them.
// Names are the files' (PyTorch's): embedding.weight, rnn.weight_ih_l0, decoder.weight, ...
// Not here: the arenas themselves (models/lm_impl.h), the file format (io/safetensors.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace charlm {

inline uint64_t shape_numel(const std::vector<int64_t>& shape) {
    uint64_t n = 1;
    for (int64_t d : shape) n *= static_cast<uint64_t>(d);
    return n;
}

// One tensor in an arena: its name and logical shape as in model files, where it starts and how
// many floats it takes there (oneDNN's layout, padding included). A recurrent layer's bias_ih
// slice holds PyTorch's bias_ih + bias_hh (what the cell adds; LBR-GRU: and b_hn apart, shape 4H),
// so bias_hh has no slice of its own.
struct tensor_desc {
    std::string name;
    std::vector<int64_t> shape;
    size_t offset = 0;
    size_t count = 0;

    uint64_t numel() const { return shape_numel(shape); }  // logical values: the product of the shape
};

// A buffer as element-wise loops see it: `count` floats of value and, for a parameter, of its
// gradient (nullptr where there is none, e.g. an optimizer's moment). Padding stays zero in both.
struct param_view {
    std::string name;
    float* value;
    float* grad;
    size_t count;
};

// A tensor's values in PyTorch's layout and naming, row-major float32.
struct named_tensor {
    std::string name;
    std::vector<int64_t> shape;
    std::vector<float> data;

    size_t numel() const { return static_cast<size_t>(shape_numel(shape)); }
};

}  // namespace charlm
