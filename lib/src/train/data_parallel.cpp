// Data-parallel steps over the world's ranks (data_parallel.h).
#include "train/data_parallel.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace charlm::detail {

namespace {

// The figures reduced with the gradients, in the gradient buffer's spare floats.
enum tail_slot : size_t { nll_hi, nll_lo, tokens, signal, elapsed_hi, elapsed_lo, since_validation };
static_assert(since_validation < training_session::spare_floats);

// A double as two floats whose sum is it to about 2^-48 (summed over ranks slot by slot), or,
// `packed`, its bits in two floats (carried through ordered_sum's additions untouched by them).
void put(float* at, double v, bool packed) {
    if (packed) {
        std::memcpy(at, &v, sizeof v);
        return;
    }
    at[0] = static_cast<float>(v);
    at[1] = static_cast<float>(v - static_cast<double>(at[0]));
}
double get(const float* at, bool packed) {
    if (packed) {
        double v;
        std::memcpy(&v, at, sizeof v);
        return v;
    }
    return static_cast<double>(at[0]) + static_cast<double>(at[1]);
}

}  // namespace

data_parallel::data_parallel(communicator& world, const train_config& cfg, const model_config& mc)
    : world_(world),
      ordered_(cfg.deterministic_reduce),
      scheme_(cfg.scheme),
      T_(cfg.steps),
      B_(cfg.batch),
      first_(static_cast<uint32_t>(uint64_t{cfg.batch} * static_cast<uint64_t>(world.rank()) /
                                   static_cast<uint64_t>(world.size()))),
      count_(cfg.batch / static_cast<uint32_t>(world.size())),
      L_(mc.layers),
      H_(mc.hidden),
      lstm_(mc.cell == cell_type::lstm) {}

uint32_t data_parallel::session_batch(const train_config& cfg, int world_size) {
    return cfg.deterministic_reduce ? 1 : cfg.batch / static_cast<uint32_t>(std::max(1, world_size));
}

void data_parallel::bind(training_session& session) {
    P_ = session.params().front().count;
    if (!ordered_) {
        session.set_stream_slice(first_, B_);
        return;
    }
    shards_.assign(count_, std::vector<float>(P_));
    shard_loss_.assign(count_, {});
    const size_t n = size_t{L_} * H_;
    stream_state_.assign(count_, {std::vector<float>(n, 0.f), lstm_ ? std::vector<float>(n, 0.f) : std::vector<float>{}});
}

// Columns first .. first + count - 1 of the (T, B) batch into (T, count) buffers.
void data_parallel::slice(const minibatch& mb, uint32_t first, uint32_t count) {
    in_.resize(size_t{T_} * count);
    tg_.resize(size_t{T_} * count);
    for (uint32_t t = 0; t < T_; ++t)
        for (uint32_t n = 0; n < count; ++n) {
            in_[size_t{t} * count + n] = mb.inputs[size_t{t} * B_ + first + n];
            tg_[size_t{t} * count + n] = mb.targets[size_t{t} * B_ + first + n];
        }
}

void data_parallel::write_figures(float* tail, bool packed, const loss_sum& l, const agreed& mine) const {
    put(tail + nll_hi, l.nll, packed);
    tail[tokens] += static_cast<float>(l.tokens);  // whole numbers, exact up to 2^24 a step
    tail[signal] += mine.signal ? 1.f : 0.f;
    if (world_.rank() == 0) {
        put(tail + elapsed_hi, mine.elapsed_s, packed);
        tail[since_validation] = static_cast<float>(mine.since_validation_s);
    }
}

// The world's figures from the reduced spare floats: its loss and token count, and what the ranks agreed.
loss_sum data_parallel::read_figures(const float* tail, bool packed, agreed& out) const {
    out.signal = tail[signal] > 0;
    out.elapsed_s = get(tail + elapsed_hi, packed);
    out.since_validation_s = tail[since_validation];
    return {get(tail + nll_hi, packed), static_cast<uint64_t>(tail[tokens])};
}

result<loss_sum> data_parallel::step(training_session& session, const minibatch& mb, const agreed& mine,
                                     agreed& out) {
    if (ordered_) return ordered_step(session, mb, mine, out);
    if (mb.reset_state) session.reset_state();
    slice(mb, first_, count_);
    const loss_sum local = session.train_step(in_.data(), tg_.data(), uint64_t{T_} * B_);
    if (scheme_ == sampling::consecutive) session.carry_state();
    float* tail = session.gradient_buffer() + P_;  // zeroed by train_step
    write_figures(tail, false, local, mine);
    return reduce(session, out);
}

// The one collective of a step: gradients and figures in one buffer.
result<loss_sum> data_parallel::reduce(training_session& session, agreed& out) {
    float* buf = session.gradient_buffer();
    CHARLM_TRY(world_.all_reduce(buf, P_ + training_session::spare_floats, "the gradient all-reduce"));
    const loss_sum world = read_figures(buf + P_, false, out);
    // Every target of a training batch counts, so the world's count is the denominator each rank
    // used; were some ignored, the mean would be over the tokens counted.
    const uint64_t used = uint64_t{T_} * B_;
    if (world.tokens != used && world.tokens > 0) {
        const float k = static_cast<float>(static_cast<double>(used) / static_cast<double>(world.tokens));
        for (size_t i = 0; i < P_; ++i) buf[i] *= k;
    }
    return world;
}

// --deterministic-reduce: each stream's gradient on its own, added in stream order across ranks.
result<loss_sum> data_parallel::ordered_step(training_session& session, const minibatch& mb, const agreed& mine,
                                             agreed& out) {
    const uint64_t calls = session.dropout_calls();  // one forward per step, as one process counts
    for (uint32_t j = 0; j < count_; ++j) {
        auto& st = stream_state_[j];
        if (mb.reset_state) {
            std::fill(st.h.begin(), st.h.end(), 0.f);
            std::fill(st.c.begin(), st.c.end(), 0.f);
        }
        session.set_state(st);
        session.set_dropout_calls(calls);
        session.set_stream_slice(first_ + j, B_);
        slice(mb, first_ + j, 1);
        shard_loss_[j] = session.train_step(in_.data(), tg_.data(), uint64_t{T_} * B_);
        std::memcpy(shards_[j].data(), session.gradient_buffer(), P_ * sizeof(float));
        if (scheme_ == sampling::consecutive) {
            session.carry_state();
            st = session.state();
        }
    }
    session.set_dropout_calls(calls + 1);
    float* buf = session.gradient_buffer();
    auto add = [&](float* acc) {
        float* tail = acc + P_;
        for (uint32_t j = 0; j < count_; ++j) {
            const float* g = shards_[j].data();
            for (size_t i = 0; i < P_; ++i) acc[i] += g[i];
            loss_sum l{get(tail + nll_hi, true) + shard_loss_[j].nll, shard_loss_[j].tokens};
            write_figures(tail, true, l, agreed{});
        }
        write_figures(tail, true, {get(tail + nll_hi, true), 0}, mine);
    };
    CHARLM_TRY(world_.ordered_sum(buf, P_ + training_session::spare_floats, add, "the ordered gradient reduction"));
    return read_figures(buf + P_, true, out);
}

status data_parallel::gather_state(training_session& session, training_session::recurrent_state& whole) {
    const size_t per = size_t{L_} * count_ * H_, N = static_cast<size_t>(world_.size());
    training_session::recurrent_state local;
    if (ordered_) {  // each stream's (L, 1, H) into this rank's (L, count, H)
        local.h.resize(per);
        if (lstm_) local.c.resize(per);
        for (uint32_t j = 0; j < count_; ++j)
            for (uint32_t l = 0; l < L_; ++l) {
                const size_t to = (size_t{l} * count_ + j) * H_, from = size_t{l} * H_;
                std::copy_n(stream_state_[j].h.begin() + from, H_, local.h.begin() + to);
                if (lstm_) std::copy_n(stream_state_[j].c.begin() + from, H_, local.c.begin() + to);
            }
    } else {
        local = session.state();
    }
    auto one = [&](const std::vector<float>& part, std::vector<float>& out) -> status {
        std::vector<float> all(world_.rank() == 0 ? per * N : 0);
        CHARLM_TRY(world_.gather(part.data(), per, all.data(), "gathering the carried state for a checkpoint"));
        if (world_.rank() != 0) return {};
        out.assign(size_t{L_} * B_ * H_, 0.f);
        for (size_t r = 0; r < N; ++r)  // rank r's (L, count, H) into rows r*count.. of (L, B, H)
            for (uint32_t l = 0; l < L_; ++l)
                std::copy_n(all.begin() + static_cast<ptrdiff_t>(r * per + size_t{l} * count_ * H_), count_ * H_,
                            out.begin() + static_cast<ptrdiff_t>((size_t{l} * B_ + r * count_) * H_));
        return {};
    };
    CHARLM_TRY(one(local.h, whole.h));
    if (lstm_) CHARLM_TRY(one(local.c, whole.c));
    return {};
}

void data_parallel::set_state(training_session& session, const training_session::recurrent_state& whole) {
    auto part = [&](const std::vector<float>& all, uint32_t first, uint32_t count) {
        std::vector<float> out(size_t{L_} * count * H_);
        for (uint32_t l = 0; l < L_; ++l)
            std::copy_n(all.begin() + static_cast<ptrdiff_t>((size_t{l} * B_ + first) * H_), count * H_,
                        out.begin() + static_cast<ptrdiff_t>(size_t{l} * count * H_));
        return out;
    };
    if (!ordered_) {
        session.set_state({part(whole.h, first_, count_), lstm_ ? part(whole.c, first_, count_) : std::vector<float>{}});
        return;
    }
    for (uint32_t j = 0; j < count_; ++j)
        stream_state_[j] = {part(whole.h, first_ + j, 1), lstm_ ? part(whole.c, first_ + j, 1) : std::vector<float>{}};
}

}  // namespace charlm::detail
