// Model files and checkpoints through the library: every cell type round-trips through a file with
// the same logits; a run stopped at an epoch boundary or mid-epoch and resumed computes the same
// losses and ends with the same weights and optimizer state, bit for bit, as a run never stopped;
// --keep-last keeps the newest epoch checkpoints; a checkpoint refuses a changed corpus or batch.
#include <fmt/core.h>
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <memory>
#include <fstream>

#include "charlm/model_file.hpp"
#include "charlm/train.hpp"
#include "cli_support.h"
#include "io/safetensors.h"

namespace charlm {
namespace {

std::string toy_text(size_t lines, uint64_t seed) {
    static const char* words[] = {"the", "cat", "sat", "on", "a", "mat", "dog", "ran", "in", "fog", "春", "眠"};
    std::string out;
    for (size_t i = 0; i < lines; ++i) {
        const uint64_t n = 2 + uniform_below(seed, 5);
        for (uint64_t w = 0; w < n; ++w) out += std::string(w ? " " : "") + words[uniform_below(seed, 12)];
        out += '\n';
    }
    return out;
}

train_config small_config(const std::string& corpus, cell_type cell, sampling scheme) {
    train_config c;
    c.corpus = corpus;
    c.valid_fraction = 0.1;
    c.model.cell = cell;
    c.model.layers = 2;
    c.model.hidden = 24;
    c.model.embed = 8;
    c.model.dropout = 0.25f;  // the dropout draws must resume too
    c.batch = 6;
    c.steps = 10;
    c.scheme = scheme;
    c.epochs = 3;
    c.lr = 5e-3f;
    c.lr_decay = 0.9f;
    c.clip = 1;
    c.seed = 11;
    return c;
}

// `dir`, created empty (a previous run's files removed).
std::string empty_dir(const std::string& dir) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return dir;
}

struct trajectory {
    std::vector<double> losses;  // per step, as on_progress reports them
    std::vector<double> valid;   // per epoch
};

train_callbacks recorder(trajectory& t, uint64_t stop_after_steps = 0) {
    train_callbacks cb;
    auto steps = std::make_shared<uint64_t>(0);
    cb.on_progress = [&t, steps](const train_progress& p) {
        t.losses.push_back(p.loss);
        ++*steps;
    };
    cb.on_report = [&t](const train_report& r) {
        if (r.end_of_epoch && r.valid_ppl) t.valid.push_back(*r.valid_ppl);
    };
    if (stop_after_steps) cb.should_stop = [steps, stop_after_steps] { return *steps >= stop_after_steps; };
    return cb;
}

// The tensors of two files, compared byte for byte (the metadata holds dates and may differ).
void expect_same_tensors(const std::string& a, const std::string& b) {
    auto fa = io::read_safetensors(a);
    auto fb = io::read_safetensors(b);
    ASSERT_TRUE(fa.ok() && fb.ok());
    ASSERT_EQ(fa->tensors.size(), fb->tensors.size());
    for (const auto& [name, t] : fa->tensors) {
        auto it = fb->tensors.find(name);
        ASSERT_NE(it, fb->tensors.end()) << name;
        ASSERT_EQ(t.shape, it->second.shape) << name;
        ASSERT_EQ(0, std::memcmp(t.data.data(), it->second.data.data(), t.data.size() * sizeof(float))) << name;
    }
}

class resume : public ::testing::TestWithParam<std::tuple<cell_type, sampling, optimizer_kind, softmax_type>> {};

TEST_P(resume, stopped_and_resumed_equals_uninterrupted_bit_for_bit) {
    omp_set_num_threads(2);
    const auto [cell, scheme, optimizer, softmax] = GetParam();
    const std::string tag = fmt::format("{}_{}_{}_{}", to_string(cell), to_string(scheme), to_string(optimizer),
                                        to_string(softmax));
    const std::string dir = empty_dir(test::scratch_dir() + "/resume_" + tag);
    const std::string corpus = test::write_file("resume_corpus.txt", toy_text(300, 5));

    train_config full = small_config(corpus, cell, scheme);
    full.optimizer = optimizer;
    full.model.softmax = softmax;  // adaptive: cutoffs chosen from the corpus, in each of the runs
    if (optimizer == optimizer_kind::sgd) full.lr = 0.5f;
    full.out = dir + "/full.safetensors";
    trajectory a;
    auto ra = train(full, recorder(a));
    ASSERT_TRUE(ra.ok()) << ra.err().message;
    const uint64_t per_epoch = ra->steps / 3;
    ASSERT_GT(per_epoch, 4u);

    // Stopped twice: mid-epoch 1 (as by Ctrl-C), then at the end of epoch 2 (fewer epochs asked).
    train_config part = full;
    part.out = dir + "/part.safetensors";
    trajectory b;
    auto r1 = train(part, recorder(b, per_epoch / 2));
    ASSERT_TRUE(r1.ok()) << r1.err().message;
    EXPECT_TRUE(r1->interrupted);
    ASSERT_EQ(r1->checkpoint, part.out + ".ckpt");
    train_config second = part;
    second.resume = r1->checkpoint;
    second.epochs = 2;
    auto r2 = train(second, recorder(b));
    ASSERT_TRUE(r2.ok()) << r2.err().message;
    EXPECT_FALSE(r2->interrupted);
    train_config third = part;
    third.resume = part.out + ".ckpt";
    auto r3 = train(third, recorder(b));
    ASSERT_TRUE(r3.ok()) << r3.err().message;

    ASSERT_EQ(a.losses.size(), b.losses.size());
    for (size_t i = 0; i < a.losses.size(); ++i) ASSERT_EQ(a.losses[i], b.losses[i]) << "step " << i + 1;
    ASSERT_EQ(a.valid, b.valid);
    EXPECT_EQ(ra->steps, r3->steps);
    EXPECT_EQ(*ra->valid_ppl, *r3->valid_ppl);
    expect_same_tensors(full.out, part.out);
    expect_same_tensors(full.out + ".ckpt", part.out + ".ckpt");
}

// The warm-up and the cosine go by the step count over the run: a run stopped inside its warm-up
// and again mid-run, each time resumed, takes the uninterrupted run's steps bit for bit.
TEST(resume_schedule, warmup_and_cosine_resume_bit_for_bit) {
    omp_set_num_threads(2);
    const std::string dir = empty_dir(test::scratch_dir() + "/resume_cosine");
    const std::string corpus = test::write_file("resume_cosine.txt", toy_text(300, 6));
    train_config full = small_config(corpus, cell_type::lstm, sampling::consecutive);
    full.lr_decay = 1;
    full.schedule = lr_schedule::cosine;
    full.lr_final = 0.2f;
    full.warmup = 6;
    full.out = dir + "/full.safetensors";
    trajectory a;
    auto ra = train(full, recorder(a));
    ASSERT_TRUE(ra.ok()) << ra.err().message;
    const uint64_t per_epoch = ra->steps / 3;
    ASSERT_GT(per_epoch, 6u);

    train_config part = full;
    part.out = dir + "/part.safetensors";
    trajectory b;
    auto r1 = train(part, recorder(b, 3));  // inside the warm-up
    ASSERT_TRUE(r1.ok()) << r1.err().message;
    ASSERT_TRUE(r1->interrupted);
    part.resume = part.out + ".ckpt";
    auto r2 = train(part, recorder(b, per_epoch + 2));  // mid-epoch 2
    ASSERT_TRUE(r2.ok()) << r2.err().message;
    ASSERT_TRUE(r2->interrupted);
    auto r3 = train(part, recorder(b));
    ASSERT_TRUE(r3.ok()) << r3.err().message;

    ASSERT_EQ(a.losses.size(), b.losses.size());
    for (size_t i = 0; i < a.losses.size(); ++i) ASSERT_EQ(a.losses[i], b.losses[i]) << "step " << i + 1;
    ASSERT_EQ(a.valid, b.valid);
    expect_same_tensors(full.out, part.out);
}

INSTANTIATE_TEST_SUITE_P(
    cells, resume,
    ::testing::Values(std::tuple{cell_type::lstm, sampling::consecutive, optimizer_kind::adam, softmax_type::full},
                      std::tuple{cell_type::lstm, sampling::random, optimizer_kind::adam, softmax_type::full},
                      std::tuple{cell_type::gru, sampling::consecutive, optimizer_kind::sgd, softmax_type::full},
                      std::tuple{cell_type::lbr_gru, sampling::random, optimizer_kind::adam, softmax_type::full},
                      std::tuple{cell_type::rnn_tanh, sampling::consecutive, optimizer_kind::adam, softmax_type::full},
                      std::tuple{cell_type::lstm, sampling::consecutive, optimizer_kind::adam, softmax_type::adaptive}),
    [](const auto& info) {
        std::string name = fmt::format("{}_{}_{}_{}", to_string(std::get<0>(info.param)),
                                       to_string(std::get<1>(info.param)), to_string(std::get<2>(info.param)),
                                       to_string(std::get<3>(info.param)));
        std::replace(name.begin(), name.end(), '-', '_');
        return name;
    });

TEST(model_file, every_cell_round_trips_through_a_file_with_the_same_logits) {
    omp_set_num_threads(2);
    const std::string corpus = test::write_file("roundtrip_corpus.txt", toy_text(200, 7));
    for (cell_type cell : {cell_type::rnn_tanh, cell_type::rnn_relu, cell_type::gru, cell_type::lbr_gru, cell_type::lstm}) {
        SCOPED_TRACE(to_string(cell));
        train_config c = small_config(corpus, cell, sampling::random);
        c.epochs = 1;
        c.out = test::scratch_dir() + "/roundtrip_" + std::to_string(static_cast<int>(cell)) + ".safetensors";
        std::filesystem::remove(c.out);
        auto r = train(c, {});
        ASSERT_TRUE(r.ok()) << r.err().message;
        // The model file and the checkpoint both load as models, and give the same logits.
        auto a = load_model(c.out);
        auto b = load_model(c.out + ".ckpt");
        ASSERT_TRUE(a.ok()) << a.err().message;
        ASSERT_TRUE(b.ok()) << b.err().message;
        EXPECT_EQ(a->model.vocab().tokens(), b->model.vocab().tokens());
        EXPECT_TRUE(a->summary.corpus_checksum.rfind("fnv1a64:", 0) == 0) << a->summary.corpus_checksum;
        const uint32_t v = a->model.config().vocab;
        generator ga(a->model, 2), gb(b->model, 2);
        int32_t ids[2] = {1, 2};
        for (int step = 0; step < 4; ++step) {
            const float* la = ga.step(ids);
            std::vector<float> ca(la, la + 2 * v);
            const float* lb = gb.step(ids);
            for (uint32_t k = 0; k < 2 * v; ++k) ASSERT_EQ(ca[k], lb[k]) << "logit " << k << " step " << step;
            ids[0] = static_cast<int32_t>(step % v);
            ids[1] = static_cast<int32_t>((step * 3 + 1) % v);
        }
        // A re-save of the loaded model holds the same tensors (the layouts convert exactly).
        const std::string again = c.out + ".again";
        ASSERT_TRUE(save_model(again, a->model, a->summary).ok());
        expect_same_tensors(c.out, again);
    }
}

TEST(checkpoint, keep_last_keeps_the_newest_epoch_checkpoints) {
    omp_set_num_threads(2);
    const std::string dir = empty_dir(test::scratch_dir() + "/keep_last");
    const std::string corpus = test::write_file("keep_corpus.txt", toy_text(150, 9));
    train_config c = small_config(corpus, cell_type::gru, sampling::random);
    c.epochs = 5;
    c.keep_last = 2;
    c.out = dir + "/m.safetensors";
    ASSERT_TRUE(train(c, {}).ok());
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    EXPECT_EQ(names, (std::vector<std::string>{"m.safetensors", "m.safetensors.best", "m.safetensors.ckpt",
                                               "m.safetensors.epoch4.ckpt", "m.safetensors.epoch5.ckpt"}));
    auto info = read_checkpoint(dir + "/m.safetensors.epoch4.ckpt");
    ASSERT_TRUE(info.ok()) << info.err().message;
    EXPECT_EQ(info->epoch, 4u);
    EXPECT_EQ(info->batch, 0u);
    EXPECT_EQ(info->config.batch, c.batch);
    EXPECT_EQ(info->config.model.cell, cell_type::gru);
}

// Stopped right after an epoch end that --checkpoint-every skipped: the run still leaves a
// checkpoint of where it stands, and resuming from it takes the uninterrupted run's steps.
TEST(checkpoint, a_stop_right_after_a_skipped_epoch_end_writes_its_checkpoint) {
    omp_set_num_threads(2);
    const std::string dir = empty_dir(test::scratch_dir() + "/stop_after_epoch");
    const std::string corpus = test::write_file("stop_after_epoch_corpus.txt", toy_text(150, 4));
    train_config full = small_config(corpus, cell_type::lstm, sampling::consecutive);
    full.checkpoint_every = 3;
    full.out = dir + "/full.safetensors";
    trajectory a;
    auto ra = train(full, recorder(a));
    ASSERT_TRUE(ra.ok()) << ra.err().message;
    const uint64_t per_epoch = ra->steps / 3;

    train_config part = full;
    part.out = dir + "/part.safetensors";
    trajectory b;
    auto r1 = train(part, recorder(b, per_epoch));  // asked to stop before epoch 2's first step
    ASSERT_TRUE(r1.ok()) << r1.err().message;
    EXPECT_EQ(r1->stop, stop_reason::signal);
    ASSERT_EQ(r1->checkpoint, part.out + ".ckpt");
    auto info = read_checkpoint(r1->checkpoint);
    ASSERT_TRUE(info.ok()) << info.err().message;
    EXPECT_EQ(info->epoch, 1u);
    EXPECT_EQ(info->batch, 0u);
    train_config rest = part;
    rest.resume = r1->checkpoint;
    auto r2 = train(rest, recorder(b));
    ASSERT_TRUE(r2.ok()) << r2.err().message;
    ASSERT_EQ(a.losses, b.losses);
    ASSERT_EQ(a.valid, b.valid);
    expect_same_tensors(full.out, part.out);
}

TEST(checkpoint, refuses_a_changed_corpus_a_changed_batch_and_a_plain_model) {
    omp_set_num_threads(2);
    const std::string dir = empty_dir(test::scratch_dir() + "/refuse");
    const std::string corpus = test::write_file("refuse_corpus.txt", toy_text(150, 3));
    train_config c = small_config(corpus, cell_type::lstm, sampling::random);
    c.epochs = 1;
    c.out = dir + "/m.safetensors";
    ASSERT_TRUE(train(c, {}).ok());

    train_config r = c;
    r.epochs = 2;
    r.resume = c.out + ".ckpt";
    r.batch = c.batch + 1;
    auto e1 = train(r, {});
    ASSERT_FALSE(e1.ok());
    EXPECT_EQ(e1.err().code, errc::usage);
    EXPECT_NE(e1.err().message.find("--batch"), std::string::npos) << e1.err().message;

    r.batch = c.batch;
    r.resume = c.out;  // a model file, not a checkpoint
    auto e2 = train(r, {});
    ASSERT_FALSE(e2.ok());
    EXPECT_NE(e2.err().message.find(".ckpt"), std::string::npos) << e2.err().message;

    r.resume = c.out + ".ckpt";
    r.epochs = 1;  // already done
    auto e3 = train(r, {});
    ASSERT_FALSE(e3.ok());
    EXPECT_NE(e3.err().message.find("--epochs"), std::string::npos) << e3.err().message;

    r.epochs = 2;
    test::write_file("refuse_corpus.txt", toy_text(150, 3) + "x\n");
    auto e4 = train(r, {});
    ASSERT_FALSE(e4.ok());
    EXPECT_EQ(e4.err().code, errc::input);
    EXPECT_NE(e4.err().message.find("changed"), std::string::npos) << e4.err().message;
}

}  // namespace
}  // namespace charlm
