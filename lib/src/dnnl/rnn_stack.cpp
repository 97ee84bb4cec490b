// rnn_stack: groups of stacked recurrent layers on oneDNN 2.6 RNN primitives (see rnn_stack.h).
// Layouts: master weights and grads in the forward `any` layout (padded ldigo), one reorder per
// step into the backward layout (padded ldgoi); states in ldnc; activations in tnc.
// Not here: the per-cell descriptor plumbing (rnn_primitives.cpp).
#include "dnnl/rnn_stack.h"

#include <omp.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

#include "charlm/status.hpp"
#include "dnnl/rnn_primitives.h"

namespace charlm::nn {

using dnnl::memory;
using md = memory::desc;

namespace {

constexpr auto f32 = memory::data_type::f32;
constexpr auto ldgo = memory::format_tag::ldgo;
constexpr auto any = memory::format_tag::any;

// SplitMix64 finalizer: the counter-based generator for dropout masks and initialization.
uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}
// Uniform in [0, 1) with 24 random bits, from (key, index).
float uniform01(uint64_t key, uint64_t index) {
    return static_cast<float>(mix64(key ^ mix64(index)) >> 40) * (1.0f / 16777216.0f);
}

memory::dims dims_of(std::initializer_list<int> v) { return memory::dims(v.begin(), v.end()); }

}  // namespace

void rnn_stack::free_deleter::operator()(float* p) const { std::free(p); }

// Shape-independent part of a group of layers [first, first + count).
struct rnn_stack::group {
    int first = 0, count = 1, input = 0;  // input: width of the group's src_layer
    md w_x_md, w_h_md, bias_md;           // (Lg,1,Ig,G,H) / (Lg,1,H,G,H) padded ldigo, (Lg,1,Gb,H) ldgo
    md bwd_w_x_md, bwd_w_h_md;            // the same in the backward layout, padded ldgoi
    float *w_x = nullptr, *w_h = nullptr, *bias = nullptr;     // master weights
    float *dw_x = nullptr, *dw_h = nullptr, *dbias = nullptr;  // gradients, same layouts
    memory m_w_x, m_w_h, m_bias, m_dw_x, m_dw_h, m_dbias, m_bwd_w_x, m_bwd_w_h;
    dnnl::reorder to_bwd_x, to_bwd_h;  // master -> backward layout, once per backward()
};

// One group at one (T, N). Memories whose handle changes per call (user input, ping-pong states,
// user gradients) are re-pointed with set_data_handle; the argument maps are built once.
struct rnn_stack::shape_group {
    dnnl::primitive train, infer, bwd;
    memory src_layer, src_iter, src_iter_c, dst_layer, dst_iter, dst_iter_c, workspace;
    memory diff_src_layer, diff_dst_layer, diff_src_iter, diff_src_iter_c, diff_dst_iter, diff_dst_iter_c;
    float* out = nullptr;       // (T, N, H) tnc: the group's output; read by backward
    float* dropped = nullptr;   // (T, N, H): out * mask, the next group's training input
    float* mask = nullptr;      // (T, N, H): 0 or 1/(1-p)
    float* diff_out = nullptr;  // (T, N, H): gradient w.r.t. out (groups below the top)
    std::unordered_map<int, memory> train_args, infer_args, bwd_args;
};

struct rnn_stack::state_set {
    int batch = 0;
    float* h[2] = {nullptr, nullptr};  // (L, N, H) ldnc, ping-pong
    float* c[2] = {nullptr, nullptr};  // (L, N, H) ldnc, LSTM only
    float *diff_h0 = nullptr, *diff_c0 = nullptr;  // (L, N, H): gradient w.r.t. the initial state
    float* zeros = nullptr;  // (L, N, H): diff_dst_iter(_c), the truncation of BPTT
    int cur = 0;             // the initial state is h[cur], c[cur]
    int last = 0;            // the last forward's final state is h[last], c[last]
    bool reset_pending = false;
};

// Generation at one (N, rows). Group 0 is `folded` (see begin_generation in the header): its
// primitive then has an input of width 1 that is always zero, zero input weights, and a bias
// pointed at the step's row of `table`.
struct rnn_stack::gen_session {
    struct layer_group {
        dnnl::primitive prim;
        memory src_layer, src_iter, src_iter_c, dst_layer, dst_iter, dst_iter_c, w_x, w_h, bias;
        dnnl::reorder to_w_x, to_w_h;  // master -> frozen copy; to_w_x empty when folded
        float* out = nullptr;          // (1, N, H)
        std::unordered_map<int, memory> args;
    };
    int batch = 0, rows = 0;
    bool folded = false;
    const float* input_rows = nullptr;  // (rows, I), null: one-hot
    float* src = nullptr;               // (1, N, I): the step's input rows (unfolded group 0)
    float* table = nullptr;             // (rows, Gb, H): W_x x + b of layer 0 per row (folded)
    std::vector<layer_group> groups;
};

struct rnn_stack::shape {
    int steps = 0, batch = 0;
    state_set* states = nullptr;
    std::vector<shape_group> groups;
    float* diff_src_scratch = nullptr;  // (T, N, I): diff_src when the caller passes null
};

rnn_stack::rnn_stack(const dnnl::engine& eng, dnnl::stream& strm, cell_type cell, int layers, int input,
                     int hidden, float dropout, uint64_t dropout_seed)
    : eng_(eng), strm_(strm), cell_(cell), layers_(layers), input_(input), hidden_(hidden),
      dropout_(dropout), dropout_seed_(dropout_seed) {
    CHARLM_ASSERT(layers >= 1 && input >= 1 && hidden >= 1);
    CHARLM_ASSERT(dropout >= 0.f && dropout < 1.f);
    // Grouping: see the class comment.
    std::vector<std::pair<int, int>> spans;  // (first, count)
    if (dropout > 0.f) {
        for (int l = 0; l < layers; ++l) spans.emplace_back(l, 1);
    } else if (input == hidden) {
        spans.emplace_back(0, layers);
    } else {
        spans.emplace_back(0, 1);
        if (layers > 1) spans.emplace_back(1, layers - 1);
    }
    const int G = gate_count(cell), Gb = bias_gate_count(cell), H = hidden;
    for (auto [first, count] : spans) {
        auto g = std::make_unique<group>();
        g->first = first;
        g->count = count;
        g->input = first == 0 ? input : H;
        // Let oneDNN choose the weight layouts once, on a nominal shape; prepare() then passes
        // these layouts explicitly so that every shape shares the master buffers.
        rnn_mds m = make_rnn_mds(cell, count, g->input, H, 1, 1);
        m.w_x = m.bwd_w_x = m.diff_w_x = md(dims_of({count, 1, g->input, G, H}), f32, any);
        m.w_h = m.bwd_w_h = m.diff_w_h = md(dims_of({count, 1, H, G, H}), f32, any);
        rnn_pds pds = make_rnn_pds(eng_, cell, m);
        g->w_x_md = pds.train.weights_layer_desc();
        g->w_h_md = pds.train.weights_iter_desc();
        g->bias_md = md(dims_of({count, 1, Gb, H}), f32, ldgo);
        g->bwd_w_x_md = pds.bwd.weights_layer_desc();
        g->bwd_w_h_md = pds.bwd.weights_iter_desc();
        // Gradients live in the master layout: the optimizer's state then matches element-wise.
        CHARLM_ASSERT(pds.bwd.diff_weights_layer_desc() == g->w_x_md);
        CHARLM_ASSERT(pds.bwd.diff_weights_iter_desc() == g->w_h_md);
        CHARLM_ASSERT(pds.train.bias_desc() == g->bias_md);
        // get_layer/set_layer index plain strided layouts; a blocked choice (none on AVX2 or
        // AVX-512 with oneDNN 2.6.3) would need reorders there.
        CHARLM_ASSERT(is_plain(g->w_x_md) && is_plain(g->w_h_md) && is_plain(g->bwd_w_x_md));

        const auto floats = [](const md& d) { return d.get_size() / sizeof(float); };
        g->w_x = alloc(floats(g->w_x_md));
        g->w_h = alloc(floats(g->w_h_md));
        g->bias = alloc(floats(g->bias_md));
        g->dw_x = alloc(floats(g->w_x_md));
        g->dw_h = alloc(floats(g->w_h_md));
        g->dbias = alloc(floats(g->bias_md));
        g->m_w_x = memory(g->w_x_md, eng_, g->w_x);
        g->m_w_h = memory(g->w_h_md, eng_, g->w_h);
        g->m_bias = memory(g->bias_md, eng_, g->bias);
        g->m_dw_x = memory(g->w_x_md, eng_, g->dw_x);
        g->m_dw_h = memory(g->w_h_md, eng_, g->dw_h);
        g->m_dbias = memory(g->bias_md, eng_, g->dbias);
        g->m_bwd_w_x = memory(g->bwd_w_x_md, eng_, alloc(floats(g->bwd_w_x_md)));
        g->m_bwd_w_h = memory(g->bwd_w_h_md, eng_, alloc(floats(g->bwd_w_h_md)));
        g->to_bwd_x = dnnl::reorder(g->m_w_x, g->m_bwd_w_x);
        g->to_bwd_h = dnnl::reorder(g->m_w_h, g->m_bwd_w_h);
        stats_.primitives += 2;
        groups_.push_back(std::move(g));
    }
}

rnn_stack::~rnn_stack() = default;
rnn_stack::rnn_stack(rnn_stack&&) noexcept = default;
rnn_stack& rnn_stack::operator=(rnn_stack&&) noexcept = default;

float* rnn_stack::alloc(size_t count) {
    const size_t bytes = (count * sizeof(float) + 63) / 64 * 64;
    auto* p = static_cast<float*>(std::aligned_alloc(64, bytes == 0 ? 64 : bytes));
    CHARLM_ASSERT(p != nullptr);
    std::memset(p, 0, bytes == 0 ? 64 : bytes);
    owned_.emplace_back(p);
    ++stats_.buffers;
    return p;
}

rnn_stack::state_set& rnn_stack::states_for(int batch) {
    auto& slot = states_[batch];
    if (!slot) {
        slot = std::make_unique<state_set>();
        const size_t n = static_cast<size_t>(layers_) * batch * hidden_;
        slot->batch = batch;
        slot->h[0] = alloc(n);
        slot->h[1] = alloc(n);
        slot->diff_h0 = alloc(n);
        slot->zeros = alloc(n);
        if (cell_ == cell_type::lstm) {
            slot->c[0] = alloc(n);
            slot->c[1] = alloc(n);
            slot->diff_c0 = alloc(n);
        }
    }
    return *slot;
}

void rnn_stack::prepare(int steps, int batch) {
    CHARLM_ASSERT(steps >= 1 && batch >= 1);
    auto& slot = shapes_[{steps, batch}];
    if (slot) {
        current_ = slot.get();
        return;
    }
    auto s = std::make_unique<shape>();
    s->steps = steps;
    s->batch = batch;
    s->states = &states_for(batch);
    const int T = steps, N = batch, H = hidden_, ng = group_count();
    const size_t tnh = static_cast<size_t>(T) * N * H;
    s->groups.resize(ng);
    s->diff_src_scratch = alloc(static_cast<size_t>(T) * N * input_);
    for (int gi = 0; gi < ng; ++gi) {
        const group& g = *groups_[gi];
        shape_group& sg = s->groups[gi];
        rnn_mds m = make_rnn_mds(cell_, g.count, g.input, H, T, N);
        m.w_x = m.diff_w_x = g.w_x_md;
        m.w_h = m.diff_w_h = g.w_h_md;
        m.bwd_w_x = g.bwd_w_x_md;
        m.bwd_w_h = g.bwd_w_h_md;
        rnn_pds pds = make_rnn_pds(eng_, cell_, m);
        CHARLM_ASSERT(pds.train.weights_layer_desc() == g.w_x_md);
        CHARLM_ASSERT(pds.bwd.weights_layer_desc() == g.bwd_w_x_md);
        CHARLM_ASSERT(pds.bwd.diff_weights_iter_desc() == g.w_h_md);
        CHARLM_ASSERT(pds.bwd.workspace_desc() == pds.train.workspace_desc());
        sg.train = dnnl::primitive(pds.train);
        sg.infer = dnnl::primitive(pds.infer);
        sg.bwd = dnnl::primitive(pds.bwd);
        stats_.primitives += 3;

        sg.out = alloc(tnh);
        if (gi + 1 < ng) sg.diff_out = alloc(tnh);
        if (dropout_ > 0.f && gi + 1 < ng) {
            sg.mask = alloc(tnh);
            sg.dropped = alloc(tnh);
        }
        sg.workspace = memory(pds.train.workspace_desc(), eng_);
        ++stats_.buffers;
        // Placeholders for handles set per call: any valid buffer of sufficient size.
        const state_set& st = *s->states;
        const size_t off = static_cast<size_t>(g.first) * N * H;
        float* below = gi == 0 ? s->diff_src_scratch : s->groups[gi - 1].out;
        sg.src_layer = memory(m.src_layer, eng_, below);
        sg.dst_layer = memory(m.dst_layer, eng_, sg.out);
        sg.src_iter = memory(m.src_iter, eng_, st.h[0] + off);
        sg.dst_iter = memory(m.dst_iter, eng_, st.h[1] + off);
        sg.diff_src_layer = memory(m.src_layer, eng_, gi == 0 ? s->diff_src_scratch : s->groups[gi - 1].diff_out);
        sg.diff_dst_layer = memory(m.dst_layer, eng_, gi + 1 < ng ? sg.diff_out : sg.out);
        sg.diff_src_iter = memory(m.src_iter, eng_, st.diff_h0 + off);
        sg.diff_dst_iter = memory(m.dst_iter, eng_, st.zeros + off);
        sg.train_args = {{DNNL_ARG_SRC_LAYER, sg.src_layer}, {DNNL_ARG_SRC_ITER, sg.src_iter},
                         {DNNL_ARG_WEIGHTS_LAYER, g.m_w_x},  {DNNL_ARG_WEIGHTS_ITER, g.m_w_h},
                         {DNNL_ARG_BIAS, g.m_bias},          {DNNL_ARG_DST_LAYER, sg.dst_layer},
                         {DNNL_ARG_DST_ITER, sg.dst_iter},   {DNNL_ARG_WORKSPACE, sg.workspace}};
        sg.infer_args = sg.train_args;
        sg.infer_args.erase(DNNL_ARG_WORKSPACE);
        sg.bwd_args = sg.train_args;
        sg.bwd_args[DNNL_ARG_WEIGHTS_LAYER] = g.m_bwd_w_x;
        sg.bwd_args[DNNL_ARG_WEIGHTS_ITER] = g.m_bwd_w_h;
        sg.bwd_args.insert({{DNNL_ARG_DIFF_SRC_LAYER, sg.diff_src_layer},
                            {DNNL_ARG_DIFF_SRC_ITER, sg.diff_src_iter},
                            {DNNL_ARG_DIFF_WEIGHTS_LAYER, g.m_dw_x},
                            {DNNL_ARG_DIFF_WEIGHTS_ITER, g.m_dw_h},
                            {DNNL_ARG_DIFF_BIAS, g.m_dbias},
                            {DNNL_ARG_DIFF_DST_LAYER, sg.diff_dst_layer},
                            {DNNL_ARG_DIFF_DST_ITER, sg.diff_dst_iter}});
        if (cell_ == cell_type::lstm) {
            sg.src_iter_c = memory(m.src_iter_c, eng_, st.c[0] + off);
            sg.dst_iter_c = memory(m.dst_iter_c, eng_, st.c[1] + off);
            sg.diff_src_iter_c = memory(m.src_iter_c, eng_, st.diff_c0 + off);
            sg.diff_dst_iter_c = memory(m.dst_iter_c, eng_, st.zeros + off);
            for (auto* args : {&sg.train_args, &sg.infer_args, &sg.bwd_args}) {
                args->insert({{DNNL_ARG_SRC_ITER_C, sg.src_iter_c}, {DNNL_ARG_DST_ITER_C, sg.dst_iter_c}});
            }
            sg.bwd_args.insert({{DNNL_ARG_DIFF_SRC_ITER_C, sg.diff_src_iter_c},
                                {DNNL_ARG_DIFF_DST_ITER_C, sg.diff_dst_iter_c}});
        }
    }
    current_ = s.get();
    slot = std::move(s);
}

rnn_stack::shape& rnn_stack::current() const {
    CHARLM_ASSERT(current_ != nullptr);  // call prepare(T, N) first
    return *current_;
}

void rnn_stack::apply_pending_reset(state_set& st) {
    if (!st.reset_pending) return;
    const size_t bytes = sizeof(float) * layers_ * st.batch * hidden_;
    std::memset(st.h[st.cur], 0, bytes);
    if (st.c[st.cur]) std::memset(st.c[st.cur], 0, bytes);
    st.reset_pending = false;
}

// Points group g's state memories at the initial state h[from] and the final state h[to].
void rnn_stack::bind_states(shape& s, int g, int from, int to) {
    shape_group& sg = s.groups[g];
    const size_t off = static_cast<size_t>(groups_[g]->first) * s.batch * hidden_;
    bind_iter(sg.src_iter, sg.dst_iter, sg.src_iter_c, sg.dst_iter_c, *s.states, off, from, to);
}

void rnn_stack::bind_iter(memory& src_iter, memory& dst_iter, memory& src_iter_c, memory& dst_iter_c,
                          const state_set& st, size_t off, int from, int to) const {
    src_iter.set_data_handle(st.h[from] + off);
    dst_iter.set_data_handle(st.h[to] + off);
    if (cell_ == cell_type::lstm) {
        src_iter_c.set_data_handle(st.c[from] + off);
        dst_iter_c.set_data_handle(st.c[to] + off);
    }
}

// Masks for every group boundary from (seed, forward_training call counter, boundary, element):
// the same for any thread count, and reproducible.
void rnn_stack::make_dropout_masks(shape& s) {
    const size_t n = static_cast<size_t>(s.steps) * s.batch * hidden_;
    const float keep_scale = 1.f / (1.f - dropout_);
    const float p = dropout_;
    for (int g = 0; g + 1 < group_count(); ++g) {
        float* mask = s.groups[g].mask;
        const uint64_t key = mix64(mix64(dropout_seed_) ^ dropout_calls_) ^ (static_cast<uint64_t>(g) << 48);
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; ++i) mask[i] = uniform01(key, i) < p ? 0.f : keep_scale;
    }
}

const float* rnn_stack::forward_training(const float* src) {
    shape& s = current();
    state_set& st = *s.states;
    apply_pending_reset(st);
    const int from = st.cur, to = 1 - st.cur, ng = group_count();
    const size_t n = static_cast<size_t>(s.steps) * s.batch * hidden_;
    ++dropout_calls_;
    if (dropout_ > 0.f) make_dropout_masks(s);
    for (int g = 0; g < ng; ++g) {
        shape_group& sg = s.groups[g];
        const shape_group* below = g > 0 ? &s.groups[g - 1] : nullptr;
        sg.src_layer.set_data_handle(below ? (below->dropped ? below->dropped : below->out) : const_cast<float*>(src));
        bind_states(s, g, from, to);
        sg.train.execute(strm_, sg.train_args);
        if (sg.dropped) {
            // Inverted dropout into a separate buffer: backward still reads `out`.
            strm_.wait();
            const float *out = sg.out, *mask = sg.mask;
            float* dropped = sg.dropped;
#pragma omp parallel for simd schedule(static)
            for (size_t i = 0; i < n; ++i) dropped[i] = out[i] * mask[i];
        }
    }
    strm_.wait();
    st.last = to;
    pending_ = &s;
    pending_from_ = from;
    pending_src_ = src;
    return s.groups.back().out;
}

const float* rnn_stack::forward_inference(const float* src) {
    shape& s = current();
    state_set& st = *s.states;
    apply_pending_reset(st);
    const int from = st.cur, to = 1 - st.cur;
    pending_ = nullptr;  // overwrites the training forward's output and final state
    for (int g = 0; g < group_count(); ++g) {
        shape_group& sg = s.groups[g];
        sg.src_layer.set_data_handle(g > 0 ? s.groups[g - 1].out : const_cast<float*>(src));
        bind_states(s, g, from, to);
        sg.infer.execute(strm_, sg.infer_args);
    }
    strm_.wait();
    st.last = to;
    return s.groups.back().out;
}

void rnn_stack::begin_generation(int batch, const float* input_rows, int rows) {
    CHARLM_ASSERT(batch >= 1 && rows >= 1);
    CHARLM_ASSERT(input_rows != nullptr || rows == input_);
    auto& slot = gen_[{batch, rows, omp_get_max_threads()}];
    const int G = gate_count(cell_), Gb = bias_gate_count(cell_), H = hidden_, ng = group_count();
    if (!slot) {
        auto s = std::make_unique<gen_session>();
        s->batch = batch;
        s->rows = rows;
        // Folding costs rows x I x G x H multiply-adds per begin_generation() (none one-hot): at
        // most 2^26 (measured: 8.5M take 1 ms with everything else begin_generation does, 2^26
        // ~20 ms), so a short generation never pays much more than it saves.
        const int64_t fold_macs = input_rows ? int64_t{rows} * input_ * G * H : 0;
        s->folded = batch == 1 && groups_[0]->count == 1 && static_cast<int64_t>(rows) <= 4 * int64_t{input_} &&
                    fold_macs <= (int64_t{1} << 26);
        s->src = alloc(static_cast<size_t>(batch) * input_);
        if (s->folded) s->table = alloc(static_cast<size_t>(rows) * Gb * H);
        s->groups.resize(ng);
        for (int gi = 0; gi < ng; ++gi) {
            const group& g = *groups_[gi];
            auto& lg = s->groups[gi];
            const bool fold = gi == 0 && s->folded;
            const int in = fold ? 1 : g.input;
            rnn_mds m = make_rnn_mds(cell_, g.count, in, H, 1, batch);
            m.w_x = md(dims_of({g.count, 1, in, G, H}), f32, any);
            m.w_h = md(dims_of({g.count, 1, H, G, H}), f32, any);
            auto pd = make_rnn_infer_pd(eng_, cell_, m);
            const auto floats = [](const md& d) { return d.get_size() / sizeof(float); };
            const auto make_copies = [&] {
                lg.w_x = memory(pd.weights_layer_desc(), eng_, alloc(floats(pd.weights_layer_desc())));
                lg.w_h = memory(pd.weights_iter_desc(), eng_, alloc(floats(pd.weights_iter_desc())));
                if (fold) {
                    // Zero input weights, written by a reorder: an opaque packed layout (oneDNN's
                    // choice for GRU at H = 512) is not valid as plain zero bytes.
                    memory zeros(md(dims_of({1, 1, 1, G, H}), f32, memory::format_tag::ldigo), eng_,
                                 alloc(static_cast<size_t>(G) * H));
                    dnnl::reorder(zeros, lg.w_x).execute(strm_, zeros, lg.w_x);
                    strm_.wait();
                } else {
                    lg.to_w_x = dnnl::reorder(g.m_w_x, lg.w_x);
                }
                lg.to_w_h = dnnl::reorder(g.m_w_h, lg.w_h);
            };
            try {
                make_copies();
            } catch (const dnnl::error&) {
                // No reorder into the chosen layout (some tiny shapes): training's layout, which
                // every inference primitive accepts.
                m.w_x = fold ? md(dims_of({g.count, 1, in, G, H}), f32, memory::format_tag::ldigo) : g.w_x_md;
                m.w_h = g.w_h_md;
                pd = make_rnn_infer_pd(eng_, cell_, m);
                make_copies();
            }
            lg.prim = dnnl::primitive(pd);
            lg.out = alloc(static_cast<size_t>(batch) * H);
            lg.bias = memory(g.bias_md, eng_, fold ? s->table : alloc(floats(g.bias_md)));
            stats_.primitives += fold ? 2 : 3;
            float* below = gi == 0 ? (fold ? alloc(1) : s->src) : s->groups[gi - 1].out;
            lg.src_layer = memory(m.src_layer, eng_, below);
            lg.dst_layer = memory(m.dst_layer, eng_, lg.out);
            const state_set& st = states_for(batch);
            const size_t off = static_cast<size_t>(g.first) * batch * H;
            lg.src_iter = memory(m.src_iter, eng_, st.h[0] + off);
            lg.dst_iter = memory(m.dst_iter, eng_, st.h[1] + off);
            lg.args = {{DNNL_ARG_SRC_LAYER, lg.src_layer}, {DNNL_ARG_SRC_ITER, lg.src_iter},
                       {DNNL_ARG_WEIGHTS_LAYER, lg.w_x},   {DNNL_ARG_WEIGHTS_ITER, lg.w_h},
                       {DNNL_ARG_BIAS, lg.bias},           {DNNL_ARG_DST_LAYER, lg.dst_layer},
                       {DNNL_ARG_DST_ITER, lg.dst_iter}};
            if (cell_ == cell_type::lstm) {
                lg.src_iter_c = memory(m.src_iter_c, eng_, st.c[0] + off);
                lg.dst_iter_c = memory(m.dst_iter_c, eng_, st.c[1] + off);
                lg.args.insert({{DNNL_ARG_SRC_ITER_C, lg.src_iter_c}, {DNNL_ARG_DST_ITER_C, lg.dst_iter_c}});
            }
        }
        slot = std::move(s);
    }
    gen_session& s = *slot;
    gen_cur_ = &s;
    s.input_rows = input_rows;
    // Freeze the weights: the copies in the inference layouts, the biases, the folded table.
    for (int gi = 0; gi < ng; ++gi) {
        group& g = *groups_[gi];
        auto& lg = s.groups[gi];
        if (lg.to_w_x) lg.to_w_x.execute(strm_, g.m_w_x, lg.w_x);
        lg.to_w_h.execute(strm_, g.m_w_h, lg.w_h);
        if (!(gi == 0 && s.folded)) std::memcpy(lg.bias.get_data_handle(), g.bias, g.bias_md.get_size());
    }
    strm_.wait();
    if (s.folded) {
        const int I = input_, GH = G * H;
        std::vector<float> w_x(static_cast<size_t>(I) * GH), bias(static_cast<size_t>(Gb) * H);
        const group& g0 = *groups_[0];
        copy_layer(g0.w_x_md, g0.w_x, 0, w_x.data(), layer_copy::to_dense);
        copy_layer(g0.bias_md, g0.bias, 0, bias.data(), layer_copy::to_dense);
        std::vector<double> acc(static_cast<size_t>(GH));
        for (int r = 0; r < rows; ++r) {
            float* row = s.table + static_cast<size_t>(r) * Gb * H;
            if (!input_rows) {  // one-hot: row r of W_x
                for (int j = 0; j < GH; ++j) row[j] = static_cast<float>(double{w_x[size_t(r) * GH + j]} + bias[j]);
            } else {
                std::fill(acc.begin(), acc.end(), 0.0);
                const float* x = input_rows + static_cast<size_t>(r) * I;
                double* a = acc.data();
                for (int i = 0; i < I; ++i) {
                    const double xi = x[i];
                    const float* w = w_x.data() + static_cast<size_t>(i) * GH;
#pragma omp simd
                    for (int j = 0; j < GH; ++j) a[j] += xi * w[j];
                }
                for (int j = 0; j < GH; ++j) row[j] = static_cast<float>(acc[j] + bias[j]);
            }
            for (int j = GH; j < Gb * H; ++j) row[j] = bias[j];  // LBR-GRU's u' bias: no input term
        }
    }
    state_set& st = states_for(batch);  // the session starts from zeros
    st.reset_pending = true;
    apply_pending_reset(st);
}

bool rnn_stack::generation_folded() const {
    CHARLM_ASSERT(gen_cur_ != nullptr);
    return gen_cur_->folded;
}

const float* rnn_stack::generation_step(const int32_t* ids) {
    CHARLM_ASSERT(gen_cur_ != nullptr);  // call begin_generation() first
    gen_session& s = *gen_cur_;
    state_set& st = states_for(s.batch);
    apply_pending_reset(st);
    const int from = st.cur, to = 1 - st.cur, N = s.batch, I = input_;
    pending_ = nullptr;  // the state buffers are shared with training shapes of this N
    for (int n = 0; n < N; ++n) CHARLM_ASSERT(ids[n] >= 0 && ids[n] < s.rows);
    if (s.folded) {
        s.groups[0].bias.set_data_handle(s.table + static_cast<size_t>(ids[0]) * bias_gate_count(cell_) * hidden_);
    } else if (s.input_rows) {
        for (int n = 0; n < N; ++n)
            std::memcpy(s.src + static_cast<size_t>(n) * I, s.input_rows + static_cast<size_t>(ids[n]) * I,
                        sizeof(float) * I);
    } else {
        std::memset(s.src, 0, sizeof(float) * N * I);
        for (int n = 0; n < N; ++n) s.src[static_cast<size_t>(n) * I + ids[n]] = 1.f;
    }
    for (int gi = 0; gi < group_count(); ++gi) {
        auto& lg = s.groups[gi];
        const size_t off = static_cast<size_t>(groups_[gi]->first) * N * hidden_;
        bind_iter(lg.src_iter, lg.dst_iter, lg.src_iter_c, lg.dst_iter_c, st, off, from, to);
        lg.prim.execute(strm_, lg.args);
    }
    strm_.wait();
    st.cur = st.last = to;
    return s.groups.back().out;
}

void rnn_stack::backward(const float* diff_dst, float* diff_src) {
    shape& s = current();
    CHARLM_ASSERT(pending_ == &s);  // needs forward_training() of this shape, and only one backward
    const int ng = group_count();
    const size_t n = static_cast<size_t>(s.steps) * s.batch * hidden_;
    for (auto& g : groups_) {
        g->to_bwd_x.execute(strm_, g->m_w_x, g->m_bwd_w_x);
        g->to_bwd_h.execute(strm_, g->m_w_h, g->m_bwd_w_h);
    }
    for (int g = ng - 1; g >= 0; --g) {
        shape_group& sg = s.groups[g];
        if (g == 0) {
            sg.src_layer.set_data_handle(const_cast<float*>(pending_src_));
            sg.diff_src_layer.set_data_handle(diff_src ? diff_src : s.diff_src_scratch);
        } else {
            const shape_group& below = s.groups[g - 1];
            sg.src_layer.set_data_handle(below.dropped ? below.dropped : below.out);
        }
        if (g == ng - 1) sg.diff_dst_layer.set_data_handle(const_cast<float*>(diff_dst));
        bind_states(s, g, pending_from_, 1 - pending_from_);
        sg.bwd.execute(strm_, sg.bwd_args);
        if (g > 0 && s.groups[g - 1].mask) {
            // d out = mask * d dropped: the gradient through the same inverted dropout.
            strm_.wait();
            float* d = s.groups[g - 1].diff_out;
            const float* mask = s.groups[g - 1].mask;
#pragma omp parallel for simd schedule(static)
            for (size_t i = 0; i < n; ++i) d[i] *= mask[i];
        }
    }
    strm_.wait();
    pending_ = nullptr;  // the workspace is consumed
}

void rnn_stack::zero_grad() {
    for (auto& g : groups_) {
        std::memset(g->dw_x, 0, g->w_x_md.get_size());
        std::memset(g->dw_h, 0, g->w_h_md.get_size());
        std::memset(g->dbias, 0, g->bias_md.get_size());
    }
}

void rnn_stack::reset_state() {
    // Lazy: applied at the next forward or initial_h(), so a pending backward still sees its state.
    for (auto& [batch, st] : states_) st->reset_pending = true;
}

void rnn_stack::carry_state() {
    state_set& st = *current().states;
    st.cur = st.last;
    st.reset_pending = false;
}

float* rnn_stack::initial_h() {
    state_set& st = *current().states;
    apply_pending_reset(st);
    return st.h[st.cur];
}
float* rnn_stack::initial_c() {
    state_set& st = *current().states;
    apply_pending_reset(st);
    return st.c[st.cur];
}
const float* rnn_stack::final_h() const { return current().states->h[current().states->last]; }
const float* rnn_stack::final_c() const { return current().states->c[current().states->last]; }
const float* rnn_stack::diff_initial_h() const { return current().states->diff_h0; }
const float* rnn_stack::diff_initial_c() const { return current().states->diff_c0; }

const float* rnn_stack::dropout_mask(int l) const {
    CHARLM_ASSERT(l >= 0 && l + 1 < layers_);
    return dropout_ > 0.f ? current().groups[l].mask : nullptr;  // one group per layer with dropout
}

std::vector<rnn_stack::param> rnn_stack::params() {
    std::vector<param> out;
    for (auto& g : groups_) {
        std::string name = "rnn.l";  // appended, not operator+: avoids a g++ 12 -Wrestrict false positive
        name += std::to_string(g->first);
        if (g->count > 1) {
            name += '-';
            name += std::to_string(g->first + g->count - 1);
        }
        out.push_back({name + ".w_x", g->w_x, g->dw_x, g->w_x_md.get_size() / sizeof(float)});
        out.push_back({name + ".w_h", g->w_h, g->dw_h, g->w_h_md.get_size() / sizeof(float)});
        out.push_back({name + ".bias", g->bias, g->dbias, g->bias_md.get_size() / sizeof(float)});
    }
    return out;
}

std::pair<int, int> rnn_stack::find_layer(int l) const {
    CHARLM_ASSERT(l >= 0 && l < layers_);
    for (int g = 0; g < group_count(); ++g) {
        if (l < groups_[g]->first + groups_[g]->count) return {g, l - groups_[g]->first};
    }
    CHARLM_ASSERT(false);
    return {0, 0};
}

void rnn_stack::get_layer(int l, float* w_x, float* w_h, float* bias) const {
    auto [gi, k] = find_layer(l);
    const group& g = *groups_[gi];
    copy_layer(g.w_x_md, g.w_x, k, w_x, layer_copy::to_dense);
    copy_layer(g.w_h_md, g.w_h, k, w_h, layer_copy::to_dense);
    copy_layer(g.bias_md, g.bias, k, bias, layer_copy::to_dense);
}

void rnn_stack::set_layer(int l, const float* w_x, const float* w_h, const float* bias) {
    auto [gi, k] = find_layer(l);
    group& g = *groups_[gi];
    copy_layer(g.w_x_md, g.w_x, k, const_cast<float*>(w_x), layer_copy::from_dense);
    copy_layer(g.w_h_md, g.w_h, k, const_cast<float*>(w_h), layer_copy::from_dense);
    copy_layer(g.bias_md, g.bias, k, const_cast<float*>(bias), layer_copy::from_dense);
}

void rnn_stack::get_layer_grad(int l, float* dw_x, float* dw_h, float* dbias) const {
    auto [gi, k] = find_layer(l);
    const group& g = *groups_[gi];
    copy_layer(g.w_x_md, g.dw_x, k, dw_x, layer_copy::to_dense);
    copy_layer(g.w_h_md, g.dw_h, k, dw_h, layer_copy::to_dense);
    copy_layer(g.bias_md, g.dbias, k, dbias, layer_copy::to_dense);
}

void rnn_stack::init_uniform(uint64_t seed) {
    const int G = gate_count(cell_), Gb = bias_gate_count(cell_), H = hidden_;
    const float bound = 1.f / std::sqrt(static_cast<float>(H));
    for (int l = 0; l < layers_; ++l) {
        const int in = l == 0 ? input_ : H;
        std::vector<float> w_x(static_cast<size_t>(in) * G * H), w_h(static_cast<size_t>(H) * G * H),
            bias(static_cast<size_t>(Gb) * H);
        int tensor = 0;
        for (auto* v : {&w_x, &w_h, &bias}) {
            const uint64_t key = mix64(mix64(seed) ^ (static_cast<uint64_t>(l) * 3 + tensor++));
            for (size_t i = 0; i < v->size(); ++i) (*v)[i] = (2.f * uniform01(key, i) - 1.f) * bound;
        }
        if (cell_ == cell_type::lstm) {
            for (int o = 0; o < H; ++o) bias[static_cast<size_t>(1) * H + o] = 1.f;  // gate f
        }
        set_layer(l, w_x.data(), w_h.data(), bias.data());
    }
}

}  // namespace charlm::nn
