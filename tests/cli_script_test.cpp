// Chinese as people write it (issue 26) through the real binary: a model knows its script; input in
// the other script (prefix, acrostic, mood, stop, a text to evaluate) is read in the model's and
// said on stderr; --convert off keeps it as typed; --script prints the reader's script; a model
// trained with --convert-corpus t2s is a simplified model. Standalone heads take the variant in
// the vocabulary (a library test, on a vocabulary made for it).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "charlm/model_file.hpp"
#include "charlm/script.hpp"
#include "charlm/text.hpp"
#include "charlm/vocab.hpp"
#include "cli_support.h"

namespace charlm::test {
namespace {

using nlohmann::json;

std::string convert(const std::string& text, script_conversion c) {
    auto r = convert_script(text, c);
    EXPECT_TRUE(r.ok()) << r.err().message;
    return r.ok() ? *r : "";
}

// Traditional Tang poems: the first 200 kB of the shared corpus.
std::string traditional_text() {
    static const std::string t = slurp(std::string(CHARLM_SHARED_CORPORA) + "/tang_poems_3mb.txt").substr(0, 200000);
    return t.substr(0, t.rfind('\n') + 1);
}

std::string train_model(const std::string& name, std::vector<std::string> more) {
    static std::map<std::string, std::string> made;
    if (made.count(name)) return made[name];
    const std::string corpus = write_file(name + ".txt", traditional_text());
    const std::string out = scratch_dir() + "/" + name + ".safetensors";
    std::vector<std::string> a = {"train", "--corpus", corpus, "--cell", "gru", "--hidden", "24", "--embed", "8",
                                  "--batch", "16", "--steps", "32", "--epochs", "1", "--threads", "1", "--lr", "0.01",
                                  "--out", out, "--force"};
    a.insert(a.end(), more.begin(), more.end());
    auto r = run_charlm(a);
    EXPECT_EQ(r.status, 0) << r.err;
    return made[name] = out;
}
std::string traditional_model() { return train_model("script_trad", {}); }
std::string simplified_model() { return train_model("script_t2s", {"--convert-corpus", "t2s"}); }

// The heads of a poem's lines (the characters after each start, '，' and '。').
std::string heads(const std::string& poem) {
    std::string out;
    bool at_start = true;
    for (size_t i = 0; i < poem.size();) {
        size_t n = 1;
        const auto c = static_cast<unsigned char>(poem[i]);
        if (c >= 0xF0) n = 4;
        else if (c >= 0xE0) n = 3;
        else if (c >= 0xC0) n = 2;
        const std::string ch = poem.substr(i, n);
        if (ch == "，" || ch == "。" || ch == "\n") at_start = true;
        else if (at_start) {
            out += ch;
            at_start = false;
        }
        i += n;
    }
    return out;
}

TEST(cli_script, a_model_knows_its_script) {
    auto trad = run_charlm({"info", "--json", traditional_model()});
    ASSERT_EQ(trad.status, 0) << trad.err;
    EXPECT_EQ(json::parse(trad.out)["text"]["script"], "traditional");
    auto simp = run_charlm({"info", "--json", simplified_model()});
    ASSERT_EQ(simp.status, 0) << simp.err;
    EXPECT_EQ(json::parse(simp.out)["text"]["script"], "simplified");
    EXPECT_EQ(json::parse(simp.out)["text"]["convert_corpus"], "t2s");
    auto m = load_model(simplified_model());
    ASSERT_TRUE(m.ok()) << m.err().message;
    EXPECT_TRUE(m->model.vocab().contains("风"));
    EXPECT_FALSE(m->model.vocab().contains("風"));
    auto corpus = run_charlm({"corpus", "--json", write_file("script_corpus.txt", traditional_text())});
    ASSERT_EQ(corpus.status, 0) << corpus.err;
    EXPECT_EQ(json::parse(corpus.out)["script"]["script"], "traditional");
}

TEST(cli_script, a_simplified_acrostic_writes_on_a_traditional_model) {
    const std::vector<std::string> args = {"generate", "--model", traditional_model(), "--form", "五绝", "--acrostic",
                                           "明月清风", "--seed", "1"};
    auto r = run_charlm(args);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.err.find("acrostic 明月清风 read as 明月清風 (simplified -> traditional)"), std::string::npos) << r.err;
    EXPECT_EQ(heads(r.out), "明月清風") << r.out;

    auto more = args;
    more.insert(more.end(), {"--script", "simplified"});
    auto s = run_charlm(more);
    ASSERT_EQ(s.status, 0) << s.err;
    EXPECT_EQ(heads(s.out), "明月清风") << s.out;
    EXPECT_EQ(s.out, convert(r.out, script_conversion::t2s)) << "the reader's script is the finished text converted";

    auto off = args;
    off.insert(off.end(), {"--convert", "off"});
    auto o = run_charlm(off);
    EXPECT_EQ(o.status, 2) << o.out;
    EXPECT_NE(o.err.find("never saw: '风' (U+98CE)"), std::string::npos) << o.err;
}

TEST(cli_script, prefix_mood_and_stop_are_read_in_the_models_script) {
    auto p = run_charlm({"generate", "--model", traditional_model(), "--prefix", "春风", "--length", "12", "--stop",
                         "风", "--seed", "3"});
    ASSERT_EQ(p.status, 0) << p.err;
    EXPECT_NE(p.err.find("prefix 春风 read as 春風 (simplified -> traditional)"), std::string::npos) << p.err;
    EXPECT_NE(p.err.find("stop 风 read as 風"), std::string::npos) << p.err;
    EXPECT_EQ(p.out.rfind("春風", 0), 0u) << p.out;
    auto m = run_charlm({"generate", "--model", traditional_model(), "--form", "五绝", "--mood", "秋风落叶", "--seed",
                         "3"});
    ASSERT_EQ(m.status, 0) << m.err;
    EXPECT_NE(m.err.find("mood 秋风落叶 read as 秋風落葉"), std::string::npos) << m.err;
    // Text in the model's own script is left as typed, and nothing is said.
    auto same = run_charlm({"generate", "--model", traditional_model(), "--prefix", "春風", "--length", "5"});
    ASSERT_EQ(same.status, 0) << same.err;
    EXPECT_EQ(same.err.find("read as"), std::string::npos) << same.err;
}

TEST(cli_script, a_simplified_model_writes_traditional_for_its_reader) {
    const std::vector<std::string> args = {"generate", "--model", simplified_model(), "--prefix", "春風", "--length",
                                           "60", "--seed", "4"};
    auto own = run_charlm(args);
    ASSERT_EQ(own.status, 0) << own.err;
    // The model's own --convert-corpus t2s reads every input, as --normalize does: nothing to say.
    EXPECT_EQ(own.out.rfind("春风", 0), 0u) << own.out;
    auto more = args;
    more.insert(more.end(), {"--script", "traditional"});
    auto trad = run_charlm(more);
    ASSERT_EQ(trad.status, 0) << trad.err;
    EXPECT_EQ(trad.out, convert(own.out, script_conversion::s2t));
}

TEST(cli_script, eval_reads_a_simplified_text_on_a_traditional_model) {
    const std::string text = traditional_text().substr(0, 30000);
    const std::string trad_file = write_file("script_eval_trad.txt", text.substr(0, text.rfind('\n') + 1));
    const std::string simp_file = write_file("script_eval_simp.txt", convert(slurp(trad_file), script_conversion::t2s));
    auto a = run_charlm({"eval", "--model", traditional_model(), "--text", trad_file, "--json"});
    ASSERT_EQ(a.status, 0) << a.err;
    auto b = run_charlm({"eval", "--model", traditional_model(), "--text", simp_file, "--json"});
    ASSERT_EQ(b.status, 0) << b.err;
    EXPECT_NE(b.err.find("read as traditional characters, the model's (s2t"), std::string::npos) << b.err;
    const double pa = json::parse(a.out)["perplexity"], pb = json::parse(b.out)["perplexity"];
    EXPECT_NEAR(pb, pa, 0.05 * pa);
    EXPECT_EQ(json::parse(b.out)["converted"], "s2t");
    // Standard input too (it is read once and kept for the second reading).
    auto piped = run_charlm({"eval", "--model", traditional_model(), "--text", "-", "--json"}, slurp(simp_file));
    ASSERT_EQ(piped.status, 0) << piped.err;
    EXPECT_EQ(json::parse(piped.out)["converted"], "s2t");
    EXPECT_NEAR(json::parse(piped.out)["perplexity"].get<double>(), pb, 1e-9);
    auto off = run_charlm({"eval", "--model", traditional_model(), "--text", simp_file, "--json", "--convert", "off"});
    ASSERT_EQ(off.status, 0) << off.err;
    EXPECT_GT(json::parse(off.out)["unknown_tokens"].get<uint64_t>(), 100u);
}

// A --valid text in the other script than the corpus is read in the corpus's, as eval reads one:
// it was read as typed, nearly every character unknown, and the validation figure meant nothing.
TEST(cli_script, train_reads_a_simplified_valid_text_in_the_traditional_corpus_script) {
    const std::string text = traditional_text();
    const size_t cut = text.find('\n', 150000) + 1;
    const std::string corpus = write_file("script_train_corpus.txt", text.substr(0, cut));
    const std::string valid_trad = write_file("script_train_valid_trad.txt", text.substr(cut));
    const std::string valid_simp = write_file("script_train_valid_simp.txt", convert(slurp(valid_trad), script_conversion::t2s));
    auto train_on = [&](const std::string& valid, const std::string& name) {
        return run_charlm({"train", "--corpus", corpus, "--valid", valid, "--cell", "gru", "--hidden", "16", "--embed",
                           "8", "--batch", "8", "--steps", "16", "--epochs", "1", "--threads", "1", "--out",
                           scratch_dir() + "/" + name + ".safetensors", "--force"});
    };
    auto trad = train_on(valid_trad, "script_train_trad");
    ASSERT_EQ(trad.status, 0) << trad.err;
    auto simp = train_on(valid_simp, "script_train_simp");
    ASSERT_EQ(simp.status, 0) << simp.err;
    EXPECT_NE(simp.out.find("is in simplified characters: read as traditional, the corpus's (s2t)"), std::string::npos)
        << simp.out;
    EXPECT_EQ(trad.out.find("read as"), std::string::npos) << trad.out;
    auto valid_ppl = [](const std::string& out) {
        const size_t at = out.rfind("valid ppl ");
        return at == std::string::npos ? 0.0 : std::stod(out.substr(at + 10));
    };
    EXPECT_GT(valid_ppl(trad.out), 1.0) << trad.out;
    EXPECT_NEAR(valid_ppl(simp.out), valid_ppl(trad.out), 0.05 * valid_ppl(trad.out)) << simp.out;
}

// A standalone character takes, of its variants, those in the vocabulary, and of those the most
// frequent (the lowest id): 发 -> 發 (not 髮), 后 -> 後 (not 后), 干 -> 乾 (not 幹).
TEST(cli_script, standalone_heads_take_the_most_frequent_variant_the_model_knows) {
    auto vocab = vocabulary::from_tokens({"<unk>", "\n", "後", "發", "乾", "后", "髮", "幹", "風", "明"});
    ASSERT_TRUE(vocab.ok()) << vocab.err().message;
    text_config tc;
    tc.script = text_script::traditional;
    auto heads = to_model_script("发后干风", tc, *vocab, true);
    ASSERT_TRUE(heads.ok()) << heads.err().message;
    EXPECT_EQ(heads->text, "發後乾風");
    EXPECT_EQ(heads->converted, script_conversion::s2t);
    auto only = vocabulary::from_tokens({"<unk>", "髮", "風"});
    ASSERT_TRUE(only.ok());
    EXPECT_EQ(to_model_script("发风", tc, *only, true)->text, "髮風");
    EXPECT_EQ(to_model_script("干风", tc, *only, true)->text, "干風") << "no variant known: left to --unknown";
    // Text the model can read as typed is left alone; so is any text for a model of no known script.
    EXPECT_EQ(to_model_script("明後", tc, *vocab, true)->converted, script_conversion::none);
    text_config unknown;
    EXPECT_EQ(to_model_script("明月清风", unknown, *vocab, true)->text, "明月清风");
}

}  // namespace
}  // namespace charlm::test
