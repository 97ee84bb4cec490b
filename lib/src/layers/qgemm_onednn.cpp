// The bf16 output layer on oneDNN's bf16 matmul (see qgemm.h): the weights copied once into the
// layout oneDNN picks for 16 rows, one primitive per (M, ldy, ldx) made on first use and kept.
// Sessions on several threads share a qlinear: the cache is locked, and each thread executes on
// its own stream. Not here: charlm's own kernels (qgemm.cpp).
#include <oneapi/dnnl/dnnl.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include "charlm/status.hpp"
#include "layers/qgemm.h"

namespace charlm::nn {

using dnnl::memory;
using dt = memory::data_type;
using tag = memory::format_tag;

namespace {

// One engine for every bf16_matmul, so that one stream per thread runs them all.
const dnnl::engine& cpu_engine() {
    static const dnnl::engine e(dnnl::engine::kind::cpu, 0);
    return e;
}

}  // namespace

struct bf16_matmul {
    int out = 0, in = 0;
    const dnnl::engine& eng = cpu_engine();
    memory::desc w_desc;  // (K, O) in oneDNN's layout for 16 rows
    memory w;
    mutable std::mutex mutex;
    // (M, ldy, ldx) -> primitive; at most k_kept (a server sees many row counts), held by the
    // callers running them while the cache lets them go.
    mutable std::map<std::tuple<size_t, size_t, size_t>, std::shared_ptr<const dnnl::matmul>> prims;
    static constexpr size_t k_kept = 64;
};

std::shared_ptr<const bf16_matmul> make_bf16_matmul(const float* w, int out, int in) {
    auto mm = std::make_shared<bf16_matmul>();
    mm->out = out;
    mm->in = in;
    const memory::dim K = in, O = out;
    const memory::desc any({K, O}, dt::bf16, tag::any);
    mm->w_desc = dnnl::matmul::primitive_desc({{{16, K}, dt::bf16, tag::ab}, any, {{16, O}, dt::f32, tag::ab}}, mm->eng)
                     .weights_desc();
    mm->w = memory(mm->w_desc, mm->eng);
    memory user({{K, O}, dt::f32, tag::ba}, mm->eng, const_cast<float*>(w));  // W (O, K) row-major is W^T ba
    dnnl::stream strm(mm->eng);
    dnnl::reorder(user, mm->w).execute(strm, user, mm->w);
    strm.wait();
    return mm;
}

namespace {

std::shared_ptr<const dnnl::matmul> primitive_for(const bf16_matmul& mm, size_t M, size_t ldy, size_t ldx) {
    std::lock_guard<std::mutex> lock(mm.mutex);
    const auto key = std::make_tuple(M, ldy, ldx);
    if (auto it = mm.prims.find(key); it != mm.prims.end()) return it->second;
    if (mm.prims.size() >= bf16_matmul::k_kept) mm.prims.clear();
    const auto m = static_cast<memory::dim>(M);
    const memory::desc src({m, mm.in}, dt::bf16, memory::dims{static_cast<memory::dim>(ldx), 1});
    const memory::desc dst({m, mm.out}, dt::f32, memory::dims{static_cast<memory::dim>(ldy), 1});
    auto prim = std::make_shared<const dnnl::matmul>(dnnl::matmul::primitive_desc({src, mm.w_desc, dst}, mm.eng));
    mm.prims.emplace(key, prim);
    return prim;
}

}  // namespace

void bf16_matmul_forward(const bf16_matmul& mm, float* y, size_t ldy, const uint16_t* xb, size_t ldx, size_t M) {
    const auto prim = primitive_for(mm, M, ldy, ldx);
    const auto m = static_cast<memory::dim>(M);
    thread_local dnnl::stream strm(cpu_engine());
    memory src({{m, mm.in}, dt::bf16, memory::dims{static_cast<memory::dim>(ldx), 1}}, mm.eng,
               const_cast<uint16_t*>(xb));
    memory dst({{m, mm.out}, dt::f32, memory::dims{static_cast<memory::dim>(ldy), 1}}, mm.eng, y);
    prim->execute(strm, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, mm.w}, {DNNL_ARG_DST, dst}});
    strm.wait();
}

}  // namespace charlm::nn
