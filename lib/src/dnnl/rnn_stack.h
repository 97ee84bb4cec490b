// L stacked recurrent layers of one cell type (RNN tanh/relu, GRU, LBR-GRU, LSTM) on oneDNN 2.6 RNN
// primitives: the weights (rnn_weights) apart from the sessions that run them: training and
// evaluation (rnn_stack: forward, truncated-BPTT backward, state carry, inverted dropout between
// layers) and generation (rnn_generator: one step at a time on the weights' generation cache).
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
#include "charlm/tensor.hpp"

namespace charlm::nn {

struct rnn_mds;  // rnn_primitives.h

// Inverted-dropout mask (0 with probability p, else 1/(1-p)) for a (steps, N, width) tensor whose
// rows are streams first .. first + N - 1 of a batch of `global` streams (0: N), from (seed, call,
// slot, element of the whole batch): the same for any split of the batch and any thread count.
void fill_dropout_mask(float* mask, size_t steps, size_t N, size_t width, float p, uint64_t seed, uint64_t call,
                       uint64_t slot, size_t first = 0, size_t global = 0);

// Letters as oneDNN's: T steps, N batch, I input width of layer 0, H hidden width, L layers,
// G gates (gate_count), Gb bias rows (bias_gate_count).
//
// Layers are split into groups, each ONE set of oneDNN primitives (forward training, forward
// inference, backward): one group per layer when `group_per_layer` (dropout between layers);
// otherwise layer 0 alone when I != H (oneDNN needs input width == H for a multi-layer primitive)
// and layers 1..L-1 together.
//
// Three classes: rnn_weights holds the weights (one master copy per group in the layout oneDNN
// chose for training) and the generation cache built from them; rnn_stack is a training or
// evaluation session over them (primitives per (T, N), activations, recurrent state, gradients,
// dropout); rnn_generator is a generation session (T = 1, its own primitives and state). Sessions
// read the weights and never write them; several may run at once on different threads.
class rnn_weights {
public:
    rnn_weights(const dnnl::engine& eng, cell_type cell, int layers, int input, int hidden,
                bool group_per_layer = false);
    ~rnn_weights();
    rnn_weights(const rnn_weights&) = delete;
    rnn_weights& operator=(const rnn_weights&) = delete;

    // Dense user layout of layer l (save/load/tests): w_x (I_l, G, H) igo with I_0 = I, I_l = H
    // otherwise; w_h (H, G, H) igo; bias (Gb, H). set_layer() drops the generation cache.
    void get_layer(int l, float* w_x, float* w_h, float* bias) const;
    void set_layer(int l, const float* w_x, const float* w_h, const float* bias);

    // The weights live in one region of region_floats() floats: per group w_x, w_h, bias in the
    // layouts oneDNN chose, each on a 64-byte line (gaps zero). Their own until place() moves them
    // (values included) into the caller's region, e.g. a slice of the model's parameter arena.
    // Gradients, Adam's moments and checkpoints use regions of the same layout.
    size_t region_floats() const { return region_floats_; }
    void place(float* region);
    // Where layer l's parts lie in a region: (offset, floats), padding included.
    struct slice {
        size_t offset, count;
    };
    struct layer_slices {
        slice w_x, w_h, bias;
    };
    std::vector<layer_slices> slices() const;
    // get_layer/set_layer on any region of this layout (a gradient, a moment).
    void get_layer_of(const float* region, int l, float* w_x, float* w_h, float* bias) const;
    void set_layer_of(float* region, int l, const float* w_x, const float* w_h, const float* bias);
    // All weights and biases U(-1/sqrt(H), 1/sqrt(H)) from a counter-based generator (independent
    // of grouping and padding); then the LSTM forget-gate bias is set to 1.
    void init_uniform(uint64_t seed);

    // Each weight buffer over its whole length, padding included (zero, and it stays zero under
    // element-wise updates); no grad (a session's grads() has them). Named as the file's tensors,
    // with the layers a group holds: rnn.weight_ih_l0, rnn.weight_hh_l1-2, rnn.bias_ih_l0 (which
    // holds both biases). Writing through `value` must be followed by weights_changed().
    std::vector<param_view> params();
    // The weights were written (optimizer step, load): generators made from now on see them;
    // generators already made keep the copy they were made with.
    void weights_changed();
    // Buffers the generation cache has built so far (for tests: a second generator builds none).
    size_t cache_builds() const;

    cell_type cell() const { return cell_; }
    int layers() const { return layers_; }
    int input() const { return input_; }
    int hidden() const { return hidden_; }
    int group_count() const { return static_cast<int>(groups_.size()); }

private:
    friend class rnn_stack;
    friend class rnn_generator;
    struct group;  // descriptors and master weights of one group
    struct cache;  // generation cache: frozen copies in inference layouts, the folded table

    std::pair<int, int> find_layer(int l) const;  // (group, index within group)
    void bind(float* region);
    // Generation cache (thread-safe): group gi's weights (which: 0 w_x, 1 w_h, 2 bias) in layout
    // `d`, or layer 0's folded input table for `rows` rows of `input_rows` (null: one-hot).
    std::shared_ptr<const float> frozen(int gi, int which, const dnnl::memory::desc& d) const;
    std::shared_ptr<const float> folded_table(const float* input_rows, int rows) const;

    dnnl::engine eng_;
    cell_type cell_;
    int layers_, input_, hidden_;
    std::vector<std::unique_ptr<group>> groups_;
    size_t region_floats_ = 0;
    float* region_ = nullptr;
    struct free_floats {
        void operator()(float* p) const;
    };
    std::unique_ptr<float, free_floats> own_;  // the region until place()
    std::unique_ptr<cache> cache_;
};

// A training or evaluation session over rnn_weights, which must outlive it.
//
// Call order for training: prepare(T, N); [reset_state() | carry_state()]; forward_training(x);
// backward(dy); then the optimizer over the weights' params() and this session's grads(). The
// backward pass reads the forward's buffers (input, output, initial and final state), so nothing
// may write them in between: the caller keeps `src` unchanged, and forward_inference(), prepare()
// with another shape or writing initial_h() between forward_training() and backward() is not
// allowed (backward() asserts the first two).
class rnn_stack {
public:
    // `gradients`: false for a session that never calls backward() (evaluation). `grad_region`:
    // where the gradients live (rnn_weights::region_floats() floats, the weights' layout), e.g. a
    // slice of the training session's gradient arena; null: a region of the session's own.
    // `bf16` (training only; a CPU with avx512_bf16): the forward and backward run on oneDNN 2.6's
    // bf16 primitives: the layer data and h in bf16, the weights rounded to bf16 from the f32 master
    // copy at each forward_training() (the optimizer changed them in between), bias and LSTM c in f32;
    // the gradients (of the data, state and weights) land in f32, as oneDNN's bf16 backward writes
    // them. The interface is unchanged: inputs, outputs, states and gradients are f32.
    explicit rnn_stack(const rnn_weights& w, float dropout = 0.f, uint64_t dropout_seed = 0, bool gradients = true,
                       float* grad_region = nullptr, bool bf16 = false);
    ~rnn_stack();
    rnn_stack(const rnn_stack&) = delete;
    rnn_stack& operator=(const rnn_stack&) = delete;

    // Builds the primitives and buffers for (T, N) on first use, then reuses them.
    void prepare(int steps, int batch);

    // src (T, N, I) tnc. Returns the top layer's output (T, N, H) tnc, owned here and valid until
    // the next forward. Training keeps `src` referenced until backward().
    const float* forward_training(const float* src);
    // No workspace, no dropout. Same state handling as training: reads the initial state, writes
    // the final state; carry_state() chains calls.
    const float* forward_inference(const float* src);

    // diff_dst (T, N, H) tnc. Adds (+=) into the gradients and overwrites diff_src (T, N, I) tnc
    // unless null, and diff_initial_h/c. Truncated BPTT: the gradient reaching the final state is
    // zero. Needs a forward_training() of the same shape just before.
    void backward(const float* diff_dst, float* diff_src);
    void zero_grad();
    // The gradient of each of the weights' params(), same order, length and layout.
    std::vector<float*> grads();

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

    // Dense gradient of layer l, as rnn_weights::get_layer.
    void get_layer_grad(int l, float* dw_x, float* dw_h, float* dbias) const;

    // Dropout mask applied to layer l's output (l < L-1) in the last forward_training():
    // (T, N, H), each element 0 or 1/(1-p). Null when dropout is 0. For tests and diagnostics.
    const float* dropout_mask(int l) const;
    // Training forwards run so far: the dropout masks are a pure function of (seed, this count,
    // group, element), so a checkpoint restores the mask sequence by restoring the count.
    uint64_t dropout_calls() const { return dropout_calls_; }
    uint64_t dropout_seed() const { return dropout_seed_; }
    uint32_t stream_first() const { return stream_first_; }
    uint32_t stream_global() const { return stream_global_; }
    void set_dropout_calls(uint64_t n) { dropout_calls_ = n; }
    // This stack's rows are streams first .. first + N - 1 of a batch of `global` streams (a rank's
    // share of a data-parallel batch): its dropout masks are those rows of the whole batch's.
    void set_stream_slice(uint32_t first, uint32_t global) {
        stream_first_ = first;
        stream_global_ = global;
    }

    // Counts of primitives (incl. reorders) built and buffers allocated since construction: they
    // must not move in the steady state of prepare (known shape), forward, backward, zero_grad.
    struct build_stats {
        size_t primitives = 0;
        size_t buffers = 0;
    };
    const build_stats& stats() const { return stats_; }
    const rnn_weights& weights() const { return w_; }

private:
    struct group_grads;  // gradients and backward-layout weights of one group
    struct shape_group;  // one group at one (T, N): primitives, workspace, activations
    struct shape;        // all groups at one (T, N)
    struct state_set;    // initial/final states for one N

    shape& current() const;
    state_set& states_for(int batch);
    void apply_pending_reset(state_set& st);
    void bind_states(shape& s, int g, int from, int to);
    void make_dropout_masks(shape& s);
    void prepare_inference(shape& s, int gi, const rnn_mds& m);
    void prepare_training(shape& s, int gi, const rnn_mds& m);
    float* alloc(size_t count);  // zeroed, 64-byte aligned, owned by `owned_`
    uint16_t* alloc_bf16(size_t count);
    void round_inputs_to_bf16(shape& s, const float* src, int from);
    void* training_input(shape& s, int g) const;

    const rnn_weights& w_;
    dnnl::stream strm_;
    cell_type cell_;
    int layers_, input_, hidden_;
    float dropout_;
    uint64_t dropout_seed_;
    bool bf16_ = false;
    uint64_t dropout_calls_ = 0;
    uint32_t stream_first_ = 0, stream_global_ = 0;  // 0: the batch is the whole batch

    std::vector<group_grads> grads_;  // empty without gradients
    std::map<std::pair<int, int>, std::unique_ptr<shape>> shapes_;  // key (T, N)
    std::map<int, std::unique_ptr<state_set>> states_;               // key N
    shape* current_ = nullptr;

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

// Generation at batch N, T = 1, the state carried from step to step and starting from zeros.
// The weights are the generation cache's frozen copy in the layouts oneDNN chooses for inference
// at (1, N) (LSTM 256, N = 1: 18 us a step instead of 23 us in training's layout): weights changed
// after the generator is made are not seen. A step's inputs are rows of `input_rows` (rows x I,
// e.g. the embedding table; null: one-hot, rows == I), picked by id; the table must stay valid.
// Folding: with N = 1, layer 0 alone in its group, rows <= 4 I (the table no larger than 4 copies
// of layer 0's input weights) and rows x I x G x H <= 2^26 multiply-adds to build it (one-hot:
// none), W_x x + b of layer 0 is precomputed for every row (in double, once per model in the
// cache) and given to the primitive as the step's bias, with a zero input of width 1, so a step
// does not read layer 0's input weights at all (LSTM 256, E 64: 14 us).
// The primitives are built for the calling thread's OpenMP thread count: oneDNN's brgemm RNN
// plans its work for it (LSTM 512, 32 rows built on 1 thread run at 65k instead of 100k char/s on 2).
class rnn_generator {
public:
    rnn_generator(const rnn_weights& w, int batch, const float* input_rows, int rows);
    ~rnn_generator();
    rnn_generator(const rnn_generator&) = delete;
    rnn_generator& operator=(const rnn_generator&) = delete;

    // ids (N), each < rows. Returns the top layer's output (N, H), valid until the next step.
    const float* step(const int32_t* ids);
    bool folded() const { return folded_; }
    const float* final_h() const;  // (L, N, H) after the last step
    const float* final_c() const;
    void reset_state();  // back to zeros
    // Every row's state becomes `one_row`'s only row (same weights): a prefix read once, shared.
    void broadcast_state(const rnn_generator& one_row);
    // Makes h (and c) (L, N, H) the state the next step starts from (a saved final_h / final_c).
    void set_state(const float* h, const float* c);

private:
    struct layer_group;
    struct free_deleter {
        void operator()(float* p) const;
    };
    float* alloc(size_t count);

    const rnn_weights& w_;
    dnnl::stream strm_;
    int batch_, rows_;
    bool folded_ = false;
    const float* input_rows_;
    float* src_ = nullptr;  // (1, N, I): the step's input rows (unfolded group 0)
    std::shared_ptr<const float> table_;                 // (rows, Gb, H) when folded
    std::vector<std::shared_ptr<const float>> frozen_;   // the cache entries in use
    std::vector<layer_group> groups_;
    float* h_[2] = {nullptr, nullptr};  // (L, N, H) ldnc, ping-pong
    float* c_[2] = {nullptr, nullptr};
    int cur_ = 0;
    std::vector<std::unique_ptr<float, free_deleter>> owned_;
};

}  // namespace charlm::nn
