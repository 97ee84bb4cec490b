// L stacked recurrent layers of one cell type (RNN tanh/relu, GRU, LBR-GRU, LSTM) on oneDNN 2.6 RNN
// primitives: training forward, inference forward, truncated-BPTT backward, state carry between
// consecutive batches, inverted dropout between layers.
// Not here: embedding, output layer, optimizer (layers/), the double reference (tests/reference/rnn_ref.h).
// Gate order is oneDNN's: LSTM i, f, c~, o; GRU and LBR-GRU u, r, o; LBR-GRU bias u, r, o, u'.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "charlm/model_config.hpp"

namespace charlm::nn {

// Letters as oneDNN's: T steps, N batch, I input width of layer 0, H hidden width, L layers,
// G gates (gate_count), Gb bias rows (bias_gate_count).
//
// Layers are split into groups, each ONE set of oneDNN primitives (forward training, forward
// inference, backward): one group per layer when dropout > 0; otherwise layer 0 alone when I != H
// (oneDNN needs input width == H for a multi-layer primitive) and layers 1..L-1 together.
//
// Call order for training: prepare(T, N); [reset_state() | carry_state()]; forward_training(x);
// backward(dy); then the optimizer over params(). The backward pass reads the forward's buffers
// (input, output, initial and final state), so nothing may write them in between: the caller keeps
// `src` unchanged, and forward_inference(), prepare() with another shape or writing initial_h()
// between forward_training() and backward() is not allowed (backward() asserts the first two).
class rnn_stack {
public:
    rnn_stack(const dnnl::engine& eng, dnnl::stream& strm, cell_type cell, int layers, int input,
              int hidden, float dropout = 0.f, uint64_t dropout_seed = 0);
    ~rnn_stack();
    rnn_stack(rnn_stack&&) noexcept;
    rnn_stack& operator=(rnn_stack&&) noexcept;
    rnn_stack(const rnn_stack&) = delete;
    rnn_stack& operator=(const rnn_stack&) = delete;

    // Builds the primitives and buffers for (T, N) on first use, then reuses them.
    void prepare(int steps, int batch);

    // src (T, N, I) tnc. Returns the top layer's output (T, N, H) tnc, owned here and valid until
    // the next forward. Training keeps `src` referenced until backward().
    const float* forward_training(const float* src);
    // No workspace, no dropout. Same state handling as training: reads the initial state, writes
    // the final state; carry_state() chains calls (e.g. T = 1 for sampling).
    const float* forward_inference(const float* src);

    // Generation, T = 1 with the state carried from step to step. begin_generation() zeroes the
    // state of batch N and freezes a copy of the weights in the layouts oneDNN chooses for
    // inference at (1, N) (LSTM 256, N = 1: 18 us a step instead of 23 us in training's layout);
    // generation_step() runs on that copy until the next begin_generation(), so weights written
    // in between are not seen. A step's inputs are rows of `input_rows` (rows x I, e.g. the
    // embedding table; null: one-hot, rows == I), picked by id; the table must stay valid until
    // the last step. Folding: with N = 1, layer 0 alone in its group, rows <= 4 I (the table no
    // larger than 4 copies of layer 0's input weights) and rows x I x G x H <= 2^26 multiply-adds
    // to build it (one-hot: none), W_x x + b of layer 0 is precomputed
    // for every row (in double) and given to the primitive as the step's bias, with a zero input
    // of width 1, so a step does not read layer 0's input weights at all (LSTM 256, E 64: 14 us).
    void begin_generation(int batch, const float* input_rows, int rows);
    // ids (N), each < rows. Returns the top layer's output (N, H), valid until the next step.
    const float* generation_step(const int32_t* ids);
    bool generation_folded() const;  // after begin_generation(): whether layer 0 is folded

    // diff_dst (T, N, H) tnc. Adds (+=) into the parameter gradients and overwrites diff_src
    // (T, N, I) tnc unless null, and diff_initial_h/c. Truncated BPTT: the gradient reaching the
    // final state is zero. Needs a forward_training() of the same shape just before.
    void backward(const float* diff_dst, float* diff_src);
    void zero_grad();

    // One state per batch size N seen, all (L, N, H) ldnc (cell state for LSTM); the accessors
    // and carry_state() act on the prepared N. reset_state(): the next forward of every N starts
    // from zeros. carry_state(): the next forward starts from the last forward's final state (of
    // either kind). Otherwise the initial state stays as it is, and may be written.
    void reset_state();
    void carry_state();
    float* initial_h();
    float* initial_c();  // null unless LSTM
    const float* final_h() const;
    const float* final_c() const;
    const float* diff_initial_h() const;  // after backward
    const float* diff_initial_c() const;

    // A parameter tensor over its whole buffer, padding included; padding elements of value and
    // grad are zero and stay zero, so element-wise updates and norms may run over `count`.
    struct param {
        std::string name;
        float* value;
        float* grad;
        size_t count;
    };
    std::vector<param> params();

    // Dense user layout of layer l (save/load/tests): w_x (I_l, G, H) igo with I_0 = I, I_l = H
    // otherwise; w_h (H, G, H) igo; bias (Gb, H).
    void get_layer(int l, float* w_x, float* w_h, float* bias) const;
    void set_layer(int l, const float* w_x, const float* w_h, const float* bias);
    void get_layer_grad(int l, float* dw_x, float* dw_h, float* dbias) const;
    // All weights and biases U(-1/sqrt(H), 1/sqrt(H)) from a counter-based generator (independent
    // of grouping and padding); then the LSTM forget-gate bias is set to 1.
    void init_uniform(uint64_t seed);

    // Dropout mask applied to layer l's output (l < L-1) in the last forward_training():
    // (T, N, H), each element 0 or 1/(1-p). Null when dropout is 0. For tests and diagnostics.
    const float* dropout_mask(int l) const;
    // Training forwards run so far: the dropout masks are a pure function of (seed, this count,
    // group, element), so a checkpoint restores the mask sequence by restoring the count.
    uint64_t dropout_calls() const { return dropout_calls_; }
    void set_dropout_calls(uint64_t n) { dropout_calls_ = n; }

    // Counts of primitives (incl. reorders) built and buffers allocated since construction: they
    // must not move in the steady state of prepare (known shape), forward, backward, zero_grad.
    struct build_stats {
        size_t primitives = 0;
        size_t buffers = 0;
    };
    const build_stats& stats() const { return stats_; }

    cell_type cell() const { return cell_; }
    int layers() const { return layers_; }
    int input() const { return input_; }
    int hidden() const { return hidden_; }
    int group_count() const { return static_cast<int>(groups_.size()); }

private:
    struct group;        // shape-independent: master weights, grads, backward weights
    struct shape_group;  // one group at one (T, N): primitives, workspace, activations
    struct shape;        // all groups at one (T, N)
    struct state_set;    // initial/final states for one N
    struct gen_session;  // generation at one (N, rows): primitives, frozen weights

    shape& current() const;
    state_set& states_for(int batch);
    void apply_pending_reset(state_set& st);
    void bind_states(shape& s, int g, int from, int to);
    // Points one group's state memories at states h/c[from] (initial) and h/c[to] (final) of st,
    // starting at the group's first layer (`off` floats in).
    void bind_iter(dnnl::memory& src_iter, dnnl::memory& dst_iter, dnnl::memory& src_iter_c,
                   dnnl::memory& dst_iter_c, const state_set& st, size_t off, int from, int to) const;
    void make_dropout_masks(shape& s);
    std::pair<int, int> find_layer(int l) const;  // (group, index within group)
    float* alloc(size_t count);                   // zeroed, 64-byte aligned, owned by `owned_`

    dnnl::engine eng_;
    dnnl::stream strm_;
    cell_type cell_;
    int layers_, input_, hidden_;
    float dropout_;
    uint64_t dropout_seed_;
    uint64_t dropout_calls_ = 0;

    std::vector<std::unique_ptr<group>> groups_;
    std::map<std::pair<int, int>, std::unique_ptr<shape>> shapes_;  // key (T, N)
    std::map<int, std::unique_ptr<state_set>> states_;               // key N
    shape* current_ = nullptr;
    // Key (N, rows, OpenMP threads): oneDNN's brgemm RNN plans its work for the thread count at
    // creation, and a session built on 1 thread then runs slower on 2 (LSTM 512, 32 rows: 65k
    // instead of 100k char/s).
    std::map<std::tuple<int, int, int>, std::unique_ptr<gen_session>> gen_;
    gen_session* gen_cur_ = nullptr;

    // The training forward whose backward is pending: its shape, initial-state parity and input.
    shape* pending_ = nullptr;
    int pending_from_ = 0;
    const float* pending_src_ = nullptr;

    struct free_deleter {
        void operator()(float* p) const;
    };
    std::vector<std::unique_ptr<float, free_deleter>> owned_;
    build_stats stats_;
};

}  // namespace charlm::nn
