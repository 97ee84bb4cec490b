// Tests of the minibatch iterators on a synthetic stream of consecutive ids 0, 1, 2, ...:
// every id is its own position, so each expected element is computable and a failure can
// name the batch, stream and step that is wrong. Also the SplitMix64/uniform_below helpers.
// Not here: real corpora or anything the model does with the batches.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "charlm/batches.hpp"

// Counts heap allocations so that a test can check next() allocates only on its first call.
// noinline: inlined, GCC pairs the malloc/free inside with new/delete and warns of a mismatch.
static std::atomic<long> g_allocations{0};
__attribute__((noinline)) void* operator new(std::size_t size) {
    ++g_allocations;
    if (void* p = std::malloc(size ? size : 1)) return p;
    throw std::bad_alloc();
}
__attribute__((noinline)) void operator delete(void* p) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace charlm {
namespace {

// ids 0 .. len-1 at width 4 (as a 100k-id stream would be), or at the natural width.
token_stream iota_stream(uint64_t len, bool wide = true) {
    token_stream s;
    if (wide) s.widen(4);
    s.reserve(len);
    for (uint64_t i = 0; i < len; ++i) s.push_back(static_cast<uint32_t>(i));
    return s;
}

batch_config make_cfg(sampling scheme, uint32_t n, uint32_t t, uint64_t seed = 1) {
    batch_config c;
    c.scheme = scheme;
    c.batch = n;
    c.steps = t;
    c.seed = seed;
    return c;
}

int32_t in_at(const minibatch& b, const batch_config& c, uint64_t t, uint64_t n) { return b.inputs[t * c.batch + n]; }
int32_t tg_at(const minibatch& b, const batch_config& c, uint64_t t, uint64_t n) { return b.targets[t * c.batch + n]; }

// Checks row n of batch j against the window starting at `start`: inputs start+t, targets start+t+1.
::testing::AssertionResult row_is_window(const minibatch& b, const batch_config& c, uint64_t j, uint64_t n,
                                         int64_t start, uint64_t offset) {
    for (uint64_t t = 0; t < c.steps; ++t) {
        const int64_t want_in = start + static_cast<int64_t>(t);
        if (in_at(b, c, t, n) != want_in || tg_at(b, c, t, n) != want_in + 1) {
            return ::testing::AssertionFailure()
                   << "batch " << j << " stream " << n << " step " << t << " (offset " << offset << ", row start "
                   << start << "): input " << in_at(b, c, t, n) << " target " << tg_at(b, c, t, n)
                   << ", expected " << want_in << " and " << want_in + 1 << " (diff "
                   << in_at(b, c, t, n) - want_in << ")";
        }
    }
    return ::testing::AssertionSuccess();
}

std::vector<minibatch> whole_epoch(batch_iterator& it) {
    std::vector<minibatch> all;
    minibatch b;
    while (it.next(b)) all.push_back(b);
    return all;
}

std::vector<int32_t> concat_inputs(const std::vector<minibatch>& bs) {
    std::vector<int32_t> v;
    for (const auto& b : bs) v.insert(v.end(), b.inputs.begin(), b.inputs.end());
    return v;
}

// ---------------------------------------------------------------- random helpers

TEST(splitmix64, matches_published_sequence_from_zero) {
    // The first outputs of SplitMix64 seeded with 0 (Steele, Lea, Flood 2014; also Vigna's splitmix64.c).
    uint64_t s = 0;
    EXPECT_EQ(splitmix64(s), 0xe220a8397b1dcdafULL);
    EXPECT_EQ(splitmix64(s), 0x6e789e6aa1b965f4ULL);
    EXPECT_EQ(splitmix64(s), 0x06c45d188009454fULL);
}

TEST(uniform_below, stays_in_range_and_is_roughly_uniform) {
    uint64_t s = 42;
    for (int i = 0; i < 1000; ++i) EXPECT_EQ(uniform_below(s, 1), 0u);
    const uint64_t n = 7, draws = 70000;
    std::vector<uint64_t> counts(n, 0);
    for (uint64_t i = 0; i < draws; ++i) {
        uint64_t v = uniform_below(s, n);
        ASSERT_LT(v, n);
        ++counts[v];
    }
    for (uint64_t k = 0; k < n; ++k) {
        // expected 10000 each; 5 sigma is about 470
        EXPECT_NEAR(static_cast<double>(counts[k]), 10000.0, 500.0) << "value " << k;
    }
    // A bound just above 2^63 rejects almost half the draws; it must still terminate and stay below n.
    const uint64_t big = (1ULL << 63) + 1;
    for (int i = 0; i < 100; ++i) EXPECT_LT(uniform_below(s, big), big);
}

// ---------------------------------------------------------------- random scheme

TEST(random_batches, every_element_is_its_window_and_windows_are_disjoint) {
    struct shape { uint64_t len; uint32_t t, n; };
    for (shape sh : {shape{1000, 7, 4}, shape{1000, 35, 3}, shape{100000, 35, 32}, shape{500, 10, 1}, shape{64, 5, 2}}) {
        token_stream ids = iota_stream(sh.len);
        batch_config c = make_cfg(sampling::random, sh.n, sh.t, 7);
        batch_iterator it(ids, c);
        for (uint64_t e = 0; e < 6; ++e) {
            it.start_epoch(e);
            const uint64_t off = it.offset();
            ASSERT_LT(off, sh.t);
            const uint64_t num_windows = (sh.len - off - 1) / sh.t;
            ASSERT_EQ(it.batches_in_epoch(), num_windows / sh.n) << "len " << sh.len << " offset " << off;
            std::set<int64_t> starts;
            minibatch b;
            uint64_t j = 0;
            while (it.next(b)) {
                EXPECT_TRUE(b.reset_state) << "batch " << j;
                for (uint64_t n = 0; n < sh.n; ++n) {
                    const int64_t start = in_at(b, c, 0, n);
                    ASSERT_GE(start, static_cast<int64_t>(off)) << "batch " << j << " stream " << n;
                    ASSERT_EQ((start - static_cast<int64_t>(off)) % sh.t, 0)
                        << "batch " << j << " stream " << n << ": start " << start << " not on the grid of offset "
                        << off;
                    ASSERT_LT(static_cast<uint64_t>(start), off + num_windows * sh.t)
                        << "batch " << j << " stream " << n << ": window past the last full one";
                    ASSERT_TRUE(row_is_window(b, c, j, n, start, off));
                    EXPECT_TRUE(starts.insert(start).second)
                        << "batch " << j << " stream " << n << ": window " << start << " used twice";
                }
                ++j;
            }
            EXPECT_EQ(j, it.batches_in_epoch());
            EXPECT_EQ(starts.size(), it.batches_in_epoch() * sh.n);
            if (sh.n == 1) {
                // Nothing is dropped with one stream: the windows tile [offset, offset + num_windows*T).
                uint64_t k = 0;
                for (int64_t s : starts) {
                    EXPECT_EQ(static_cast<uint64_t>(s), off + k * sh.t) << "window " << k;
                    ++k;
                }
                EXPECT_EQ(k, num_windows);
            }
        }
    }
}

TEST(random_batches, windows_are_shuffled) {
    token_stream ids = iota_stream(10000);
    batch_config c = make_cfg(sampling::random, 4, 10, 3);
    batch_iterator it(ids, c);
    minibatch b;
    std::vector<int32_t> firsts;
    while (it.next(b)) firsts.push_back(b.inputs[0]);
    ASSERT_GT(firsts.size(), 100u);
    EXPECT_FALSE(std::is_sorted(firsts.begin(), firsts.end())) << "window starts came out in corpus order";
}

// ---------------------------------------------------------------- consecutive scheme

TEST(consecutive_batches, every_element_and_rows_continue_across_batches) {
    struct shape { uint64_t len; uint32_t t, n; };
    for (shape sh : {shape{1000, 7, 4}, shape{1000, 35, 3}, shape{100000, 35, 32}, shape{501, 10, 1}, shape{97, 5, 2}}) {
        token_stream ids = iota_stream(sh.len);
        batch_config c = make_cfg(sampling::consecutive, sh.n, sh.t, 11);
        batch_iterator it(ids, c);
        for (uint64_t e = 0; e < 6; ++e) {
            it.start_epoch(e);
            const uint64_t off = it.offset();
            ASSERT_LE(off, sh.t);
            const uint64_t stream_len = (sh.len - off - 1) / sh.n;  // L = usable / N
            ASSERT_EQ(it.batches_in_epoch(), stream_len / sh.t) << "len " << sh.len << " offset " << off;
            minibatch b, prev;
            uint64_t j = 0;
            while (it.next(b)) {
                EXPECT_EQ(b.reset_state, j == 0) << "batch " << j;
                for (uint64_t n = 0; n < sh.n; ++n) {
                    const int64_t start = static_cast<int64_t>(off + n * stream_len + j * sh.t);
                    ASSERT_TRUE(row_is_window(b, c, j, n, start, off));
                    if (j > 0) {
                        ASSERT_EQ(in_at(b, c, 0, n), in_at(prev, c, sh.t - 1, n) + 1)
                            << "batch " << j << " stream " << n << " does not continue batch " << j - 1;
                        ASSERT_EQ(in_at(b, c, 0, n), tg_at(prev, c, sh.t - 1, n)) << "batch " << j << " stream " << n;
                    }
                    // Streams stay inside their own slice: no row reads its neighbour's tokens.
                    ASSERT_LT(static_cast<uint64_t>(tg_at(b, c, sh.t - 1, n)), off + (n + 1) * stream_len + 1)
                        << "batch " << j << " stream " << n;
                }
                prev = b;
                ++j;
            }
            EXPECT_EQ(j, it.batches_in_epoch());
        }
    }
}

TEST(consecutive_batches, offset_takes_every_value_zero_to_steps) {
    token_stream ids = iota_stream(500);
    batch_iterator it(ids, make_cfg(sampling::consecutive, 2, 4, 5));
    std::set<uint64_t> seen;
    for (uint64_t e = 0; e < 200; ++e) {
        it.start_epoch(e);
        seen.insert(it.offset());
    }
    EXPECT_EQ(seen, (std::set<uint64_t>{0, 1, 2, 3, 4}));
}

// ---------------------------------------------------------------- both schemes

class both_schemes : public ::testing::TestWithParam<sampling> {};

TEST_P(both_schemes, no_wrap_around_and_tail_dropped) {
    for (uint64_t len : {103u, 257u, 1000u, 1001u}) {
        token_stream ids = iota_stream(len);
        batch_config c = make_cfg(GetParam(), 3, 8, 9);
        batch_iterator it(ids, c);
        for (uint64_t e = 0; e < 10; ++e) {
            it.start_epoch(e);
            minibatch b;
            uint64_t j = 0;
            while (it.next(b)) {
                for (size_t k = 0; k < b.targets.size(); ++k) {
                    ASSERT_EQ(b.targets[k], b.inputs[k] + 1) << "batch " << j << " element " << k << " (t "
                                                             << k / c.batch << ", n " << k % c.batch << ")";
                    ASSERT_LT(static_cast<uint64_t>(b.targets[k]), len) << "batch " << j << " element " << k;
                    ASSERT_GE(b.inputs[k], static_cast<int32_t>(it.offset())) << "batch " << j << " element " << k;
                }
                ++j;
            }
        }
    }
}

TEST_P(both_schemes, plan_is_a_pure_function_of_seed_and_epoch) {
    token_stream ids = iota_stream(5000);
    batch_config c = make_cfg(GetParam(), 4, 16, 123);
    batch_iterator a(ids, c), b(ids, c);
    std::vector<std::vector<int32_t>> per_epoch;
    for (uint64_t e = 0; e < 4; ++e) {
        a.start_epoch(e);
        per_epoch.push_back(concat_inputs(whole_epoch(a)));
    }
    // Out of order and on another iterator: the same plans.
    for (uint64_t e : {3u, 0u, 2u, 1u}) {
        b.start_epoch(e);
        EXPECT_EQ(concat_inputs(whole_epoch(b)), per_epoch[e]) << "epoch " << e;
    }
    for (uint64_t e = 1; e < 4; ++e) EXPECT_NE(per_epoch[e], per_epoch[0]) << "epoch " << e << " repeats epoch 0";

    batch_config c2 = c;
    c2.seed = 124;
    batch_iterator other(ids, c2);
    EXPECT_NE(concat_inputs(whole_epoch(other)), per_epoch[0]) << "seeds 123 and 124 gave the same epoch 0";
}

TEST_P(both_schemes, seek_reproduces_the_same_batches) {
    token_stream ids = iota_stream(3000);
    batch_config c = make_cfg(GetParam(), 3, 10, 77);
    batch_iterator it(ids, c);
    it.start_epoch(5);
    std::vector<minibatch> all = whole_epoch(it);
    ASSERT_GT(all.size(), 10u);
    for (uint64_t k : {uint64_t{0}, uint64_t{1}, uint64_t{7}, uint64_t(all.size() - 1)}) {
        batch_iterator resumed(ids, c);  // a fresh process resuming at (epoch 5, position k)
        resumed.start_epoch(5);
        resumed.seek(k);
        EXPECT_EQ(resumed.position(), k);
        minibatch b;
        for (uint64_t j = k; j < all.size(); ++j) {
            ASSERT_TRUE(resumed.next(b)) << "resumed at " << k << ": ended before batch " << j;
            ASSERT_EQ(b.inputs, all[j].inputs) << "resumed at " << k << ": batch " << j << " differs";
            ASSERT_EQ(b.targets, all[j].targets) << "resumed at " << k << ": batch " << j << " differs";
            ASSERT_EQ(b.reset_state, all[j].reset_state) << "resumed at " << k << ": batch " << j;
        }
        EXPECT_FALSE(resumed.next(b));
    }
    it.seek(all.size());
    minibatch b;
    EXPECT_FALSE(it.next(b));
}

TEST_P(both_schemes, storage_width_does_not_matter) {
    token_stream narrow = iota_stream(250, false), wide = iota_stream(250, true);
    ASSERT_EQ(narrow.width(), 1);
    batch_config c = make_cfg(GetParam(), 2, 6, 1);
    batch_iterator a(narrow, c), b(wide, c);
    EXPECT_EQ(concat_inputs(whole_epoch(a)), concat_inputs(whole_epoch(b)));
}

TEST_P(both_schemes, too_short_streams_give_no_batch) {
    // Even offset 0 needs N*T + 1 tokens (the last target) = 33 here.
    batch_config c = make_cfg(GetParam(), 4, 8, 2);
    for (uint64_t len : {0u, 1u, 2u, 8u, 9u, 20u, 32u}) {
        token_stream ids = iota_stream(len);
        batch_iterator it(ids, c);
        for (uint64_t e = 0; e < 20; ++e) {
            it.start_epoch(e);
            EXPECT_EQ(it.batches_in_epoch(), 0u) << "len " << len << " epoch " << e;
            minibatch b;
            EXPECT_FALSE(it.next(b)) << "len " << len;
        }
    }
}

TEST_P(both_schemes, batch_counts_follow_the_textbook) {
    struct shape { uint64_t len; uint32_t t, n; };
    for (shape sh : {shape{10, 3, 1}, shape{100, 3, 4}, shape{1000, 35, 32}, shape{1156, 35, 32}, shape{12345, 50, 7},
                     shape{40, 1, 1}, shape{41, 1, 40}}) {
        token_stream ids = iota_stream(sh.len);
        batch_iterator it(ids, make_cfg(GetParam(), sh.n, sh.t, 4));
        for (uint64_t e = 0; e < 30; ++e) {
            it.start_epoch(e);
            const uint64_t off = it.offset();
            const uint64_t usable = sh.len > off ? sh.len - off - 1 : 0;
            const uint64_t want = GetParam() == sampling::random ? (usable / sh.t) / sh.n : (usable / sh.n) / sh.t;
            EXPECT_EQ(it.batches_in_epoch(), want)
                << "len " << sh.len << " T " << sh.t << " N " << sh.n << " offset " << off;
        }
    }
}

TEST_P(both_schemes, min_tokens_is_exact_for_the_worst_offset) {
    struct shape { uint32_t t, n; };
    for (shape sh : {shape{3, 1}, shape{3, 4}, shape{5, 2}, shape{35, 32}, shape{1, 1}}) {
        batch_config c = make_cfg(GetParam(), sh.n, sh.t, 8);
        const uint64_t worst = GetParam() == sampling::random ? sh.t - 1 : sh.t;
        const uint64_t need = min_tokens_for_one_batch(c);
        token_stream enough = iota_stream(need), short_by_one = iota_stream(need - 1);
        batch_iterator a(enough, c), b(short_by_one, c);
        bool hit_worst = false;
        for (uint64_t e = 0; e < 400; ++e) {
            a.start_epoch(e);
            b.start_epoch(e);
            EXPECT_GE(a.batches_in_epoch(), 1u) << "T " << sh.t << " N " << sh.n << " len " << need << " offset "
                                                << a.offset();
            if (b.offset() == worst) {
                hit_worst = true;
                EXPECT_EQ(b.batches_in_epoch(), 0u) << "T " << sh.t << " N " << sh.n << " len " << need - 1;
            }
        }
        EXPECT_TRUE(hit_worst) << "400 epochs never drew offset " << worst;
    }
}

TEST_P(both_schemes, next_allocates_only_on_first_call) {
    token_stream ids = iota_stream(20000);
    batch_iterator it(ids, make_cfg(GetParam(), 8, 20, 6));
    minibatch b;
    ASSERT_TRUE(it.next(b));
    const long before = g_allocations.load();
    int calls = 0;
    while (it.next(b)) ++calls;
    it.start_epoch(1);
    const long after_plan = g_allocations.load();
    while (it.next(b)) ++calls;
    const long after = g_allocations.load();
    ASSERT_GT(calls, 50);
    EXPECT_EQ(after - after_plan, 0) << "next() allocated in a later epoch";
    EXPECT_EQ(after_plan - before, 0) << "next() or start_epoch() allocated (the plan buffer should be reused)";
}

INSTANTIATE_TEST_SUITE_P(schemes, both_schemes, ::testing::Values(sampling::random, sampling::consecutive),
                         [](const auto& info) {
                             return std::string(info.param == sampling::random ? "random" : "consecutive");
                         });

// ---------------------------------------------------------------- invalid configuration

TEST(batch_iterator_death, zero_steps_or_batch_is_an_invariant_violation) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    token_stream ids = iota_stream(100);
    EXPECT_DEATH({ batch_iterator it(ids, make_cfg(sampling::random, 4, 0)); }, "assertion");
    EXPECT_DEATH({ batch_iterator it(ids, make_cfg(sampling::consecutive, 0, 4)); }, "assertion");
}

}  // namespace
}  // namespace charlm
