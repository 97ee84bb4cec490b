// rnn_weights, rnn_stack and rnn_generator: groups of stacked recurrent layers on oneDNN 2.6 RNN
// primitives (see rnn_stack.h). Layouts: master weights and grads in the forward `any` layout
// (padded ldigo), one reorder per training step into the backward layout (padded ldgoi); states
// in ldnc; activations in tnc. Not here: the per-cell descriptor plumbing (rnn_primitives.cpp).
#include "dnnl/rnn_stack.h"

#include <algorithm>
#include <array>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "charlm/status.hpp"
#include "dnnl/rnn_primitives.h"
#include "layers/qgemm.h"

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

float* aligned_zeros(size_t count) {
    const size_t bytes = std::max<size_t>(64, (count * sizeof(float) + 63) / 64 * 64);
    auto* p = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (!p) throw out_of_memory(bytes);
    std::memset(p, 0, bytes);
    return p;
}

std::shared_ptr<float> shared_zeros(size_t count) { return std::shared_ptr<float>(aligned_zeros(count), std::free); }

size_t floats(const md& d) { return (d.get_size() + sizeof(float) - 1) / sizeof(float); }

constexpr auto bf16 = memory::data_type::bf16;

void round_to_bf16(uint16_t* to, const float* from, size_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; ++i) to[i] = to_bf16(from[i]);
}
void widen_bf16(float* to, const uint16_t* from, size_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; ++i) to[i] = from_bf16(from[i]);
}

// bf16 training: the layouts oneDNN chooses for a group's bf16 weights, forward (w_x, w_h) and
// backward (w_x, w_h), chosen once on a nominal shape as the f32 master layouts are; the gradients
// stay in the f32 master layouts (w_x_md, w_h_md), which the bf16 backward must accept.
std::array<md, 4> bf16_weight_layouts(const dnnl::engine& eng, cell_type cell, int count, int input, int hidden,
                                      const md& w_x_md, const md& w_h_md) {
    const int G = gate_count(cell);
    rnn_mds m = make_rnn_mds(cell, count, input, hidden, 1, 1, bf16);
    m.w_x = m.bwd_w_x = md(dims_of({count, 1, input, G, hidden}), bf16, any);
    m.w_h = m.bwd_w_h = md(dims_of({count, 1, hidden, G, hidden}), bf16, any);
    m.diff_w_x = w_x_md;
    m.diff_w_h = w_h_md;
    rnn_pds pds = make_rnn_pds(eng, cell, m);
    CHARLM_ASSERT(pds.bwd.diff_weights_layer_desc() == w_x_md && pds.bwd.diff_weights_iter_desc() == w_h_md);
    return {pds.train.weights_layer_desc(), pds.train.weights_iter_desc(), pds.bwd.weights_layer_desc(),
            pds.bwd.weights_iter_desc()};
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// rnn_weights

// Shape-independent part of a group of layers [first, first + count).
struct rnn_weights::group {
    int first = 0, count = 1, input = 0;  // input: width of the group's src_layer
    md w_x_md, w_h_md, bias_md;           // (Lg,1,Ig,G,H) / (Lg,1,H,G,H) padded ldigo, (Lg,1,Gb,H) ldgo
    md bwd_w_x_md, bwd_w_h_md;            // the same in the backward layout, padded ldgoi
    float *w_x = nullptr, *w_h = nullptr, *bias = nullptr;  // master weights, in the region
    size_t off_w_x = 0, off_w_h = 0, off_bias = 0;          // their offsets in the region (floats)
    memory m_w_x, m_w_h, m_bias;
};

// Entries are never changed once made; weights_changed() drops them all (generators keep theirs
// alive through their shared_ptr).
struct rnn_weights::cache {
    struct entry {
        int group, which;
        md desc;
        std::shared_ptr<const float> data;
    };
    std::mutex mutex;
    std::vector<entry> entries;
    std::shared_ptr<const float> table;  // layer 0's folded input table
    const float* table_rows = nullptr;
    int table_row_count = 0;
    size_t builds = 0;
};

rnn_weights::rnn_weights(const dnnl::engine& eng, cell_type cell, int layers, int input, int hidden,
                         bool group_per_layer)
    : eng_(eng), cell_(cell), layers_(layers), input_(input), hidden_(hidden), cache_(std::make_unique<cache>()) {
    CHARLM_ASSERT(layers >= 1 && input >= 1 && hidden >= 1);
    // Grouping: see the comment at the top of rnn_stack.h.
    std::vector<std::pair<int, int>> spans;  // (first, count)
    if (group_per_layer) {
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
        // Let oneDNN choose the weight layouts once, on a nominal shape; sessions then pass these
        // layouts explicitly so that every shape shares the master buffers.
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
        // Each tensor starts on a 64-byte line of the region.
        const auto aligned = [](size_t n) { return (n + 15) / 16 * 16; };
        g->off_w_x = region_floats_;
        g->off_w_h = g->off_w_x + aligned(floats(g->w_x_md));
        g->off_bias = g->off_w_h + aligned(floats(g->w_h_md));
        region_floats_ = g->off_bias + aligned(floats(g->bias_md));
        groups_.push_back(std::move(g));
    }
    own_.reset(aligned_zeros(region_floats_));
    bind(own_.get());
}

void rnn_weights::bind(float* region) {
    region_ = region;
    for (auto& g : groups_) {
        g->w_x = region + g->off_w_x;
        g->w_h = region + g->off_w_h;
        g->bias = region + g->off_bias;
        g->m_w_x = memory(g->w_x_md, eng_, g->w_x);
        g->m_w_h = memory(g->w_h_md, eng_, g->w_h);
        g->m_bias = memory(g->bias_md, eng_, g->bias);
    }
}

void rnn_weights::place(float* region) {
    std::memcpy(region, region_, region_floats_ * sizeof(float));
    bind(region);
    own_.reset();
    weights_changed();
}

std::vector<rnn_weights::layer_slices> rnn_weights::slices() const {
    std::vector<layer_slices> out;
    for (int l = 0; l < layers_; ++l) {
        auto [gi, k] = find_layer(l);
        const group& g = *groups_[gi];
        // Plain layouts with the layer outermost: layer k is the k-th of `count` equal parts.
        const size_t wx = floats(g.w_x_md) / g.count, wh = floats(g.w_h_md) / g.count, b = floats(g.bias_md) / g.count;
        out.push_back({{g.off_w_x + k * wx, wx}, {g.off_w_h + k * wh, wh}, {g.off_bias + k * b, b}});
    }
    return out;
}

void rnn_weights::get_layer_of(const float* region, int l, float* w_x, float* w_h, float* bias) const {
    auto [gi, k] = find_layer(l);
    const group& g = *groups_[gi];
    copy_layer(g.w_x_md, const_cast<float*>(region) + g.off_w_x, k, w_x, layer_copy::to_dense);
    copy_layer(g.w_h_md, const_cast<float*>(region) + g.off_w_h, k, w_h, layer_copy::to_dense);
    copy_layer(g.bias_md, const_cast<float*>(region) + g.off_bias, k, bias, layer_copy::to_dense);
}

void rnn_weights::set_layer_of(float* region, int l, const float* w_x, const float* w_h, const float* bias) {
    auto [gi, k] = find_layer(l);
    const group& g = *groups_[gi];
    copy_layer(g.w_x_md, region + g.off_w_x, k, const_cast<float*>(w_x), layer_copy::from_dense);
    copy_layer(g.w_h_md, region + g.off_w_h, k, const_cast<float*>(w_h), layer_copy::from_dense);
    copy_layer(g.bias_md, region + g.off_bias, k, const_cast<float*>(bias), layer_copy::from_dense);
    if (region == region_) weights_changed();
}

rnn_weights::~rnn_weights() = default;

void rnn_weights::free_floats::operator()(float* p) const { std::free(p); }

std::vector<param_view> rnn_weights::params() {
    std::vector<param_view> out;
    for (auto& g : groups_) {
        std::string layers = "_l";  // appended, not operator+: avoids a g++ 12 -Wrestrict false positive
        layers += std::to_string(g->first);
        if (g->count > 1) {
            layers += '-';
            layers += std::to_string(g->first + g->count - 1);
        }
        out.push_back({"rnn.weight_ih" + layers, g->w_x, nullptr, floats(g->w_x_md)});
        out.push_back({"rnn.weight_hh" + layers, g->w_h, nullptr, floats(g->w_h_md)});
        out.push_back({"rnn.bias_ih" + layers, g->bias, nullptr, floats(g->bias_md)});
    }
    return out;
}

void rnn_weights::weights_changed() {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    cache_->entries.clear();
    cache_->table.reset();
}

size_t rnn_weights::cache_builds() const {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    return cache_->builds;
}

std::pair<int, int> rnn_weights::find_layer(int l) const {
    CHARLM_ASSERT(l >= 0 && l < layers_);
    for (int g = 0; g < group_count(); ++g) {
        if (l < groups_[g]->first + groups_[g]->count) return {g, l - groups_[g]->first};
    }
    CHARLM_ASSERT(false);
    return {0, 0};
}

void rnn_weights::get_layer(int l, float* w_x, float* w_h, float* bias) const {
    get_layer_of(region_, l, w_x, w_h, bias);
}

void rnn_weights::set_layer(int l, const float* w_x, const float* w_h, const float* bias) {
    set_layer_of(region_, l, w_x, w_h, bias);
}

void rnn_weights::init_uniform(uint64_t seed) {
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

std::shared_ptr<const float> rnn_weights::frozen(int gi, int which, const md& d) const {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    for (const auto& e : cache_->entries)
        if (e.group == gi && e.which == which && e.desc == d) return e.data;
    const group& g = *groups_[gi];
    std::shared_ptr<float> buf = shared_zeros(floats(d));
    if (which == 2) {
        std::memcpy(buf.get(), g.bias, g.bias_md.get_size());
    } else {
        // Built off any session's stream: a stream of its own, here, under the lock.
        dnnl::stream strm(eng_);
        const memory& from = which == 0 ? g.m_w_x : g.m_w_h;
        memory to(d, eng_, buf.get());
        dnnl::reorder(from, to).execute(strm, const_cast<memory&>(from), to);
        strm.wait();
    }
    ++cache_->builds;
    cache_->entries.push_back({gi, which, d, buf});
    return buf;
}

std::shared_ptr<const float> rnn_weights::folded_table(const float* input_rows, int rows) const {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    auto& c = *cache_;
    if (c.table && c.table_rows == input_rows && c.table_row_count == rows) return c.table;
    const int G = gate_count(cell_), Gb = bias_gate_count(cell_), H = hidden_, I = input_, GH = G * H;
    std::shared_ptr<float> table = shared_zeros(static_cast<size_t>(rows) * Gb * H);
    std::vector<float> w_x(static_cast<size_t>(I) * GH), bias(static_cast<size_t>(Gb) * H);
    const group& g0 = *groups_[0];
    copy_layer(g0.w_x_md, g0.w_x, 0, w_x.data(), layer_copy::to_dense);
    copy_layer(g0.bias_md, g0.bias, 0, bias.data(), layer_copy::to_dense);
    std::vector<double> acc(static_cast<size_t>(GH));
    for (int r = 0; r < rows; ++r) {
        float* row = table.get() + static_cast<size_t>(r) * Gb * H;
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
    ++c.builds;
    c.table = table;
    c.table_rows = input_rows;
    c.table_row_count = rows;
    return table;
}

// ---------------------------------------------------------------------------------------------
// rnn_stack: training and evaluation sessions

void rnn_stack::free_deleter::operator()(float* p) const { std::free(p); }

// Per group: gradients in the master layout, the weights in the backward layout (a per-step
// reorder, written by this session only).
struct rnn_stack::group_grads {
    float *dw_x = nullptr, *dw_h = nullptr, *dbias = nullptr;
    memory m_dw_x, m_dw_h, m_dbias, m_bwd_w_x, m_bwd_w_h;
    dnnl::reorder to_bwd_x, to_bwd_h;  // master -> backward layout, once per backward()
    // bf16 training: the master weights rounded to bf16 in the forward layout (and m_bwd_w_* hold
    // bf16), both written once per step, at forward_training().
    memory m_fwd_w_x, m_fwd_w_h;
    dnnl::reorder to_fwd_x, to_fwd_h;
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
    // bf16 training: the group's input (group 0: src rounded), its output as the primitive writes
    // it (widened into `out` where read in f32) and the dropout's output.
    uint16_t *in_bf = nullptr, *out_bf = nullptr, *dropped_bf = nullptr;
    std::unordered_map<int, memory> train_args, infer_args, bwd_args;
};

struct rnn_stack::state_set {
    int batch = 0;
    float* h[2] = {nullptr, nullptr};  // (L, N, H) ldnc, ping-pong
    float* c[2] = {nullptr, nullptr};  // (L, N, H) ldnc, LSTM only
    uint16_t* hb[2] = {nullptr, nullptr};  // bf16 training: h as the primitives read and write it
    float *diff_h0 = nullptr, *diff_c0 = nullptr;  // (L, N, H): gradient w.r.t. the initial state
    float* zeros = nullptr;  // (L, N, H): diff_dst_iter(_c), the truncation of BPTT
    int cur = 0;             // the initial state is h[cur], c[cur]
    int last = 0;            // the last forward's final state is h[last], c[last]
    bool reset_pending = false;
};

struct rnn_stack::shape {
    int steps = 0, batch = 0;
    state_set* states = nullptr;
    std::vector<shape_group> groups;
    float* diff_src_scratch = nullptr;  // (T, N, I): diff_src when the caller passes null
};

rnn_stack::rnn_stack(const rnn_weights& w, float dropout, uint64_t dropout_seed, bool gradients, float* grad_region,
                     bool bf16_training)
    : w_(w), strm_(w.eng_), cell_(w.cell_), layers_(w.layers_), input_(w.input_), hidden_(w.hidden_),
      dropout_(dropout), dropout_seed_(dropout_seed), bf16_(bf16_training) {
    CHARLM_ASSERT(dropout >= 0.f && dropout < 1.f);
    CHARLM_ASSERT(!bf16_ || gradients);  // bf16 here is training's
    CHARLM_ASSERT(dropout == 0.f || layers_ == 1 || w.group_count() == layers_);  // a group per layer
    if (!gradients) return;
    // Gradients at the weights' offsets, in the caller's region or in one of our own.
    float* region = grad_region ? grad_region : alloc(w_.region_floats_);
    for (const auto& g : w_.groups_) {
        group_grads gg;
        gg.dw_x = region + g->off_w_x;
        gg.dw_h = region + g->off_w_h;
        gg.dbias = region + g->off_bias;
        gg.m_dw_x = memory(g->w_x_md, w_.eng_, gg.dw_x);
        gg.m_dw_h = memory(g->w_h_md, w_.eng_, gg.dw_h);
        gg.m_dbias = memory(g->bias_md, w_.eng_, gg.dbias);
        std::array<md, 4> d{g->w_x_md, g->w_h_md, g->bwd_w_x_md, g->bwd_w_h_md};
        if (bf16_) d = bf16_weight_layouts(w_.eng_, cell_, g->count, g->input, hidden_, g->w_x_md, g->w_h_md);
        gg.m_bwd_w_x = memory(d[2], w_.eng_, alloc(floats(d[2])));
        gg.m_bwd_w_h = memory(d[3], w_.eng_, alloc(floats(d[3])));
        gg.to_bwd_x = dnnl::reorder(g->m_w_x, gg.m_bwd_w_x);
        gg.to_bwd_h = dnnl::reorder(g->m_w_h, gg.m_bwd_w_h);
        stats_.primitives += 2;
        if (bf16_) {
            gg.m_fwd_w_x = memory(d[0], w_.eng_, alloc(floats(d[0])));
            gg.m_fwd_w_h = memory(d[1], w_.eng_, alloc(floats(d[1])));
            gg.to_fwd_x = dnnl::reorder(g->m_w_x, gg.m_fwd_w_x);
            gg.to_fwd_h = dnnl::reorder(g->m_w_h, gg.m_fwd_w_h);
            stats_.primitives += 2;
        }
        grads_.push_back(std::move(gg));
    }
}

rnn_stack::~rnn_stack() = default;

float* rnn_stack::alloc(size_t count) {
    float* p = aligned_zeros(count);
    owned_.emplace_back(p);
    ++stats_.buffers;
    return p;
}

uint16_t* rnn_stack::alloc_bf16(size_t count) { return reinterpret_cast<uint16_t*>(alloc((count + 1) / 2)); }

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
        if (bf16_) {
            slot->hb[0] = alloc_bf16(n);
            slot->hb[1] = alloc_bf16(n);
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
    const int ng = w_.group_count();
    const bool training = !grads_.empty();
    s->groups.resize(ng);
    s->diff_src_scratch = training ? alloc(static_cast<size_t>(steps) * batch * input_) : nullptr;
    for (int gi = 0; gi < ng; ++gi) {
        const rnn_weights::group& g = *w_.groups_[gi];
        rnn_mds m = make_rnn_mds(cell_, g.count, g.input, hidden_, steps, batch, bf16_ ? bf16 : f32);
        m.w_x = m.diff_w_x = g.w_x_md;
        m.w_h = m.diff_w_h = g.w_h_md;
        m.bwd_w_x = training ? grads_[gi].m_bwd_w_x.get_desc() : g.bwd_w_x_md;
        m.bwd_w_h = training ? grads_[gi].m_bwd_w_h.get_desc() : g.bwd_w_h_md;
        if (bf16_) {
            m.w_x = grads_[gi].m_fwd_w_x.get_desc();
            m.w_h = grads_[gi].m_fwd_w_h.get_desc();
        }
        s->groups[gi].out = alloc(static_cast<size_t>(steps) * batch * hidden_);
        if (training)
            prepare_training(*s, gi, m);
        else
            prepare_inference(*s, gi, m);
    }
    current_ = s.get();
    slot = std::move(s);
}

// Evaluation: group gi's inference primitive alone, reading the group below's output.
void rnn_stack::prepare_inference(shape& s, int gi, const rnn_mds& m) {
    const rnn_weights::group& g = *w_.groups_[gi];
    shape_group& sg = s.groups[gi];
    const state_set& st = *s.states;
    const size_t off = static_cast<size_t>(g.first) * s.batch * hidden_;
    sg.infer = dnnl::primitive(make_rnn_infer_pd(w_.eng_, cell_, m));
    ++stats_.primitives;
    sg.src_layer = memory(m.src_layer, w_.eng_, gi == 0 ? sg.out : s.groups[gi - 1].out);
    sg.dst_layer = memory(m.dst_layer, w_.eng_, sg.out);
    sg.src_iter = memory(m.src_iter, w_.eng_, st.h[0] + off);
    sg.dst_iter = memory(m.dst_iter, w_.eng_, st.h[1] + off);
    sg.infer_args = {{DNNL_ARG_SRC_LAYER, sg.src_layer}, {DNNL_ARG_SRC_ITER, sg.src_iter},
                     {DNNL_ARG_WEIGHTS_LAYER, g.m_w_x},  {DNNL_ARG_WEIGHTS_ITER, g.m_w_h},
                     {DNNL_ARG_BIAS, g.m_bias},          {DNNL_ARG_DST_LAYER, sg.dst_layer},
                     {DNNL_ARG_DST_ITER, sg.dst_iter}};
    if (cell_ == cell_type::lstm) {
        sg.src_iter_c = memory(m.src_iter_c, w_.eng_, st.c[0] + off);
        sg.dst_iter_c = memory(m.dst_iter_c, w_.eng_, st.c[1] + off);
        sg.infer_args.insert({{DNNL_ARG_SRC_ITER_C, sg.src_iter_c}, {DNNL_ARG_DST_ITER_C, sg.dst_iter_c}});
    }
}

// Training: group gi's three primitives (forward training, forward inference, backward), its
// workspace, dropout buffers and the arguments of each; handles are set per call.
void rnn_stack::prepare_training(shape& s, int gi, const rnn_mds& m) {
    const rnn_weights::group& g = *w_.groups_[gi];
    shape_group& sg = s.groups[gi];
    const state_set& st = *s.states;
    const int ng = w_.group_count();
    const size_t off = static_cast<size_t>(g.first) * s.batch * hidden_;
    const size_t tnh = static_cast<size_t>(s.steps) * s.batch * hidden_;
    rnn_pds pds = make_rnn_pds(w_.eng_, cell_, m);
    CHARLM_ASSERT(pds.train.weights_layer_desc() == m.w_x);
    CHARLM_ASSERT(pds.bwd.weights_layer_desc() == m.bwd_w_x);
    CHARLM_ASSERT(pds.bwd.diff_weights_iter_desc() == g.w_h_md);
    CHARLM_ASSERT(pds.bwd.workspace_desc() == pds.train.workspace_desc());
    sg.train = dnnl::primitive(pds.train);
    sg.infer = dnnl::primitive(pds.infer);
    sg.bwd = dnnl::primitive(pds.bwd);
    stats_.primitives += 3;

    if (gi + 1 < ng) sg.diff_out = alloc(tnh);
    if (dropout_ > 0.f && gi + 1 < ng) {
        sg.mask = alloc(tnh);
        sg.dropped = alloc(tnh);
    }
    sg.workspace = memory(pds.train.workspace_desc(), w_.eng_);
    ++stats_.buffers;
    if (bf16_) {
        if (gi == 0) sg.in_bf = alloc_bf16(static_cast<size_t>(s.steps) * s.batch * g.input);
        sg.out_bf = alloc_bf16(tnh);
        if (sg.dropped) sg.dropped_bf = alloc_bf16(tnh);
    }
    // Placeholders for handles set per call: any valid buffer of sufficient size.
    const group_grads& gg = grads_[gi];
    void* below = gi == 0 ? (bf16_ ? static_cast<void*>(sg.in_bf) : s.diff_src_scratch)
                          : (bf16_ ? static_cast<void*>(s.groups[gi - 1].out_bf) : s.groups[gi - 1].out);
    void* h0 = bf16_ ? static_cast<void*>(st.hb[0] + off) : st.h[0] + off;
    void* h1 = bf16_ ? static_cast<void*>(st.hb[1] + off) : st.h[1] + off;
    sg.src_layer = memory(m.src_layer, w_.eng_, below);
    sg.dst_layer = memory(m.dst_layer, w_.eng_, bf16_ ? static_cast<void*>(sg.out_bf) : sg.out);
    sg.src_iter = memory(m.src_iter, w_.eng_, h0);
    sg.dst_iter = memory(m.dst_iter, w_.eng_, h1);
    sg.diff_src_layer =
        memory(m.diff_src_layer, w_.eng_, gi == 0 ? s.diff_src_scratch : s.groups[gi - 1].diff_out);
    sg.diff_dst_layer = memory(m.diff_dst_layer, w_.eng_, gi + 1 < ng ? sg.diff_out : sg.out);
    sg.diff_src_iter = memory(m.diff_src_iter, w_.eng_, st.diff_h0 + off);
    sg.diff_dst_iter = memory(m.diff_dst_iter, w_.eng_, st.zeros + off);
    const memory& w_x = bf16_ ? gg.m_fwd_w_x : g.m_w_x;
    const memory& w_h = bf16_ ? gg.m_fwd_w_h : g.m_w_h;
    sg.train_args = {{DNNL_ARG_SRC_LAYER, sg.src_layer}, {DNNL_ARG_SRC_ITER, sg.src_iter},
                     {DNNL_ARG_WEIGHTS_LAYER, w_x},      {DNNL_ARG_WEIGHTS_ITER, w_h},
                     {DNNL_ARG_BIAS, g.m_bias},          {DNNL_ARG_DST_LAYER, sg.dst_layer},
                     {DNNL_ARG_DST_ITER, sg.dst_iter},   {DNNL_ARG_WORKSPACE, sg.workspace}};
    sg.infer_args = sg.train_args;
    sg.infer_args.erase(DNNL_ARG_WORKSPACE);
    sg.bwd_args = sg.train_args;
    sg.bwd_args[DNNL_ARG_WEIGHTS_LAYER] = gg.m_bwd_w_x;
    sg.bwd_args[DNNL_ARG_WEIGHTS_ITER] = gg.m_bwd_w_h;
    sg.bwd_args.insert({{DNNL_ARG_DIFF_SRC_LAYER, sg.diff_src_layer},
                        {DNNL_ARG_DIFF_SRC_ITER, sg.diff_src_iter},
                        {DNNL_ARG_DIFF_WEIGHTS_LAYER, gg.m_dw_x},
                        {DNNL_ARG_DIFF_WEIGHTS_ITER, gg.m_dw_h},
                        {DNNL_ARG_DIFF_BIAS, gg.m_dbias},
                        {DNNL_ARG_DIFF_DST_LAYER, sg.diff_dst_layer},
                        {DNNL_ARG_DIFF_DST_ITER, sg.diff_dst_iter}});
    if (cell_ == cell_type::lstm) {
        sg.src_iter_c = memory(m.src_iter_c, w_.eng_, st.c[0] + off);
        sg.dst_iter_c = memory(m.dst_iter_c, w_.eng_, st.c[1] + off);
        sg.diff_src_iter_c = memory(m.src_iter_c, w_.eng_, st.diff_c0 + off);
        sg.diff_dst_iter_c = memory(m.dst_iter_c, w_.eng_, st.zeros + off);
        for (auto* args : {&sg.train_args, &sg.infer_args, &sg.bwd_args})
            args->insert({{DNNL_ARG_SRC_ITER_C, sg.src_iter_c}, {DNNL_ARG_DST_ITER_C, sg.dst_iter_c}});
        sg.bwd_args.insert({{DNNL_ARG_DIFF_SRC_ITER_C, sg.diff_src_iter_c},
                            {DNNL_ARG_DIFF_DST_ITER_C, sg.diff_dst_iter_c}});
    }
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
    const state_set& st = *s.states;
    const size_t off = static_cast<size_t>(w_.groups_[g]->first) * s.batch * hidden_;
    if (bf16_) {
        sg.src_iter.set_data_handle(st.hb[from] + off);
        sg.dst_iter.set_data_handle(st.hb[to] + off);
    } else {
        sg.src_iter.set_data_handle(st.h[from] + off);
        sg.dst_iter.set_data_handle(st.h[to] + off);
    }
    if (cell_ == cell_type::lstm) {
        sg.src_iter_c.set_data_handle(st.c[from] + off);
        sg.dst_iter_c.set_data_handle(st.c[to] + off);
    }
}

void fill_dropout_mask(float* mask, size_t steps, size_t N, size_t width, float p, uint64_t seed, uint64_t call,
                       uint64_t slot, size_t first, size_t global) {
    if (global == 0) global = N;
    CHARLM_ASSERT(first + N <= global && p >= 0.f && p < 1.f);
    const size_t rows = steps * N;
    const float keep_scale = 1.f / (1.f - p);
    const uint64_t key = mix64(mix64(seed) ^ call) ^ (slot << 48);
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; ++r) {
        const size_t at = (r / N * global + first + r % N) * width;  // row (t, n) of the whole batch
        for (size_t h = 0; h < width; ++h) mask[r * width + h] = uniform01(key, at + h) < p ? 0.f : keep_scale;
    }
}

// Masks for every group boundary (slot g) of this forward_training call.
void rnn_stack::make_dropout_masks(shape& s) {
    for (int g = 0; g + 1 < w_.group_count(); ++g)
        fill_dropout_mask(s.groups[g].mask, static_cast<size_t>(s.steps), static_cast<size_t>(s.batch), static_cast<size_t>(hidden_),
                          dropout_, dropout_seed_, dropout_calls_, static_cast<uint64_t>(g), stream_first_,
                          stream_global_);
}

// bf16 training: the step's weights (the optimizer has changed the master copy since the last
// forward), its input and initial h rounded to bf16.
void rnn_stack::round_inputs_to_bf16(shape& s, const float* src, int from) {
    for (size_t g = 0; g < grads_.size(); ++g) {
        const rnn_weights::group& wg = *w_.groups_[g];
        group_grads& gg = grads_[g];
        gg.to_fwd_x.execute(strm_, const_cast<memory&>(wg.m_w_x), gg.m_fwd_w_x);
        gg.to_fwd_h.execute(strm_, const_cast<memory&>(wg.m_w_h), gg.m_fwd_w_h);
        gg.to_bwd_x.execute(strm_, const_cast<memory&>(wg.m_w_x), gg.m_bwd_w_x);
        gg.to_bwd_h.execute(strm_, const_cast<memory&>(wg.m_w_h), gg.m_bwd_w_h);
    }
    strm_.wait();
    round_to_bf16(s.groups[0].in_bf, src, static_cast<size_t>(s.steps) * s.batch * input_);
    round_to_bf16(s.states->hb[from], s.states->h[from], static_cast<size_t>(layers_) * s.batch * hidden_);
}

// The input of group g > 0 at training: the output of the group below, after its dropout.
void* rnn_stack::training_input(shape& s, int g) const {
    const shape_group& below = s.groups[g - 1];
    if (bf16_) return below.dropped_bf ? below.dropped_bf : below.out_bf;
    return below.dropped ? below.dropped : below.out;
}

const float* rnn_stack::forward_training(const float* src) {
    CHARLM_ASSERT(!grads_.empty());  // a session made with gradients
    shape& s = current();
    state_set& st = *s.states;
    apply_pending_reset(st);
    const int from = st.cur, to = 1 - st.cur, ng = w_.group_count();
    const size_t n = static_cast<size_t>(s.steps) * s.batch * hidden_;
    ++dropout_calls_;
    if (dropout_ > 0.f) make_dropout_masks(s);
    if (bf16_) round_inputs_to_bf16(s, src, from);
    for (int g = 0; g < ng; ++g) {
        shape_group& sg = s.groups[g];
        sg.src_layer.set_data_handle(g > 0 ? training_input(s, g)
                                           : (bf16_ ? static_cast<void*>(sg.in_bf) : const_cast<float*>(src)));
        bind_states(s, g, from, to);
        sg.train.execute(strm_, sg.train_args);
        if (bf16_ && (sg.dropped || g + 1 == ng)) {
            strm_.wait();
            widen_bf16(sg.out, sg.out_bf, n);
        }
        if (sg.dropped_bf) {
            const float *out = sg.out, *mask = sg.mask;
            uint16_t* dropped = sg.dropped_bf;
#pragma omp parallel for schedule(static)
            for (size_t i = 0; i < n; ++i) dropped[i] = to_bf16(out[i] * mask[i]);
        } else if (sg.dropped) {
            // Inverted dropout into a separate buffer: backward still reads `out`.
            strm_.wait();
            const float *out = sg.out, *mask = sg.mask;
            float* dropped = sg.dropped;
#pragma omp parallel for simd schedule(static)
            for (size_t i = 0; i < n; ++i) dropped[i] = out[i] * mask[i];
        }
    }
    strm_.wait();
    if (bf16_) widen_bf16(st.h[to], st.hb[to], static_cast<size_t>(layers_) * s.batch * hidden_);
    st.last = to;
    pending_ = &s;
    pending_from_ = from;
    pending_src_ = src;
    return s.groups.back().out;
}

const float* rnn_stack::forward_inference(const float* src) {
    CHARLM_ASSERT(!bf16_);  // bf16 sessions train; evaluation is a session of its own
    shape& s = current();
    state_set& st = *s.states;
    apply_pending_reset(st);
    const int from = st.cur, to = 1 - st.cur;
    pending_ = nullptr;  // overwrites the training forward's output and final state
    for (int g = 0; g < w_.group_count(); ++g) {
        shape_group& sg = s.groups[g];
        sg.src_layer.set_data_handle(g > 0 ? s.groups[g - 1].out : const_cast<float*>(src));
        bind_states(s, g, from, to);
        sg.infer.execute(strm_, sg.infer_args);
    }
    strm_.wait();
    st.last = to;
    return s.groups.back().out;
}

void rnn_stack::backward(const float* diff_dst, float* diff_src) {
    shape& s = current();
    CHARLM_ASSERT(pending_ == &s);  // needs forward_training() of this shape, and only one backward
    const int ng = w_.group_count();
    const size_t n = static_cast<size_t>(s.steps) * s.batch * hidden_;
    for (int g = 0; g < ng && !bf16_; ++g) {  // bf16: rounded at the forward
        const rnn_weights::group& wg = *w_.groups_[g];
        group_grads& gg = grads_[g];
        gg.to_bwd_x.execute(strm_, const_cast<memory&>(wg.m_w_x), gg.m_bwd_w_x);
        gg.to_bwd_h.execute(strm_, const_cast<memory&>(wg.m_w_h), gg.m_bwd_w_h);
    }
    for (int g = ng - 1; g >= 0; --g) {
        shape_group& sg = s.groups[g];
        if (g == 0) {
            sg.src_layer.set_data_handle(bf16_ ? static_cast<void*>(sg.in_bf) : const_cast<float*>(pending_src_));
            sg.diff_src_layer.set_data_handle(diff_src ? diff_src : s.diff_src_scratch);
        } else {
            sg.src_layer.set_data_handle(training_input(s, g));
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
    for (size_t g = 0; g < grads_.size(); ++g) {
        const rnn_weights::group& wg = *w_.groups_[g];
        std::memset(grads_[g].dw_x, 0, wg.w_x_md.get_size());
        std::memset(grads_[g].dw_h, 0, wg.w_h_md.get_size());
        std::memset(grads_[g].dbias, 0, wg.bias_md.get_size());
    }
}

std::vector<float*> rnn_stack::grads() {
    std::vector<float*> out;
    for (auto& g : grads_) out.insert(out.end(), {g.dw_x, g.dw_h, g.dbias});
    return out;
}

void rnn_stack::get_layer_grad(int l, float* dw_x, float* dw_h, float* dbias) const {
    auto [gi, k] = w_.find_layer(l);
    const rnn_weights::group& g = *w_.groups_[gi];
    const group_grads& gg = grads_[gi];
    copy_layer(g.w_x_md, gg.dw_x, k, dw_x, layer_copy::to_dense);
    copy_layer(g.w_h_md, gg.dw_h, k, dw_h, layer_copy::to_dense);
    copy_layer(g.bias_md, gg.dbias, k, dbias, layer_copy::to_dense);
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

// ---------------------------------------------------------------------------------------------
// rnn_generator

void rnn_generator::free_deleter::operator()(float* p) const { std::free(p); }

// Group gi's primitive at (1, N). Folded group 0: an input of width 1 that is always zero, zero
// input weights, and a bias pointed at the step's row of the folded table.
struct rnn_generator::layer_group {
    dnnl::primitive prim;
    memory src_layer, src_iter, src_iter_c, dst_layer, dst_iter, dst_iter_c, w_x, w_h, bias;
    float* out = nullptr;  // (1, N, H)
    std::unordered_map<int, memory> args;
};

float* rnn_generator::alloc(size_t count) {
    float* p = aligned_zeros(count);
    owned_.emplace_back(p);
    return p;
}

rnn_generator::rnn_generator(const rnn_weights& w, int batch, const float* input_rows, int rows)
    : w_(w), strm_(w.eng_), batch_(batch), rows_(rows), input_rows_(input_rows) {
    CHARLM_ASSERT(batch >= 1 && rows >= 1);
    CHARLM_ASSERT(input_rows != nullptr || rows == w.input_);
    const cell_type cell = w.cell_;
    const int G = gate_count(cell), H = w.hidden_, ng = w.group_count();
    const auto& eng = w.eng_;
    // Folding costs rows x I x G x H multiply-adds once per model (none one-hot): at most 2^26
    // (measured: 8.5M take 1 ms, 2^26 ~20 ms), so a short generation never pays much more than it saves.
    const int64_t fold_macs = input_rows ? int64_t{rows} * w.input_ * G * H : 0;
    folded_ = batch == 1 && w.groups_[0]->count == 1 && static_cast<int64_t>(rows) <= 4 * int64_t{w.input_} &&
              fold_macs <= (int64_t{1} << 26);
    src_ = alloc(static_cast<size_t>(batch) * w.input_);
    if (folded_) table_ = w.folded_table(input_rows, rows);
    const size_t n = static_cast<size_t>(w.layers_) * batch * H;
    for (int k = 0; k < 2; ++k) {
        h_[k] = alloc(n);
        if (cell == cell_type::lstm) c_[k] = alloc(n);
    }
    groups_.resize(ng);
    for (int gi = 0; gi < ng; ++gi) {
        const rnn_weights::group& g = *w.groups_[gi];
        layer_group& lg = groups_[gi];
        const bool fold = gi == 0 && folded_;
        const int in = fold ? 1 : g.input;
        rnn_mds m = make_rnn_mds(cell, g.count, in, H, 1, batch);
        m.w_x = md(dims_of({g.count, 1, in, G, H}), f32, any);
        m.w_h = md(dims_of({g.count, 1, H, G, H}), f32, any);
        auto pd = make_rnn_infer_pd(eng, cell, m);
        const auto make_weights = [&] {
            if (fold) {
                // Zero input weights, written by a reorder: an opaque packed layout (oneDNN's
                // choice for GRU at H = 512) is not valid as plain zero bytes.
                lg.w_x = memory(pd.weights_layer_desc(), eng, alloc(floats(pd.weights_layer_desc())));
                memory zeros(md(dims_of({1, 1, 1, G, H}), f32, memory::format_tag::ldigo), eng,
                             alloc(static_cast<size_t>(G) * H));
                dnnl::reorder(zeros, lg.w_x).execute(strm_, zeros, lg.w_x);
                strm_.wait();
            } else {
                frozen_.push_back(w.frozen(gi, 0, pd.weights_layer_desc()));
                lg.w_x = memory(pd.weights_layer_desc(), eng, const_cast<float*>(frozen_.back().get()));
            }
            frozen_.push_back(w.frozen(gi, 1, pd.weights_iter_desc()));
            lg.w_h = memory(pd.weights_iter_desc(), eng, const_cast<float*>(frozen_.back().get()));
        };
        try {
            make_weights();
        } catch (const dnnl::error&) {
            // No reorder into the chosen layout (some tiny shapes): training's layout, which
            // every inference primitive accepts.
            m.w_x = fold ? md(dims_of({g.count, 1, in, G, H}), f32, memory::format_tag::ldigo) : g.w_x_md;
            m.w_h = g.w_h_md;
            pd = make_rnn_infer_pd(eng, cell, m);
            make_weights();
        }
        lg.prim = dnnl::primitive(pd);
        lg.out = alloc(static_cast<size_t>(batch) * H);
        if (fold) {
            lg.bias = memory(g.bias_md, eng, const_cast<float*>(table_.get()));
        } else {
            frozen_.push_back(w.frozen(gi, 2, g.bias_md));
            lg.bias = memory(g.bias_md, eng, const_cast<float*>(frozen_.back().get()));
        }
        float* below = gi == 0 ? (fold ? alloc(1) : src_) : groups_[gi - 1].out;
        lg.src_layer = memory(m.src_layer, eng, below);
        lg.dst_layer = memory(m.dst_layer, eng, lg.out);
        const size_t off = static_cast<size_t>(g.first) * batch * H;
        lg.src_iter = memory(m.src_iter, eng, h_[0] + off);
        lg.dst_iter = memory(m.dst_iter, eng, h_[1] + off);
        lg.args = {{DNNL_ARG_SRC_LAYER, lg.src_layer}, {DNNL_ARG_SRC_ITER, lg.src_iter},
                   {DNNL_ARG_WEIGHTS_LAYER, lg.w_x},   {DNNL_ARG_WEIGHTS_ITER, lg.w_h},
                   {DNNL_ARG_BIAS, lg.bias},           {DNNL_ARG_DST_LAYER, lg.dst_layer},
                   {DNNL_ARG_DST_ITER, lg.dst_iter}};
        if (cell == cell_type::lstm) {
            lg.src_iter_c = memory(m.src_iter_c, eng, c_[0] + off);
            lg.dst_iter_c = memory(m.dst_iter_c, eng, c_[1] + off);
            lg.args.insert({{DNNL_ARG_SRC_ITER_C, lg.src_iter_c}, {DNNL_ARG_DST_ITER_C, lg.dst_iter_c}});
        }
    }
}

rnn_generator::~rnn_generator() = default;

void rnn_generator::reset_state() {
    const size_t bytes = sizeof(float) * w_.layers_ * batch_ * w_.hidden_;
    std::memset(h_[cur_], 0, bytes);
    if (c_[cur_]) std::memset(c_[cur_], 0, bytes);
}

void rnn_generator::broadcast_state(const rnn_generator& one_row) {
    CHARLM_ASSERT(one_row.batch_ == 1 && &one_row.w_ == &w_);
    const size_t H = static_cast<size_t>(w_.hidden_);
    for (int l = 0; l < w_.layers_; ++l)  // (L, N, H) ldnc from (L, 1, H)
        for (int n = 0; n < batch_; ++n) {
            const size_t to = (static_cast<size_t>(l) * batch_ + n) * H, from = static_cast<size_t>(l) * H;
            std::memcpy(h_[cur_] + to, one_row.h_[one_row.cur_] + from, sizeof(float) * H);
            if (c_[cur_]) std::memcpy(c_[cur_] + to, one_row.c_[one_row.cur_] + from, sizeof(float) * H);
        }
}

void rnn_generator::set_state(const float* h, const float* c) {
    const size_t count = static_cast<size_t>(w_.layers_) * batch_ * w_.hidden_;
    std::memcpy(h_[cur_], h, sizeof(float) * count);
    CHARLM_ASSERT((c == nullptr) == (c_[cur_] == nullptr));
    if (c) std::memcpy(c_[cur_], c, sizeof(float) * count);
}

const float* rnn_generator::final_h() const { return h_[cur_]; }
const float* rnn_generator::final_c() const { return c_[cur_]; }

const float* rnn_generator::step(const int32_t* ids) {
    const int from = cur_, to = 1 - cur_, N = batch_, I = w_.input_, H = w_.hidden_;
    for (int n = 0; n < N; ++n) CHARLM_ASSERT(ids[n] >= 0 && ids[n] < rows_);
    if (folded_) {
        groups_[0].bias.set_data_handle(
            const_cast<float*>(table_.get()) + static_cast<size_t>(ids[0]) * bias_gate_count(w_.cell_) * H);
    } else if (input_rows_) {
        for (int n = 0; n < N; ++n)
            std::memcpy(src_ + static_cast<size_t>(n) * I, input_rows_ + static_cast<size_t>(ids[n]) * I,
                        sizeof(float) * I);
    } else {
        std::memset(src_, 0, sizeof(float) * N * I);
        for (int n = 0; n < N; ++n) src_[static_cast<size_t>(n) * I + ids[n]] = 1.f;
    }
    for (int gi = 0; gi < w_.group_count(); ++gi) {
        layer_group& lg = groups_[gi];
        const size_t off = static_cast<size_t>(w_.groups_[gi]->first) * N * H;
        lg.src_iter.set_data_handle(h_[from] + off);
        lg.dst_iter.set_data_handle(h_[to] + off);
        if (c_[0]) {
            lg.src_iter_c.set_data_handle(c_[from] + off);
            lg.dst_iter_c.set_data_handle(c_[to] + off);
        }
        lg.prim.execute(strm_, lg.args);
    }
    strm_.wait();
    cur_ = to;
    return groups_.back().out;
}

}  // namespace charlm::nn
