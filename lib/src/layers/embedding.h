// Input layers of the language model: the embedding lookup (gather rows of W, scatter-add the
// gradient back) and the one-hot rows used when there is no embedding (E = 0, input width V).
// Not here: the recurrent layers (dnnl/rnn_stack.h), the optimizer's update of W.
#pragma once

#include <cstddef>
#include <cstdint>

namespace charlm::nn {

// Letters: M rows (M = T*N, tnc row order), E embedding width, V vocabulary. Input ids are never
// negative (asserted); ids >= V are checked where V is known (backward, one-hot).

// out (M, E) = W (V, E) rows ids[r].
void embedding_forward(float* out, const float* W, const int32_t* ids, size_t M, size_t E);

// dW (V, E) += dout (M, E) rows scattered to ids[r]; a repeated id accumulates. Parallel over
// column slices of E, each slice adding rows in order r = 0..M-1, so the result is the serial
// loop's, bit for bit, for any thread count.
void embedding_backward(float* dW, const float* dout, const int32_t* ids, size_t M, size_t E, size_t V);

// out (M, V) = one-hot rows: 1 at ids[r], 0 elsewhere. Cheaper than "embedding with the identity"
// (it writes the same M*V floats but reads nothing); oneDNN's RNN still needs this dense input.
void one_hot_forward(float* out, const int32_t* ids, size_t M, size_t V);

}  // namespace charlm::nn
