// Tests of the model/session split (charlm/model.hpp): generators from one model running on
// several threads at once give the bytes each gives alone; evaluation's perplexity does not depend
// on its number of streams, in `eval` and in training's validation alike.
// Not here: the layers against the reference (lm_test, rnn_stack_test), sampling (sample_test).
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "charlm/batches.hpp"
#include "charlm/model.hpp"
#include "charlm/model_file.hpp"
#include "charlm/sample.hpp"
#include "charlm/text.hpp"
#include "charlm/train.hpp"
#include "charlm/vocab.hpp"
#include "cli_support.h"

namespace charlm {
namespace {

// Lines drawn from a fixed set, so a model learns where it is in a line: its state matters.
std::string toy_text(size_t lines, uint64_t seed) {
    static const char* set[] = {"the cat sat on the mat", "a dog ran in the fog", "the sun is up",
                                "rain on the plain",      "birds sing in spring", "we go to sea",
                                "the moon is bright",     "stars at night",       "wind in the trees",
                                "snow on the hill",       "a ship at sea",        "the end of day"};
    std::string out;
    for (size_t i = 0; i < lines; ++i) {
        out += set[uniform_below(seed, 12)];
        out += '\n';
    }
    return out;
}

language_model random_model(cell_type cell, uint32_t embed, uint64_t seed) {
    std::vector<std::string> tokens{"<unk>"};
    for (char c = 'a'; c <= 'z'; ++c) tokens.emplace_back(1, c);
    tokens.emplace_back(" ");
    tokens.emplace_back("\n");
    auto vocab = vocabulary::from_tokens(tokens);
    EXPECT_TRUE(vocab.ok());
    model_config c;
    c.cell = cell;
    c.layers = 2;
    c.hidden = 32;
    c.embed = embed;
    c.vocab = vocab->size();
    return language_model(c, text_config{}, std::move(*vocab), seed);
}

// What one generation job produces: its text and the bytes of every step's logits.
struct job {
    size_t model;
    uint32_t rows;
    uint64_t seed;
};
struct job_output {
    std::vector<std::string> text;
    std::vector<float> logits;
};

job_output run_job(const std::vector<language_model>& models, const job& j) {
    job_output out;
    sample_config sc;
    sc.length = 60;
    sc.temperature = 1.0f;
    sc.seed = j.seed;
    sc.num_samples = j.rows;
    auto text = generate(models[j.model], "the ", sc);
    EXPECT_TRUE(text.ok());
    if (text.ok()) out.text = *text;
    // And the raw logits of a generator fed a fixed sequence.
    const language_model& m = models[j.model];
    generator gen(m, j.rows);
    std::vector<int32_t> ids(j.rows);
    for (int step = 0; step < 40; ++step) {
        for (uint32_t r = 0; r < j.rows; ++r) ids[r] = static_cast<int32_t>((step * 7 + r * 3 + j.seed) % m.vocab().size());
        const float* l = gen.step(ids.data());
        out.logits.insert(out.logits.end(), l, l + static_cast<size_t>(j.rows) * m.vocab().size());
    }
    return out;
}

// Eight threads, each with its own generator over models shared between them (different cells,
// seeds, one row or several, embedding or one-hot), each run compared byte for byte with the same
// job run alone. The first generators of each model build its generation cache concurrently.
TEST(sessions, concurrent_generators_give_the_bytes_of_serial_runs) {
    std::vector<language_model> models;
    models.push_back(random_model(cell_type::lstm, 8, 1));
    models.push_back(random_model(cell_type::gru, 8, 2));
    models.push_back(random_model(cell_type::lbr_gru, 0, 3));
    models.push_back(random_model(cell_type::rnn_tanh, 8, 4));
    const std::vector<job> jobs = {{0, 1, 11}, {0, 3, 12}, {1, 1, 13}, {1, 2, 14},
                                   {2, 1, 15}, {2, 4, 16}, {3, 1, 17}, {0, 1, 18}};
    // Concurrent first, so that the caches are built under contention.
    std::vector<job_output> concurrent(jobs.size());
    {
        std::vector<std::thread> threads;
        for (size_t k = 0; k < jobs.size(); ++k)
            threads.emplace_back([&, k] {
                omp_set_num_threads(1 + static_cast<int>(k % 2));
                job_output first = run_job(models, jobs[k]);
                job_output again = run_job(models, jobs[k]);  // while the others still run
                EXPECT_EQ(first.text, again.text) << "job " << k;
                concurrent[k] = std::move(first);
            });
        for (auto& t : threads) t.join();
    }
    for (size_t k = 0; k < jobs.size(); ++k) {
        SCOPED_TRACE("job " + std::to_string(k));
        omp_set_num_threads(1 + static_cast<int>(k % 2));
        const job_output alone = run_job(models, jobs[k]);
        EXPECT_EQ(concurrent[k].text, alone.text);
        ASSERT_EQ(concurrent[k].logits.size(), alone.logits.size());
        EXPECT_EQ(std::memcmp(concurrent[k].logits.data(), alone.logits.data(), alone.logits.size() * sizeof(float)),
                  0)
            << "logits differ from the serial run";
    }
}

// A generator made before the weights change keeps them; one made after sees the new ones.
TEST(sessions, generator_keeps_the_weights_it_was_made_with) {
    language_model a = random_model(cell_type::lstm, 8, 5);
    const language_model b = random_model(cell_type::lstm, 8, 6);
    const uint32_t v = a.vocab().size();
    const int32_t id = 3;
    auto logits = [&](generator& g) {
        const float* l = g.step(&id);
        return std::vector<float>(l, l + v);
    };
    generator before(a, 1);
    ASSERT_TRUE(a.import_tensors(b.export_tensors(), "b").ok());
    generator after(a, 1), of_b(b, 1);
    const auto lb = logits(of_b), l_after = logits(after), l_before = logits(before);
    EXPECT_EQ(l_after, lb);
    EXPECT_NE(l_before, lb);
}

struct trained {
    language_model model;
    token_stream text;   // >= 2000 tokens the model has not been trained on
    token_stream valid;  // the validation text of its training
    double valid_ppl = 0;
};

// A small LSTM trained on the toy text.
trained train_toy() {
    omp_set_num_threads(2);
    const std::string name = "toy";
    const std::string corpus = test::write_file(name + ".txt", toy_text(300, 9));
    train_config c;
    c.corpus = corpus;
    c.valid_fraction = 0.5;  // ~3 400 validation tokens
    c.model.cell = cell_type::lstm;
    c.model.layers = 1;
    c.model.hidden = 32;
    c.model.embed = 16;
    c.batch = 16;
    c.steps = 24;
    c.epochs = 4;
    c.lr = 1e-2f;
    c.clip = 5;
    c.seed = 3;
    c.out = test::scratch_dir() + "/" + name + ".safetensors";
    auto r = train(c, {});
    EXPECT_TRUE(r.ok()) << r.err().message;
    auto text = load_text(corpus, c.text);
    EXPECT_TRUE(text.ok());
    prepared_corpus pc = prepare_corpus(std::move(*text), nullptr, c.valid_fraction, c.min_count);
    auto loaded = load_model(c.out);
    EXPECT_TRUE(loaded.ok());
    auto ids = tokenize_bytes(toy_text(120, 77), text_config{}, "held-out");
    EXPECT_TRUE(ids.ok());
    token_stream held_out;
    for (size_t i = 0; i < ids->ids.size(); ++i)
        held_out.push_back(loaded->model.vocab().id(ids->tokens[ids->ids[i]]));
    return trained{std::move(loaded->model), std::move(held_out), pc.valid, r.ok() && r->valid_ppl ? *r->valid_ppl : 0};
}

// Trained once, shared by the tests below.
const trained& toy_model() {
    static const trained t = train_toy();
    return t;
}

// Each stream first reads the text just before its segment: 1, 4 and 32 streams agree within
// 0.1% (with a zero state at every segment start, 32 streams read this text 1.2% worse).
TEST(sessions, perplexity_does_not_depend_on_the_number_of_streams) {
    const trained& t = toy_model();
    ASSERT_GE(t.text.size(), 2000u);
    evaluation_session eval(t.model);
    const double one = eval.evaluate(t.text, 1, 35).perplexity();
    EXPECT_LT(one, t.model.vocab().size() / 2.0) << "the model should have learned something of the toy text";
    std::printf("held-out perplexity: 1 stream %.5f", one);
    for (uint32_t streams : {4u, 32u}) {
        std::vector<float> per;
        const loss_sum l = eval.evaluate(t.text, streams, 35, &per);
        EXPECT_EQ(l.tokens, t.text.size() - 1);
        EXPECT_EQ(per.size(), t.text.size() - 1);
        EXPECT_NEAR(l.perplexity(), one, 1e-3 * one) << streams << " streams";
        std::printf(", %u streams %.5f", streams, l.perplexity());
    }
    std::printf("\n");
}

// Training's validation figure is evaluation's, with the same independence of the streams.
TEST(sessions, validation_during_training_does_not_depend_on_streams) {
    const trained& t = toy_model();
    ASSERT_GE(t.valid.size(), 2000u);
    ASSERT_GT(t.valid_ppl, 0.0);
    const double one = t.model.evaluate(t.valid, 1, 24).perplexity();
    EXPECT_NEAR(t.valid_ppl, one, 1e-3 * one);
}

}  // namespace
}  // namespace charlm
