// `charlm train`, `generate`, `eval` and `info` through the real binary: a tiny run end to end
// (report lines, --metrics JSON lines, the model file, a config file), and the error cases with
// their exit statuses.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli_support.h"

namespace charlm::test {
namespace {

std::string toy_text() {
    std::string s;
    const char* lines[] = {"spring rain on the river\n", "autumn moon over the hills\n", "a crane in the pines\n",
                           "snow on the far mountain\n"};
    for (int i = 0; i < 120; ++i) s += lines[(i * 7 + i / 3) % 4];
    return s;
}

std::vector<std::string> tiny_args(const std::string& corpus) {
    return {"train",     "--corpus",  corpus, "--cell", "gru", "--layers", "1", "--hidden", "32", "--embed", "8",
            "--batch",   "4",         "--steps", "16",  "--epochs", "2",  "--threads", "1", "--lr", "0.01"};
}

TEST(cli_train, end_to_end_train_generate_eval_info) {
    const std::string corpus = write_file("cli_toy.txt", toy_text());
    const std::string model = scratch_dir() + "/cli_toy.safetensors";
    const std::string metrics = scratch_dir() + "/cli_toy.jsonl";
    auto args = tiny_args(corpus);
    for (const char* a : {"--out", model.c_str(), "--metrics", metrics.c_str(), "--prefix", "spring", "--sample-length", "20"})
        args.push_back(a);
    auto r = run_charlm(args);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("epoch 2 | step "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("valid ppl"), std::string::npos);
    EXPECT_NE(r.out.find("sample: spring"), std::string::npos) << r.out;

    // --metrics: one JSON object per report with the documented keys.
    std::istringstream lines(slurp(metrics));
    std::string line;
    int n = 0;
    while (std::getline(lines, line)) {
        auto j = nlohmann::json::parse(line);
        for (const char* k : {"epoch", "step", "train_ppl", "valid_ppl", "bpc", "grad_norm", "clipped", "lr",
                              "chars_per_sec", "elapsed_s"})
            EXPECT_TRUE(j.contains(k)) << k << " in " << line;
        ++n;
    }
    EXPECT_GE(n, 2);

    auto g = run_charlm({"generate", "--model", model, "--prefix", "autumn", "--length", "30", "--seed", "3"});
    ASSERT_EQ(g.status, 0) << g.err;
    EXPECT_EQ(g.out.rfind("autumn", 0), 0u) << g.out;
    auto g2 = run_charlm({"generate", "--model", model, "--prefix", "autumn", "--length", "30", "--seed", "3"});
    EXPECT_EQ(g.out, g2.out) << "same seed, same text";
    auto greedy = run_charlm({"generate", "--model", model, "--prefix", "a", "--length", "10", "--greedy"});
    EXPECT_EQ(greedy.status, 0) << greedy.err;

    auto e = run_charlm({"eval", "--model", model, "--text", corpus, "--json"});
    ASSERT_EQ(e.status, 0) << e.err;
    auto ej = nlohmann::json::parse(e.out);
    for (const char* k : {"tokens", "perplexity", "bpc", "nll_stddev"}) EXPECT_TRUE(ej.contains(k)) << k;
    EXPECT_EQ(ej["tokens"].get<uint64_t>(), toy_text().size() - 1);
    EXPECT_GT(ej["perplexity"].get<double>(), 1.0);

    auto i = run_charlm({"info", "--model", model, "--json"});
    ASSERT_EQ(i.status, 0) << i.err;
    auto ij = nlohmann::json::parse(i.out);
    EXPECT_EQ(ij["cell"], "gru");
    EXPECT_GT(ij["parameters"].get<uint64_t>(), 0u);
    auto it = run_charlm({"info", model});
    EXPECT_EQ(it.status, 0);
    EXPECT_NE(it.out.find("rnn.weight_hh_l0"), std::string::npos) << it.out;
}

// The adaptive softmax through the CLI: the cutoffs it is given are saved, shown by info (text and
// JSON), and the model generates and evaluates; resuming with other cutoffs is refused.
TEST(cli_train, adaptive_softmax_train_info_generate_eval) {
    const std::string corpus = write_file("cli_adaptive.txt", toy_text());
    const std::string model = scratch_dir() + "/cli_adaptive.safetensors";
    auto args = tiny_args(corpus);
    for (const char* a : {"--out", model.c_str(), "--force", "--cutoffs", "6,12", "--div-value", "2"}) args.push_back(a);
    auto r = run_charlm(args);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("adaptive softmax: head 6 tokens"), std::string::npos) << r.out;

    auto i = run_charlm({"info", "--json", model});
    ASSERT_EQ(i.status, 0) << i.err;
    auto ij = nlohmann::json::parse(i.out);
    EXPECT_EQ(ij["softmax"], "adaptive");
    EXPECT_EQ(ij["cutoffs"], nlohmann::json::array({6, 12}));
    EXPECT_EQ(ij["div_value"].get<double>(), 2.0);
    auto it = run_charlm({"info", model});
    EXPECT_NE(it.out.find("AdaptiveLogSoftmax"), std::string::npos) << it.out;
    EXPECT_NE(it.out.find("adaptive softmax: head ids 0..5 and 2 cluster entries; cluster 1 ids 6..11 through 16 "
                          "units; cluster 2 ids 12.."),
              std::string::npos)
        << it.out;
    EXPECT_NE(it.out.find("decoder.tail.1.1.weight"), std::string::npos) << it.out;

    auto g = run_charlm({"generate", "--model", model, "--prefix", "snow", "--length", "30", "--seed", "3"});
    ASSERT_EQ(g.status, 0) << g.err;
    EXPECT_EQ(g.out.rfind("snow", 0), 0u) << g.out;
    auto e = run_charlm({"eval", "--model", model, "--text", corpus, "--json"});
    ASSERT_EQ(e.status, 0) << e.err;
    const double ppl = nlohmann::json::parse(e.out)["perplexity"].get<double>();
    EXPECT_GT(ppl, 1.0);
    EXPECT_LT(ppl, 12.0) << "the toy text is learnable";

    auto resumed = run_charlm({"train", "--resume", model + ".ckpt", "--cutoffs", "5,12", "--epochs", "3"});
    EXPECT_EQ(resumed.status, 2) << resumed.err;
    EXPECT_NE(resumed.err.find("the output layer"), std::string::npos) << resumed.err;
}

TEST(cli_train, config_file_gives_the_same_options) {
    const std::string corpus = write_file("cli_cfg.txt", toy_text());
    const std::string cfg = write_file("tiny.ini", "cell = lstm\nlayers = 1\nhidden = 16\nembed = 4\nbatch = 4\n"
                                                   "steps = 8\nepochs = 1\nthreads = 1\n");
    auto r = run_charlm({"train", "--config", cfg, "--corpus", corpus});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("1 x 16 lstm"), std::string::npos) << r.out;
    const std::string bad = write_file("bad.ini", "cell = transformer\n");
    auto b = run_charlm({"train", "--config", bad, "--corpus", corpus});
    EXPECT_EQ(b.status, 2) << b.err;
    EXPECT_NE(b.err.find("transformer"), std::string::npos) << b.err;
}

TEST(cli_train, errors_and_exit_statuses) {
    const std::string corpus = write_file("cli_err.txt", toy_text());
    struct bad_case {
        std::vector<std::string> extra;
        int status;
        const char* says;
    };
    const bad_case cases[] = {
        {{"--cell", "transformer"}, 2, "--cell"},
        {{"--batch", "0"}, 2, "--batch"},
        {{"--lr", "-1"}, 2, "--lr"},
        {{"--dropout", "1.5"}, 2, "--dropout"},
        {{"--valid-fraction", "1"}, 2, "--valid-fraction"},
        {{"--sampling", "sequential"}, 2, "--sampling"},
        {{"--optimizer", "rmsprop"}, 2, "--optimizer"},
        {{"--time-budget", "soon"}, 2, "duration"},
        {{"--hidden", "many"}, 2, "hidden"},
    };
    for (const auto& c : cases) {
        auto args = tiny_args(corpus);
        args.insert(args.end(), c.extra.begin(), c.extra.end());
        auto r = run_charlm(args);
        EXPECT_EQ(r.status, c.status) << c.extra[0] << ": " << r.err;
        EXPECT_NE(r.err.find(c.says), std::string::npos) << c.extra[0] << ": " << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    }
    // A corpus shorter than one window: a runtime error, not a usage error.
    auto short_run = run_charlm(tiny_args(write_file("cli_short.txt", "spring rain\n")));
    EXPECT_EQ(short_run.status, 1) << short_run.err;
    EXPECT_NE(short_run.err.find("fewer than"), std::string::npos) << short_run.err;
    auto empty_run = run_charlm(tiny_args(write_file("cli_empty.txt", "")));
    EXPECT_EQ(empty_run.status, 1) << empty_run.err;

    auto missing = run_charlm({"train", "--epochs", "1"});
    EXPECT_EQ(missing.status, 2);
    auto no_file = run_charlm({"train", "--corpus", scratch_dir() + "/nope.txt"});
    EXPECT_EQ(no_file.status, 1);
    EXPECT_NE(no_file.err.find("nope.txt"), std::string::npos);

    // An existing output is never overwritten without --force.
    const std::string out = write_file("precious.safetensors", "keep me");
    auto args = tiny_args(corpus);
    args.insert(args.end(), {"--out", out});
    auto r = run_charlm(args);
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;
    EXPECT_EQ(slurp(out), "keep me");

    // Bad model files.
    auto g = run_charlm({"generate", "--model", out});
    EXPECT_EQ(g.status, 1);
    EXPECT_NE(g.err.find("precious.safetensors"), std::string::npos) << g.err;
    auto t = run_charlm({"generate", "--model", out, "--temperature", "-1"});
    EXPECT_EQ(t.status, 2);
}

// Checkpoints through the CLI: --resume continues with the checkpoint's settings, `info` says
// where a checkpoint stands, changed settings and existing files are refused, and eval's --logits
// keeps an existing file unless --force.
TEST(cli_train, resume_info_and_refusals) {
    const std::string corpus = write_file("cli_resume.txt", toy_text());
    const std::string dir = scratch_dir() + "/cli_resume";
    std::filesystem::create_directories(dir);
    const std::string model = dir + "/m.safetensors";
    auto args = tiny_args(corpus);
    for (const char* a : {"--out", model.c_str(), "--keep-last", "1"}) args.push_back(a);
    auto r = run_charlm(args);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(std::filesystem::exists(model + ".ckpt"));
    EXPECT_TRUE(std::filesystem::exists(model + ".epoch2.ckpt"));
    EXPECT_FALSE(std::filesystem::exists(model + ".epoch1.ckpt"));

    // A new run onto the same files needs --force (the checkpoint counts too).
    std::filesystem::remove(model);
    std::filesystem::remove(model + ".best");
    auto again = run_charlm(args);
    EXPECT_EQ(again.status, 1);
    EXPECT_NE(again.err.find("m.safetensors.ckpt' exists; pass --force"), std::string::npos) << again.err;

    auto info = run_charlm({"info", "--json", model + ".ckpt"});
    ASSERT_EQ(info.status, 0) << info.err;
    auto j = nlohmann::json::parse(info.out);
    EXPECT_EQ(j["checkpoint"]["epoch"], 3);
    EXPECT_EQ(j["checkpoint"]["batch"], 0);
    EXPECT_EQ(j["training"]["corpus_checksum"].get<std::string>().rfind("fnv1a64:", 0), 0u);
    EXPECT_EQ(j["layers"].size(), 3u);  // embedding, rnn_l0, decoder
    auto plain = run_charlm({"info", "--json", dir + "/m.safetensors.epoch2.ckpt"});
    ASSERT_EQ(plain.status, 0) << plain.err;

    // Settings that would change the run are refused; --epochs extends it.
    auto changed = run_charlm({"train", "--resume", model + ".ckpt", "--epochs", "3", "--hidden", "64"});
    EXPECT_EQ(changed.status, 2);
    EXPECT_NE(changed.err.find("the model is"), std::string::npos) << changed.err;
    auto done = run_charlm({"train", "--resume", model + ".ckpt"});
    EXPECT_EQ(done.status, 2);
    EXPECT_NE(done.err.find("larger --epochs"), std::string::npos) << done.err;
    auto resumed = run_charlm({"train", "--resume", model + ".ckpt", "--epochs", "3"});
    ASSERT_EQ(resumed.status, 0) << resumed.err;
    EXPECT_NE(resumed.out.find("resuming from " + model + ".ckpt: epoch 3, batch 0"), std::string::npos) << resumed.out;
    EXPECT_NE(resumed.out.find("epoch 3 | step"), std::string::npos) << resumed.out;
    EXPECT_TRUE(std::filesystem::exists(model + ".epoch3.ckpt"));
    EXPECT_FALSE(std::filesystem::exists(model + ".epoch2.ckpt"));

    // eval --logits does not overwrite without --force.
    const std::string logits = write_file("cli_resume.logits", "keep me");
    auto ev = run_charlm({"eval", "--model", model, "--text", corpus, "--logits", logits});
    EXPECT_EQ(ev.status, 1);
    EXPECT_EQ(slurp(logits), "keep me");
    auto evf = run_charlm({"eval", "--model", model, "--text", corpus, "--logits", logits, "--force"});
    ASSERT_EQ(evf.status, 0) << evf.err;
    EXPECT_GT(slurp(logits).size(), 1000u);
}

}  // namespace
}  // namespace charlm::test
