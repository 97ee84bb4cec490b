// Chinese script conversion and detection (charlm/script.hpp): the phrase cases a character table
// gets wrong, every variant of the ambiguous characters, charlm's converter against OpenCC's own
// on whole corpora byte for byte, and the script measured on the shared corpora.
#include <gtest/gtest.h>
#include <opencc/SimpleConverter.hpp>

#include <fstream>
#include <sstream>

#include "charlm/script.hpp"
#include "charlm/text.hpp"

namespace charlm {
namespace {

std::string read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string conv(std::string_view text, script_conversion c) {
    auto r = convert_script(text, c);
    EXPECT_TRUE(r.ok()) << r.err().message;
    return r.ok() ? *r : "";
}

TEST(script, phrases_decide_what_a_character_table_cannot) {
    EXPECT_EQ(conv("头发", script_conversion::s2t), "頭髮");
    EXPECT_EQ(conv("发现", script_conversion::s2t), "發現");
    EXPECT_EQ(conv("干杯", script_conversion::s2t), "乾杯");
    EXPECT_EQ(conv("树干", script_conversion::s2t), "樹幹");
    EXPECT_EQ(conv("明月清风", script_conversion::s2t), "明月清風");
    EXPECT_EQ(conv("頭髮發現", script_conversion::t2s), "头发发现");
    EXPECT_EQ(conv("spring 春风, ok", script_conversion::s2t), "spring 春風, ok");
    EXPECT_EQ(conv("春风", script_conversion::none), "春风");
}

TEST(script, ambiguous_characters_list_every_variant) {
    auto v = [](const char* ch) {
        auto r = script_variants(ch, script_conversion::s2t);
        EXPECT_TRUE(r.ok());
        return r.ok() ? *r : std::vector<std::string>{};
    };
    EXPECT_EQ(v("发"), (std::vector<std::string>{"發", "髮"}));
    EXPECT_EQ(v("后"), (std::vector<std::string>{"後", "后"}));
    EXPECT_EQ(v("干"), (std::vector<std::string>{"幹", "乾", "干"}));
    EXPECT_TRUE(v("a").empty());
}

// The fast converter is OpenCC's rule: the same bytes as OpenCC's converter on whole corpora.
TEST(script, equals_opencc_on_whole_corpora) {
    const std::string dir = CHARLM_SHARED_CORPORA;
    const std::pair<const char*, script_conversion> cases[] = {
        {"/tang_poems_3mb.txt", script_conversion::t2s},
        {"/tang_poems_3mb_simplified.txt", script_conversion::s2t},
        {"/song100.txt", script_conversion::t2s},
        {"/song100.txt", script_conversion::s2t}};
    for (const auto& [file, c] : cases) {
        const std::string text = read(dir + file);
        ASSERT_GT(text.size(), 1000u) << file;
        opencc::SimpleConverter reference(c == script_conversion::t2s ? "t2s.json" : "s2t.json");
        const std::string expected = reference.Convert(text);
        const std::string got = conv(text, c);
        EXPECT_EQ(got.size(), expected.size()) << file;
        size_t at = 0;
        while (at < got.size() && at < expected.size() && got[at] == expected[at]) ++at;
        EXPECT_EQ(at, got.size()) << file << ": first difference at byte " << at << ": '"
                                  << expected.substr(at > 30 ? at - 30 : 0, 60) << "' vs '"
                                  << got.substr(at > 30 ? at - 30 : 0, 60) << "'";
    }
}

script_measure measure_file(const std::string& path) {
    text_config tc;
    auto t = load_text(path, tc);
    EXPECT_TRUE(t.ok()) << t.err().message;
    if (!t.ok()) return {};
    auto m = measure_script(t->tokens, t->counts);
    EXPECT_TRUE(m.ok()) << m.err().message;
    return m.ok() ? *m : script_measure{};
}

TEST(script, measured_on_the_shared_corpora) {
    const std::string dir = CHARLM_SHARED_CORPORA;
    EXPECT_EQ(measure_file(dir + "/tang_poems_3mb.txt").script, text_script::traditional);
    EXPECT_EQ(measure_file(dir + "/tang_poems_3mb_simplified.txt").script, text_script::simplified);
    EXPECT_EQ(measure_file(dir + "/tinyshakespeare.txt").script, text_script::none);
    const script_measure m = measure_file(dir + "/tang_poems_3mb.txt");
    EXPECT_GT(m.traditional_only, 10 * m.simplified_only);
}

}  // namespace
}  // namespace charlm
