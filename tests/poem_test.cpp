// Poems that keep their form (issue 13): form names, the tone patterns of regulated verse, Middle
// Chinese tones and rhyme groups of known characters and real poems, and generation over many
// seeds and temperatures with a small model trained here (through the binary) on 60 Tang poems:
// every poem has the form, the acrostic heads, the rhyme and the tone pattern asked for, checked
// by an independent reading of the text; backups are counted; the same seed gives the same poem.
// Usage errors of `charlm generate --form ...` run through the binary, one row each.
#include <fmt/core.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <set>

#include "charlm/model_file.hpp"
#include "charlm/poem.hpp"
#include "charlm/text.hpp"
#include "cli_support.h"
#include "sample/poem_impl.h"

namespace charlm {
namespace {

// ---- reading a generated poem back, independently of the generator

// The code points of a UTF-8 string, one string each (the test corpora are NFC and have no
// combining marks, so a code point is a grapheme here).
std::vector<std::string> chars_of(const std::string& s) {
    std::vector<std::string> out;
    for (size_t i = 0; i < s.size();) {
        const auto b = static_cast<unsigned char>(s[i]);
        const size_t n = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
        out.push_back(s.substr(i, n));
        i += n;
    }
    return out;
}

// Splits a poem into its lines; an empty result with `why` set when the text is not of the form
// (line lengths, `，` after odd lines, `。` after even ones and the last, a newline after each `。`
// except the last, Han characters only inside lines).
std::vector<std::vector<std::string>> lines_of(const std::string& poem, const std::vector<uint32_t>& form,
                                               std::string& why) {
    std::vector<std::vector<std::string>> lines(1);
    const auto c = chars_of(poem);
    size_t i = 0;
    for (size_t l = 0; l < form.size(); ++l) {
        for (uint32_t k = 0; k < form[l]; ++k, ++i) {
            if (i >= c.size() || !poem::is_han(c[i])) {
                why = fmt::format("line {} character {} is '{}', not a Han character", l + 1, k + 1,
                                  i < c.size() ? c[i] : "(end)");
                return {};
            }
            lines.back().push_back(c[i]);
        }
        const bool last = l + 1 == form.size();
        const std::string punct = l % 2 == 1 || last ? "。" : "，";
        if (i >= c.size() || c[i] != punct) {
            why = fmt::format("line {} ends with '{}', not '{}'", l + 1, i < c.size() ? c[i] : "(end)", punct);
            return {};
        }
        ++i;
        if (punct == "。" && !last) {
            if (i >= c.size() || c[i] != "\n") {
                why = fmt::format("no newline after line {}", l + 1);
                return {};
            }
            ++i;
        }
        if (!last) lines.emplace_back();
    }
    if (i != c.size()) {
        why = "text after the last line";
        return {};
    }
    return lines;
}

// The four 五言 lines of the textbooks, and the couplet order of the four quatrains (平起/仄起,
// first line rhymed or not); 七言 prefixes two characters of the opposite tone.
const std::map<std::string, std::string> five_lines = {
    {"a", "仄仄平平仄"}, {"b", "平平仄仄平"}, {"c", "平平平仄仄"}, {"d", "仄仄仄平平"}};
const std::vector<std::string> quatrains = {"abcd", "cdab", "dbcd", "bdab"};

std::string seven_of(const std::string& five) {
    const std::string first = chars_of(five)[0] == "平" ? "仄仄" : "平平";
    return first + five;
}

// Whether the poem follows one canonical pattern, reading each character's tones from the table.
bool follows_pattern(const std::vector<std::vector<std::string>>& lines, const prosody_table& t, std::string& why) {
    for (const auto& q : quatrains) {
        bool ok = true;
        for (size_t l = 0; l < lines.size() && ok; ++l) {
            const std::string five = five_lines.at(std::string(1, q[l % 4]));
            const auto want = chars_of(lines[l].size() == 7 ? seven_of(five) : five);
            for (size_t k = 0; k < lines[l].size() && ok; ++k) {
                const auto* e = t.find(lines[l][k]);
                ok = e && (e->tones & (want[k] == "平" ? tone_level : tone_oblique));
            }
        }
        if (ok) return true;
    }
    why = "no canonical pattern fits";
    return false;
}

bool rhymes(const std::vector<std::vector<std::string>>& lines, bool first, const prosody_table& t, std::string& why) {
    rhyme_set common;
    common.set();
    std::set<std::string> used;
    for (size_t l = 0; l < lines.size(); ++l) {
        if (l % 2 == 0 && !(first && l == 0)) continue;
        const auto* e = t.find(lines[l].back());
        if (!e || !(e->tones & tone_level)) {
            why = fmt::format("line {} ends in '{}', not a level tone", l + 1, lines[l].back());
            return false;
        }
        common &= e->level_rhymes;
        if (!used.insert(lines[l].back()).second) {
            why = fmt::format("line {} repeats the rhyme '{}'", l + 1, lines[l].back());
            return false;
        }
    }
    if (common.none()) why = "the rhyming characters share no rhyme group";
    return common.any();
}

const prosody_table& table() {
    static const prosody_table t = [] {
        auto r = prosody_table::load();
        EXPECT_TRUE(r.ok()) << r.err().message;
        return r.ok() ? std::move(*r) : prosody_table{};
    }();
    return t;
}

// ---- forms and patterns

TEST(poem_form, names_aliases_and_custom_shapes) {
    const std::vector<std::tuple<std::string, std::string, std::vector<uint32_t>>> rows = {
        {"五绝", "五绝", {5, 5, 5, 5}},        {"wujue", "五绝", {5, 5, 5, 5}},
        {"七绝", "七绝", {7, 7, 7, 7}},        {"qijue", "七绝", {7, 7, 7, 7}},
        {"五律", "五律", std::vector<uint32_t>(8, 5)}, {"wulv", "五律", std::vector<uint32_t>(8, 5)},
        {"七律", "七律", std::vector<uint32_t>(8, 7)}, {"qilv", "七律", std::vector<uint32_t>(8, 7)},
        {"七絕", "七绝", {7, 7, 7, 7}},        {"6x5", "6x5", {5, 5, 5, 5, 5, 5}},
        {"5,7,5,7", "5,7,5,7", {5, 7, 5, 7}}, {"3", "3", {3}}};
    for (const auto& [spec, name, lines] : rows) {
        auto f = parse_poem_form(spec);
        ASSERT_TRUE(f.ok()) << spec << ": " << f.err().message;
        EXPECT_EQ(f->name, name) << spec;
        EXPECT_EQ(f->lines, lines) << spec;
    }
    EXPECT_TRUE(parse_poem_form("4x7")->regulated());
    EXPECT_FALSE(parse_poem_form("6x5")->regulated());
    EXPECT_FALSE(parse_poem_form("5,7,5,7")->regulated());
    for (std::string bad : {"", "sonnet", "0x5", "5x0", "5x", "x5", "65x5", "5,,7", "5,33", "5,7,", "-5", "5x5x5"}) {
        auto f = parse_poem_form(bad);
        ASSERT_FALSE(f.ok()) << "'" << bad << "' was accepted";
        EXPECT_EQ(f.err().code, errc::usage);
        EXPECT_NE(f.err().message.find("--form"), std::string::npos) << f.err().message;
    }
}

std::string tones_text(uint8_t mask, uint32_t length) {
    std::string s;
    for (uint32_t k = 0; k < length; ++k) s += (mask >> k & 1) ? "平" : "仄";
    return s;
}

TEST(poem_tones, canonical_lines_and_the_order_of_a_poem) {
    EXPECT_EQ(tones_text(poem::canonical_line(5, false, false), 5), "仄仄平平仄");
    EXPECT_EQ(tones_text(poem::canonical_line(5, true, true), 5), "平平仄仄平");
    EXPECT_EQ(tones_text(poem::canonical_line(5, true, false), 5), "平平平仄仄");
    EXPECT_EQ(tones_text(poem::canonical_line(5, false, true), 5), "仄仄仄平平");
    EXPECT_EQ(tones_text(poem::canonical_line(7, true, false), 7), "平平仄仄平平仄");
    EXPECT_EQ(tones_text(poem::canonical_line(7, false, true), 7), "仄仄平平仄仄平");
    EXPECT_EQ(tones_text(poem::canonical_line(7, true, true), 7), "平平仄仄仄平平");
    EXPECT_EQ(tones_text(poem::canonical_line(7, false, false), 7), "仄仄平平平仄仄");
    // 仄起, first line unrhymed: 仄仄平平仄，平平仄仄平。平平平仄仄，仄仄仄平平。 (then again in a 律)
    std::string poem_text;
    for (uint32_t l = 0; l < 8; ++l)
        poem_text += tones_text(poem::canonical_line(5, poem::level_second(l, false), poem::level_end(l, false)), 5) + " ";
    EXPECT_EQ(poem_text, "仄仄平平仄 平平仄仄平 平平平仄仄 仄仄仄平平 仄仄平平仄 平平仄仄平 平平平仄仄 仄仄仄平平 ");
    // 平起, first line rhymed: 平平仄仄平，仄仄仄平平。仄仄平平仄，平平仄仄平。
    poem_text.clear();
    for (uint32_t l = 0; l < 4; ++l)
        poem_text += tones_text(poem::canonical_line(5, poem::level_second(l, true), poem::level_end(l, true)), 5) + " ";
    EXPECT_EQ(poem_text, "平平仄仄平 仄仄仄平平 仄仄平平仄 平平仄仄平 ");
}

TEST(poem_tones, loose_frees_one_three_five_but_not_lone_level_or_three_level_tail) {
    auto as_text = [](const std::vector<uint8_t>& masks, uint32_t n) {
        std::set<std::string> s;
        for (auto m : masks) s.insert(tones_text(m, n));
        return s;
    };
    // 平平仄仄平: position 1 仄 would leave the second character a lone 平 (孤平); position 3 平 is fine.
    EXPECT_EQ(as_text(poem::allowed_lines(5, true, true, tone_rule::loose), 5),
              (std::set<std::string>{"平平仄仄平", "平平平仄平", "仄平平仄平"}));
    // 仄仄仄平平: position 3 平 would end in three 平 (三平调).
    EXPECT_EQ(as_text(poem::allowed_lines(5, false, true, tone_rule::loose), 5),
              (std::set<std::string>{"仄仄仄平平", "平仄仄平平"}));
    EXPECT_EQ(poem::allowed_lines(5, false, false, tone_rule::loose).size(), 4u);  // 仄收: 1 and 3 free
    EXPECT_EQ(poem::allowed_lines(7, true, false, tone_rule::strict).size(), 1u);
    EXPECT_TRUE(poem::lone_level(0b10010, 5));    // 仄平仄仄平
    EXPECT_FALSE(poem::lone_level(0b11000, 5));   // 仄仄仄平平
    EXPECT_TRUE(poem::lone_level(0b1001000, 7));  // 仄仄仄平仄仄平
    EXPECT_TRUE(poem::three_level_tail(0b11100, 5));
    EXPECT_FALSE(poem::three_level_tail(0b11000, 5));
}

// ---- Middle Chinese readings

TEST(prosody, tones_of_known_characters_are_middle_chinese) {
    const prosody_table& t = table();
    ASSERT_GT(t.size(), 20000u);
    // Level in Mandarin, oblique (former entering tone) in verse, simplified and traditional.
    for (std::string c : {"白", "国", "國", "一", "十", "月", "日", "竹", "八", "石", "笛"}) {
        const auto* e = t.find(c);
        ASSERT_NE(e, nullptr) << c;
        EXPECT_EQ(e->tones, tone_oblique) << c << " must be 仄";
    }
    for (std::string c : {"花", "春", "山", "东", "東", "秋", "天"}) {
        const auto* e = t.find(c);
        ASSERT_NE(e, nullptr) << c;
        EXPECT_EQ(e->tones, tone_level) << c << " must be 平";
    }
    // 風 is also read in the departing tone (諷); a character whose readings differ counts as either.
    for (std::string c : {"风", "風"}) {
        const auto* e = t.find(c);
        ASSERT_NE(e, nullptr) << c;
        EXPECT_TRUE(e->tones & tone_level) << c << " must be allowed as 平";
    }
    for (std::string c : {"看", "思", "过", "重"}) {
        const auto* e = t.find(c);
        ASSERT_NE(e, nullptr) << c;
        EXPECT_EQ(e->tones, tone_level | tone_oblique) << c << " reads both ways";
    }
    // Simplified 干 stands for 干 乾 幹 (level and departing), 发 for 發 and 髮.
    EXPECT_EQ(t.find("干")->tones, tone_level | tone_oblique);
    EXPECT_EQ(t.find("发")->tones, tone_oblique);
    EXPECT_EQ(t.find("a"), nullptr);
}

// Level-tone rhymes of real poems (simplified, as the corpora write them) share one group; rhymes
// of different groups do not.
TEST(prosody, rhyme_groups_of_real_poems) {
    const prosody_table& t = table();
    auto common = [&](std::vector<std::string> chars) {
        rhyme_set s;
        s.set();
        for (const auto& c : chars) {
            const auto* e = t.find(c);
            EXPECT_NE(e, nullptr) << c;
            if (e) s &= e->level_rhymes;
        }
        return s;
    };
    const std::vector<std::pair<std::string, std::vector<std::string>>> poems = {
        {"静夜思 (陽)", {"光", "霜", "乡"}},
        {"登鹳雀楼 (尤)", {"流", "楼"}},
        {"春望 (侵)", {"深", "心", "金", "簪"}},
        {"鹿柴 (陽)", {"响", "上"}},  // rising-tone rhymes: not level, see below
        {"山居秋暝 (尤)", {"秋", "流", "舟", "留"}},
        {"送友人 (庚)", {"城", "征", "情", "鸣"}},
        {"黄鹤楼 (尤)", {"楼", "悠", "洲", "愁"}},
        {"登高 (灰)", {"哀", "回", "来", "台", "杯"}},
        {"江雪 (屑)", {"绝", "灭", "雪"}},
        {"枫桥夜泊 (先)", {"天", "眠", "船"}},
        {"出塞 (刪)", {"关", "还", "山"}},
        {"送元二使安西 (真)", {"尘", "新", "人"}},
        {"春夜喜雨 (庚)", {"生", "声", "明", "城"}},
        {"旅夜书怀 (尤)", {"舟", "流", "休", "鸥"}},
        {"相思 (支)", {"枝", "思"}},
        {"题都城南庄 (東)", {"中", "红", "风"}},
        {"宿建德江 (真)", {"人", "新"}},
        {"渡荆门送别 (尤)", {"游", "流", "楼", "舟"}},
    };
    for (const auto& [name, chars] : poems) {
        if (name.find("鹿柴") != std::string::npos || name.find("江雪") != std::string::npos) {
            for (const auto& c : chars) EXPECT_TRUE(t.find(c)->tones & tone_oblique) << name << " " << c;
            continue;
        }
        EXPECT_TRUE(common(chars).any()) << name << " should rhyme";
    }
    // Groups that must stay apart: 東 and 冬, 庚 and 青, 真 and 文, 寒 and 刪, 魚 and 虞.
    for (auto [a, b] : std::vector<std::pair<std::string, std::string>>{
             {"东", "冬"}, {"庚", "青"}, {"真", "文"}, {"寒", "删"}, {"鱼", "虞"}, {"江", "阳"}, {"花", "歌"}})
        EXPECT_TRUE(common({a, b}).none()) << a << " and " << b << " must not rhyme";
    const auto* e = t.find("东");
    ASSERT_NE(e, nullptr);
    ASSERT_EQ(e->level_rhymes.count(), 1u);
    size_t g = 0;
    while (!e->level_rhymes.test(g)) ++g;
    EXPECT_EQ(t.rhyme_name(g), "東");
}

// Issue 32: 弦 and 干 are traditional characters with readings of their own, and the simplified
// forms of 絃 (also 去) and 乾 (also 仙): in traditional text they keep their own readings only.
size_t group_named(const std::string& name) {
    for (size_t g = 0; g < table().rhyme_count(); ++g)
        if (table().rhyme_name(g) == name) return g;
    ADD_FAILURE() << "no rhyme group " << name;
    return 0;
}

TEST(prosody, a_listed_character_keeps_its_own_readings_in_traditional_text) {
    const auto* xian = table().find("弦", text_script::traditional);
    ASSERT_NE(xian, nullptr);
    EXPECT_EQ(xian->tones, tone_level) << "弦 ghen";
    EXPECT_EQ(table().find("弦", text_script::simplified)->tones, tone_level | tone_oblique) << "also 絃 huenh";
    const auto* gan = table().find("干", text_script::traditional);
    ASSERT_NE(gan, nullptr);
    EXPECT_EQ(gan->tones, tone_level) << "干 kan";
    rhyme_set han;
    han.set(group_named("寒"));
    EXPECT_EQ(gan->level_rhymes, han);
    const auto* gan_s = table().find("干", text_script::simplified);
    EXPECT_EQ(gan_s->tones, tone_level | tone_oblique) << "also 幹 kanh";
    EXPECT_TRUE(gan_s->level_rhymes.test(group_named("寒")));
    EXPECT_TRUE(gan_s->level_rhymes.test(group_named("先"))) << "also 乾 gien";
    // A simplified-only form (not in the table) takes the union in either script.
    ASSERT_NE(table().find("边", text_script::traditional), nullptr);
    EXPECT_TRUE(table().find("边", text_script::traditional)->level_rhymes.test(group_named("先")));
}

// The generator's constraint takes the same readings: at a rhyme of group 先, 干 is allowed in
// simplified text (乾 gien) and not in traditional text (干 kan, 寒).
TEST(prosody, the_constraint_takes_the_readings_of_the_script) {
    std::vector<std::string> tokens = {"<unk>", "\n", "，", "。"};
    for (const auto& c : chars_of("江涯楊弦浦水殿枕枯迷落樹愁應在天前出洞干邊船還"))
        tokens.push_back(c);
    auto vocab = vocabulary::from_tokens(tokens);
    ASSERT_TRUE(vocab.ok());
    auto marks = poem_marks::of(*vocab, text_config{});
    ASSERT_TRUE(marks.ok()) << marks.err().message;
    for (const auto script : {text_script::traditional, text_script::simplified}) {
        auto c = poem_constraint::make(*vocab, *marks, *parse_poem_form("五绝"), {}, rhyme_rule::even,
                                       tone_rule::off, &table(), script);
        ASSERT_TRUE(c.ok()) << c.err().message;
        poem_constraint::state s = c->start();
        s.line = 1;  // the last character of line 2, the rhyme already 先
        s.pos = 4;
        s.rhymes.reset();
        s.rhymes.set(group_named("先"));
        std::vector<uint8_t> allowed;
        ASSERT_LT(c->next(s, allowed), 0);
        EXPECT_EQ(allowed[vocab->id("干")], script == text_script::simplified) << to_string(script);
        EXPECT_EQ(allowed[vocab->id("邊")], 1) << to_string(script);
    }
}

TEST(prosody, the_script_of_a_text_is_guessed_from_its_characters) {
    EXPECT_EQ(*guess_script(chars_of("江涯楊弦浦水殿枕枯迷落樹愁應在天前出洞干邊船還")), text_script::traditional);
    EXPECT_EQ(*guess_script(chars_of("江涯杨弦浦水殿枕枯迷落树愁应在天前出洞干边船还")), text_script::simplified);
    // Whatever else the text holds: a newline and punctuation among its characters change nothing.
    EXPECT_EQ(*guess_script(chars_of("\n江涯楊弦浦，水殿枕枯迷。\n落樹愁應在，天前出洞干。\n邊船還")),
              text_script::traditional);
}

TEST(prosody, a_missing_package_is_an_io_error_naming_it) {
    auto r = prosody_table::load("/nonexistent/zyenpheng.dict.yaml");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().code, errc::io);
    EXPECT_NE(r.err().message.find("rime-data-zyenpheng"), std::string::npos) << r.err().message;
    const std::string not_a_table = test::write_file("not_a_table.yaml", "name: x\n...\n東\ttung\n");
    r = prosody_table::load(not_a_table);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().code, errc::format);
}

// ---- the checker on hand-checked poems

TEST(verse_check, known_regulated_poems_and_known_faults) {
    struct row {
        std::string text, form;
        std::vector<std::tuple<uint32_t, uint32_t, std::string>> faults;  // line, column, kind
    };
    const std::vector<row> rows = {
        // 杜甫《春望》, 五律 仄起: no fault (更 and 胜 are read both ways).
        {"国破山河在，城春草木深。\n感时花溅泪，恨别鸟惊心。\n烽火连三月，家书抵万金。\n白头搔更短，浑欲不胜簪。\n", "五律", {}},
        // 王之涣《登鹳雀楼》, 五绝 仄起 (欲 at the free first position).
        {"白日依山尽，黄河入海流。\n欲穷千里目，更上一层楼。\n", "五绝", {}},
        // 李白《送友人》, 五律 平起.
        {"青山横北郭，白水绕东城。\n此地一为别，孤蓬万里征。\n浮云游子意，落日故人情。\n挥手自兹去，萧萧班马鸣。\n", "五律", {}},
        // 王维《送元二使安西》, the textbook 失粘 (折腰体): line 3 breaks 粘 at 2, 4 and 6.
        {"渭城朝雨浥轻尘，客舍青青柳色新。\n劝君更尽一杯酒，西出阳关无故人。\n", "七绝",
         {{3, 2, "失粘"}, {3, 4, "失粘"}, {3, 6, "失粘"}}},
        // 孟浩然《与诸子登岘山》: 代 and 古 both 仄 (a known 拗), and 巾 (真) among 今 临 深 (侵): 出韵.
        {"人事有代谢，往来成古今。\n江山留胜迹，我辈复登临。\n水落鱼梁浅，天寒梦泽深。\n羊公碑尚在，读罢泪沾巾。\n", "五律",
         {{2, 4, "失对"}, {8, 5, "落韵"}}},
        // 《登鹳雀楼》 with line 2 made 仄平仄仄平: 孤平.
        {"白日依山尽，月明照海流。\n欲穷千里目，更上一层楼。\n", "五绝", {{2, 2, "孤平"}}},
        // Line 2 ends in three 平: 三平调.
        {"青山横北郭，白日春江花。\n落日故人意，孤舟万里家。\n", "五绝", {{2, 3, "三平调"}}},
        // 城 (庚) and 家 (麻) do not rhyme.
        {"青山横北郭，白水绕东城。\n落日故人意，孤舟万里家。\n", "五绝", {{4, 5, "落韵"}}},
        // 行 rhymes in 陽 and 庚, 城 only in 庚; the first line's 长 (陽, also 仄) must not tip it to 陽.
        {"月明江上长，白水绕行城。\n落日故人意，孤舟万里城。\n", "五绝", {}},
        // A line of six.
        {"青山横北郭，白水绕东城外。\n落日故人意，孤舟万里情。\n", "五绝", {{2, 0, "length"}}},
        // Not regulated verse: only described.
        {"床前明月光\n疑是地上霜\n举头望明月\n低头思故乡\n低头思故乡\n", "5 lines", {}},
    };
    for (const auto& r : rows) {
        const auto reports = check_verse(r.text, table());
        ASSERT_EQ(reports.size(), 1u) << r.text;
        const auto& rep = reports[0];
        EXPECT_EQ(rep.form, r.form) << r.text;
        std::vector<std::tuple<uint32_t, uint32_t, std::string>> got;
        std::string all;
        for (const auto& f : rep.faults) {
            got.emplace_back(f.line, f.column, f.kind);
            all += fmt::format("line {} col {} {}: {}\n", f.line, f.column, f.kind, f.detail);
        }
        if (r.form == "五绝" && r.faults.size() == 1 && std::get<2>(r.faults[0]) == "落韵") {
            // Two lines, two groups: either may be the one that falls out of the rhyme.
            ASSERT_EQ(got.size(), 1u) << all;
            EXPECT_EQ(std::get<2>(got[0]), "落韵") << all;
            continue;
        }
        EXPECT_EQ(got, r.faults) << r.text << all;
    }
    // Several poems with titles; the reported text line is where each poem's verse starts.
    const auto two = check_verse("《一》\n作者：某\n白日依山尽，黄河入海流。\n欲穷千里目，更上一层楼。\n\n《二》\n国破山河在，城春草木深。\n", table());
    ASSERT_EQ(two.size(), 2u);
    EXPECT_EQ(two[0].title, "《一》");
    EXPECT_EQ(two[0].text_line, 3u);
    EXPECT_EQ(two[1].text_line, 7u);
    EXPECT_EQ(two[1].form, "2 lines");
    // Held to a given form: the line count is a fault.
    const poem_form lv = *parse_poem_form("五律");
    const auto held = check_verse("白日依山尽，黄河入海流。\n欲穷千里目，更上一层楼。\n", table(), &lv);
    ASSERT_EQ(held.size(), 1u);
    ASSERT_FALSE(held[0].faults.empty());
    EXPECT_EQ(held[0].faults[0].kind, "length");
}

// Issue 24 item 5: the corpus recipe's format is a title line without verse punctuation, then the
// poem. The title is not line 1; a poem whose form is not regulated verse is not checked, so it is
// never counted as without faults.
TEST(verse_check, a_first_line_without_verse_punctuation_is_a_title_and_other_forms_are_not_checked) {
    const std::string text =
        "登鹳雀楼\n白日依山尽，黄河入海流。\n欲穷千里目，更上一层楼。\n\n"
        "长歌 其一\n一二三四五，六七八九十。\n一二三四五，六七八九十。\n一二三四五。\n\n"
        "白日依山尽\n黄河入海流\n欲穷千里目\n更上一层楼\n";
    const auto reports = check_verse(text, table());
    ASSERT_EQ(reports.size(), 3u);
    EXPECT_EQ(reports[0].title, "登鹳雀楼");
    EXPECT_EQ(reports[0].text_line, 2u);
    EXPECT_EQ(reports[0].form, "五绝");
    EXPECT_TRUE(reports[0].checked);
    EXPECT_TRUE(reports[0].faults.empty()) << reports[0].faults.front().kind;
    EXPECT_EQ(reports[1].title, "长歌 其一");
    EXPECT_EQ(reports[1].form, "5 lines");
    EXPECT_FALSE(reports[1].checked);
    // No line of the block has verse punctuation: every line is verse (an unpunctuated 五绝).
    EXPECT_EQ(reports[2].title, "");
    EXPECT_EQ(reports[2].form, "五绝");
    EXPECT_TRUE(reports[2].checked);

    const std::string file = test::write_file("titled.txt", text);
    auto r = test::run_charlm({"verse", file});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("登鹳雀楼 line 2: 五绝, ok"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("长歌 其一 line 6: 5 lines, not checked"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("3 poem(s): 2 without faults, 0 with 0 fault(s), 1 not checked (not regulated verse)"),
              std::string::npos)
        << r.out;
}

// Issue 32's two lines from `--tones strict --rhyme` on a traditional model, faultless by the old
// rule: 弦 (平 only) at position 4 against 枯 is 失对; 干 (寒 only) among 邊 船 還 (先) is 落韵.
TEST(verse_check, traditional_text_takes_each_listed_characters_own_readings) {
    const std::string xian = "江涯楊弦浦，水殿枕枯迷。\n落日孤城遠，秋風萬里低。\n";
    const std::string gan = "山外青天遠，江頭見海邊。\n孤舟明月下，獨客夜歸船。\n白髮何時盡，青春去不還。\n"
                            "落樹愁應在，天前出洞干。\n";
    const auto has = [](const std::vector<verse_report>& r, uint32_t line, uint32_t column, const std::string& kind) {
        for (const auto& f : r.at(0).faults)
            if (f.line == line && f.column == column && f.kind == kind) return true;
        return false;
    };
    EXPECT_TRUE(has(check_verse(xian, table(), nullptr, text_script::traditional), 2, 4, "失对"));
    EXPECT_FALSE(has(check_verse(xian, table(), nullptr, text_script::simplified), 2, 4, "失对"));
    EXPECT_TRUE(has(check_verse(gan, table(), nullptr, text_script::traditional), 8, 5, "落韵"));
    EXPECT_FALSE(has(check_verse(gan, table(), nullptr, text_script::simplified), 8, 5, "落韵"));

    // `charlm verse --script`; auto reads this text as traditional.
    const std::string file = test::write_file("issue32.txt", gan);
    for (const std::string script : {"traditional", "auto"}) {
        auto r = test::run_charlm({"verse", file, "--script", script});
        ASSERT_EQ(r.status, 1) << r.err;  // faults found
        EXPECT_NE(r.out.find("line 8 character 5 '干': 落韵"), std::string::npos) << script << "\n" << r.out;
    }
    auto simplified = test::run_charlm({"verse", file, "--script", "simplified"});
    ASSERT_EQ(simplified.status, 1) << simplified.err;  // other faults remain
    EXPECT_EQ(simplified.out.find("'干': 落韵"), std::string::npos) << simplified.out;
    auto bad = test::run_charlm({"verse", file, "--script", "hant"});
    EXPECT_EQ(bad.status, 2) << bad.err;
    EXPECT_NE(bad.err.find("--script"), std::string::npos) << bad.err;
}

TEST(verse_check, copied_lines_counts_lines_found_verbatim) {
    const line_overlap o = copied_lines({"白日依山尽，黄河入海流。\n欲穷千里目，更上一层楼。", "春风不度玉，明月照天山。"},
                                        "《登鹳雀楼》\n白日依山尽，黄河入海流。\n欲穷千里目");
    EXPECT_EQ(o.lines, 6u);
    EXPECT_EQ(o.copied, 3u);
    EXPECT_DOUBLE_EQ(o.share(), 0.5);
    // Issue 24: the user's own --prefix line is not the model's copying; a line it only starts is.
    const std::string poem = "白日依山尽，黄河入海流。\n欲穷千里目";
    const line_overlap whole = copied_lines({poem}, "白日依山尽，黄河入海流。", std::string("白日依山尽").size());
    EXPECT_EQ(whole.lines, 2u);
    EXPECT_EQ(whole.copied, 1u);
    const line_overlap part = copied_lines({poem}, "白日依山尽，黄河入海流。", std::string("白日").size());
    EXPECT_EQ(part.lines, 3u);
    EXPECT_EQ(part.copied, 2u);
}

TEST(cli_verse, reports_each_poem_with_line_and_character) {
    const std::string file = test::write_file("verses.txt", "《送元二使安西》\n渭城朝雨浥轻尘，客舍青青柳色新。\n劝君更尽一杯酒，西出阳关无故人。\n\n白日依山尽，黄河入海流。\n欲穷千里目，更上一层楼。\n");
    auto r = test::run_charlm({"verse", file});
    ASSERT_EQ(r.status, 1) << r.err;  // a poem with faults: status 1, as a linter's
    EXPECT_NE(r.out.find("《送元二使安西》 line 2: 七绝, 3 fault(s)"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("line 3 character 2 '君': 失粘"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("line 5: 五绝, ok"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("2 poem(s): 1 without faults, 1 with 3 fault(s)"), std::string::npos) << r.out;
    auto stdin_run = test::run_charlm({"verse", "--faults-only"}, "白日依山尽，黄河入海流。\n欲穷千里目，更上一层楼。\n");
    ASSERT_EQ(stdin_run.status, 0) << stdin_run.err;
    EXPECT_EQ(stdin_run.out.find("五绝"), std::string::npos) << stdin_run.out;
    auto bad = test::run_charlm({"verse", file, "--form", "sonnet"});
    EXPECT_EQ(bad.status, 2);
    auto missing = test::run_charlm({"verse", file, "--readings", "/nonexistent.yaml"});
    EXPECT_EQ(missing.status, 1);
    EXPECT_NE(missing.err.find("rime-data-zyenpheng"), std::string::npos) << missing.err;
}

// ---- generation with a small model trained on Tang poems

// The first 60 poems of tang300.txt, trained for a few epochs through the binary (once per run).
const std::string& tang_model() {
    static const std::string path = [] {
        std::ifstream in(std::string(CHARLM_SHARED_CORPORA) + "/tang300.txt");
        std::string line, text;
        int poems = 0;
        while (std::getline(in, line) && poems <= 60) {
            poems += line.rfind("《", 0) == 0;
            if (poems <= 60) text += line + "\n";
        }
        const std::string corpus = test::write_file("tang60.txt", text);
        const std::string out = test::scratch_dir() + "/tang60.safetensors";
        auto r = test::run_charlm({"train", "--corpus", corpus, "--out", out, "--cell", "lstm", "--hidden", "64",
                                   "--embed", "32", "--batch", "16", "--steps", "32", "--epochs", "6", "--optimizer",
                                   "adam", "--lr", "0.01", "--threads", "1", "--seed", "5"});
        EXPECT_EQ(r.status, 0) << r.err;
        return out;
    }();
    return path;
}

language_model& model() {
    static loaded_model m = [] {
        auto r = load_model(tang_model());
        EXPECT_TRUE(r.ok()) << r.err().message;
        return std::move(*r);
    }();
    return m.model;
}

struct run {
    sample_config cfg;
    poem_config pc;
};

std::vector<run> runs_over_temperatures(const poem_config& pc, uint32_t samples) {
    std::vector<run> out;
    uint64_t seed = 11;
    for (float t : {0.7f, 1.0f, 1.3f})
        for (int k = 0; k < 3; ++k) {
            run r;
            r.pc = pc;
            r.cfg.temperature = t;
            r.cfg.top_k = k == 1 ? 20 : 0;
            r.cfg.top_p = k == 2 ? 0.9f : 1.0f;
            r.cfg.num_samples = samples;
            r.cfg.seed = seed++;
            out.push_back(r);
        }
    return out;
}

TEST(poem_generate, every_poem_has_its_form_at_any_temperature_top_k_top_p_and_seed) {
    for (std::string form : {"五绝", "七绝", "五律", "七律", "6x5", "5,7,5,7,3"}) {
        poem_config pc;
        pc.form = form;
        const auto shape = parse_poem_form(form)->lines;
        for (const auto& r : runs_over_temperatures(pc, 12)) {
            auto poems = generate_poems(model(), "", r.cfg, r.pc);
            ASSERT_TRUE(poems.ok()) << poems.err().message;
            ASSERT_EQ(poems->size(), r.cfg.num_samples);
            for (const auto& p : *poems) {
                std::string why;
                EXPECT_FALSE(lines_of(p.text, shape, why).empty()) << form << " T " << r.cfg.temperature << ": " << why
                                                                   << "\n" << p.text;
                EXPECT_GT(p.stats.tokens, 0u);
                EXPECT_GT(p.stats.nll, 0.0);
            }
        }
    }
}

TEST(poem_generate, acrostic_heads_start_their_lines) {
    const std::vector<std::pair<std::string, std::string>> rows = {
        {"", "春风明月"}, {"五律", "山水"}, {"七律", "一二三四五六七八"}, {"5,7,5", "花月夜"}};
    for (const auto& [form, heads] : rows) {
        poem_config pc;
        pc.form = form;
        pc.acrostic = heads;
        const auto h = chars_of(heads);
        const auto shape = form.empty() ? std::vector<uint32_t>(h.size(), 7) : parse_poem_form(form)->lines;
        for (const auto& r : runs_over_temperatures(pc, 6)) {
            auto poems = generate_poems(model(), "", r.cfg, r.pc);
            ASSERT_TRUE(poems.ok()) << poems.err().message;
            for (const auto& p : *poems) {
                std::string why;
                const auto lines = lines_of(p.text, shape, why);
                ASSERT_FALSE(lines.empty()) << why << "\n" << p.text;
                for (size_t i = 0; i < h.size(); ++i) EXPECT_EQ(lines[i][0], h[i]) << "line " << i + 1 << "\n" << p.text;
            }
        }
    }
}

TEST(poem_generate, rhyme_and_tone_patterns_hold) {
    struct row {
        std::string form;
        rhyme_rule rhyme;
        tone_rule tones;
        std::string acrostic;
    };
    const std::vector<row> rows = {{"五绝", rhyme_rule::even, tone_rule::off, ""},
                                   {"七绝", rhyme_rule::first_and_even, tone_rule::off, ""},
                                   {"五绝", rhyme_rule::off, tone_rule::strict, ""},
                                   {"七绝", rhyme_rule::first_and_even, tone_rule::strict, ""},
                                   {"五律", rhyme_rule::even, tone_rule::strict, "春月夜花"},
                                   {"七律", rhyme_rule::even, tone_rule::loose, ""},
                                   {"6x5", rhyme_rule::even, tone_rule::off, ""}};
    for (const auto& w : rows) {
        poem_config pc;
        pc.form = w.form;
        pc.rhyme = w.rhyme;
        pc.tones = w.tones;
        pc.acrostic = w.acrostic;
        const auto shape = parse_poem_form(w.form)->lines;
        for (const auto& r : runs_over_temperatures(pc, 4)) {
            auto poems = generate_poems(model(), "", r.cfg, r.pc, &table());
            ASSERT_TRUE(poems.ok()) << poems.err().message;
            for (const auto& p : *poems) {
                std::string why;
                const auto lines = lines_of(p.text, shape, why);
                ASSERT_FALSE(lines.empty()) << why << "\n" << p.text;
                if (w.rhyme != rhyme_rule::off) {
                    EXPECT_TRUE(rhymes(lines, w.rhyme == rhyme_rule::first_and_even, table(), why))
                        << w.form << ": " << why << "\n" << p.text;
                }
                if (w.tones == tone_rule::strict) {
                    EXPECT_TRUE(follows_pattern(lines, table(), why)) << w.form << ": " << why << "\n" << p.text;
                }
                if (w.tones != tone_rule::off && w.rhyme != rhyme_rule::off) {  // and by the checker: no 失对 失粘 孤平 三平调 落韵
                    const auto rep = check_verse(p.text, table());
                    ASSERT_EQ(rep.size(), 1u);
                    EXPECT_EQ(rep[0].form, w.form);
                    for (const auto& f : rep[0].faults)
                        ADD_FAILURE() << w.form << " line " << f.line << " col " << f.column << " " << f.kind << ": "
                                      << f.detail << "\n" << p.text;
                }
                if (w.tones == tone_rule::loose)
                    for (size_t l = 1; l < lines.size(); l += 2) {  // rhyming lines end in 平 without 三平调
                        const auto* e = table().find(lines[l].back());
                        ASSERT_NE(e, nullptr);
                        EXPECT_TRUE(e->tones & tone_level) << p.text;
                    }
            }
        }
    }
}

// Issue 24 item 6: with --rhyme even and no --tones, line 1 ended in a character that can only be
// 平 and outside the rhyme, which the checker calls 落韵 (13 of 20 七绝). Generator and checker
// share one rule (poem::first_line_in_rhyme): the checker finds no 落韵 in any generated poem.
TEST(poem_generate, rhyme_without_tones_gives_poems_the_checker_finds_rhymed) {
    for (const std::string form : {"七绝", "五绝", "五律"}) {
        poem_config pc;
        pc.form = form;
        pc.rhyme = rhyme_rule::even;
        sample_config cfg;
        cfg.num_samples = 20;
        cfg.seed = 5;
        auto poems = generate_poems(model(), "", cfg, pc, &table());
        ASSERT_TRUE(poems.ok()) << poems.err().message;
        const poem_form shape = *parse_poem_form(form);
        for (const auto& p : *poems) {
            const auto reports = check_verse(p.text, table(), &shape);
            ASSERT_EQ(reports.size(), 1u) << p.text;
            for (const auto& f : reports[0].faults)
                EXPECT_NE(f.kind, "落韵") << form << " line " << f.line << ": " << f.detail << "\n" << p.text;
        }
    }
}

TEST(poem_generate, backups_are_counted_and_the_form_still_holds) {
    poem_config pc;
    pc.form = "五律";
    pc.rhyme = rhyme_rule::even;
    pc.tones = tone_rule::strict;
    pc.acrostic = "春月夜花山";
    pc.min_mass = 0.3;  // far more than a constrained step usually has: forces backups
    sample_config cfg;
    cfg.num_samples = 5;
    cfg.temperature = 1.0f;
    auto poems = generate_poems(model(), "", cfg, pc, &table());
    ASSERT_TRUE(poems.ok()) << poems.err().message;
    poem_stats total;
    for (const auto& p : *poems) {
        total += p.stats;
        std::string why;
        const auto lines = lines_of(p.text, parse_poem_form("五律")->lines, why);
        ASSERT_FALSE(lines.empty()) << why << "\n" << p.text;
        EXPECT_TRUE(follows_pattern(lines, table(), why)) << p.text;
        EXPECT_TRUE(rhymes(lines, false, table(), why)) << why << "\n" << p.text;
    }
    EXPECT_GT(total.line_backups, 0u);
    EXPECT_GT(total.couplet_backups + total.restarts, 0u) << "line backups alone should not reach 0.3 every time";
    // Without the high threshold the same poems need (almost) none.
    pc.min_mass = poem_config{}.min_mass;
    auto easy = generate_poems(model(), "", cfg, pc, &table());
    ASSERT_TRUE(easy.ok());
    poem_stats easy_total;
    for (const auto& p : *easy) easy_total += p.stats;
    EXPECT_LT(easy_total.backups(), total.backups());
}

TEST(poem_generate, same_seed_same_poem_and_the_prefix_starts_line_one) {
    poem_config pc;
    pc.form = "七绝";
    pc.rhyme = rhyme_rule::even;
    pc.tones = tone_rule::loose;
    pc.mood = "秋风";
    sample_config cfg;
    cfg.seed = 42;
    cfg.num_samples = 3;
    auto a = generate_poems(model(), "明月", cfg, pc, &table());
    auto b = generate_poems(model(), "明月", cfg, pc, &table());
    ASSERT_TRUE(a.ok() && b.ok());
    for (size_t i = 0; i < a->size(); ++i) {
        EXPECT_EQ((*a)[i].text, (*b)[i].text);
        EXPECT_EQ((*a)[i].text.rfind("明月", 0), 0u) << (*a)[i].text;
    }
    EXPECT_NE((*a)[0].text, (*a)[1].text);
    cfg.seed = 43;
    auto c = generate_poems(model(), "明月", cfg, pc, &table());
    ASSERT_TRUE(c.ok());
    EXPECT_NE((*a)[0].text, (*c)[0].text);
}

TEST(poem_generate, a_vocabulary_without_poem_punctuation_is_refused) {
    auto vocab = vocabulary::from_tokens({"<unk>", "a", "b", "\n", "。"});
    ASSERT_TRUE(vocab.ok());
    model_config c;
    c.hidden = 8;
    c.embed = 4;
    c.vocab = vocab->size();
    language_model m(c, text_config{}, std::move(*vocab), 1);
    poem_config pc;
    pc.form = "五绝";
    auto r = generate_poems(m, "", sample_config{}, pc);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().code, errc::input);
    EXPECT_NE(r.err().message.find("'，'"), std::string::npos) << r.err().message;
}

// Issue 24 item 7: NFKC turns '，' into ','; the form's marks are looked up through the model's own
// text settings, so an NFKC model writes poems (with ','), and a vocabulary that lacks the mark is
// named as the model reads it, not blamed on the corpus.
const std::vector<std::string> some_han = {"春", "风", "花", "月", "山", "水", "江", "天", "人", "心",
                                          "明", "白", "日", "云", "长", "空", "秋", "夜", "雨", "声"};

language_model han_model(const std::vector<std::string>& marks, normalization norm,
                         const std::vector<std::string>& han = some_han) {
    std::vector<std::string> tokens = {"<unk>", "\n"};
    tokens.insert(tokens.end(), marks.begin(), marks.end());
    tokens.insert(tokens.end(), han.begin(), han.end());
    auto vocab = vocabulary::from_tokens(tokens);
    EXPECT_TRUE(vocab.ok());
    model_config c;
    c.hidden = 8;
    c.embed = 4;
    c.vocab = vocab->size();
    text_config text;
    text.normalize = norm;
    return language_model(c, text, std::move(*vocab), 1);
}

TEST(poem_generate, an_nfkc_model_writes_poems_with_its_own_marks) {
    const language_model m = han_model({",", "。"}, normalization::nfkc);
    poem_config pc;
    pc.form = "五绝";
    pc.rhyme = rhyme_rule::even;
    sample_config cfg;
    cfg.num_samples = 3;
    auto r = generate_poems(m, "", cfg, pc, &table());
    ASSERT_TRUE(r.ok()) << r.err().message;
    for (const auto& p : *r) {
        EXPECT_NE(p.text.find(","), std::string::npos) << p.text;
        const auto reports = check_verse(p.text, table());
        ASSERT_EQ(reports.size(), 1u) << p.text;
        EXPECT_EQ(reports[0].form, "五绝") << p.text;
    }
    const language_model lacking = han_model({"，", "。"}, normalization::nfkc);
    auto e = generate_poems(lacking, "", cfg, pc, &table());
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.err().code, errc::input);
    EXPECT_NE(e.err().message.find("no ',' ('，' after --normalize nfkc)"), std::string::npos) << e.err().message;
}

// Issue 24 item 8: heads that can never rhyme (a one-character line's head is its rhyme) took 30 s
// of backups; they are refused before the first step, as heads that do not fit the tones are.
TEST(poem_generate, impossible_heads_are_refused_at_once) {
    struct row {
        std::string form, heads;
        rhyme_rule rhyme;
        std::string says;
    };
    const std::vector<row> rows = {
        {"4x1", "月日江人", rhyme_rule::even, "head '日' (line 2) can never stand there"},  // 日 is 仄
        {"4x1", "月山日天", rhyme_rule::even, "'山' (line 2) and '天' (line 4)"},              // 删 and 先
        {"4x1", "月山日山", rhyme_rule::even, "repeat"},
        {"4x1", "春山月天", rhyme_rule::even, "head '春' (line 1) can never stand there"},    // line 1 unrhymed: 仄
        {"2x1", "山月", rhyme_rule::first_and_even, "head '月' (line 2)"},
    };
    for (const auto& w : rows) {
        poem_config pc;
        pc.form = w.form;
        pc.acrostic = w.heads;
        pc.rhyme = w.rhyme;
        (void)model();  // trained once, before the clock starts
        const auto t0 = std::chrono::steady_clock::now();
        auto r = generate_poems(model(), "", sample_config{}, pc, &table());
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        ASSERT_FALSE(r.ok()) << w.heads << ":\n" << (r.ok() ? r->front().text : "");
        EXPECT_EQ(r.err().code, errc::usage) << r.err().message;
        EXPECT_NE(r.err().message.find(w.says), std::string::npos) << r.err().message;
        EXPECT_LT(seconds, 1.0) << w.heads;
    }
    // A position no character of the vocabulary fits (here: only 平 characters, and strict tones
    // need 仄) fails at once as well, naming the position.
    std::vector<std::string> level;
    for (const auto& c : chars_of("春花山江天人明秋峰烟舟城楼年来中东西南家时僧门湖桥船仙归斜霞沙鸦村亭溪泉"))
        if (const auto* e = table().find(c); e && e->tones == tone_level) level.push_back(c);
    ASSERT_GE(level.size(), 16u);
    const language_model level_only = han_model({"，", "。"}, normalization::nfc, level);
    poem_config strict;
    strict.form = "五绝";
    strict.tones = tone_rule::strict;
    auto none = generate_poems(level_only, "", sample_config{}, strict, &table());
    ASSERT_FALSE(none.ok());
    EXPECT_EQ(none.err().code, errc::input) << none.err().message;
    EXPECT_NE(none.err().message.find("no character that fits line 1 character"), std::string::npos)
        << none.err().message;

    // Heads that can rhyme still make poems.
    poem_config pc;
    pc.form = "4x1";
    pc.rhyme = rhyme_rule::even;
    pc.acrostic = "月天日年";
    auto ok = generate_poems(model(), "", sample_config{}, pc, &table());
    ASSERT_TRUE(ok.ok()) << ok.err().message;
    EXPECT_EQ(ok->front().text, "月，天。\n日，年。");
}

// ---- issue 27: templates, keywords, --best-of

TEST(poem_score, the_documented_score_by_hand) {
    poem_result p;
    p.text = "明月照山月，山中人不归。\n明月照山月，天地一沙鸥。";
    p.prefix_bytes = 0;
    p.stats.nll = 36.0;
    p.stats.tokens = 24;  // 20 characters, 2 commas/stops each line pair, 1 newline... as given
    poem_weights w;
    w.repeat = 0.1;
    w.line = 1.0;
    w.copy = 0.5;
    // Han characters: 明月照山月 山中人不归 明月照山月 天地一沙鸥 = 20, distinct: 明月照山中人不归天地一沙鸥 = 13,
    // so 7 repeats; line 3 repeats line 1; the corpus holds "山中人不归" and "天地一沙鸥".
    const std::string corpus = "某某\n山中人不归，\n天地一沙鸥。\n";
    const poem_score sc = score_poem(p, w, corpus);
    EXPECT_DOUBLE_EQ(sc.nll, 1.5);
    EXPECT_EQ(sc.repeats, 7u);
    EXPECT_EQ(sc.repeated_lines, 1u);
    EXPECT_EQ(sc.copied_lines, 2u);
    EXPECT_DOUBLE_EQ(sc.total, 1.5 + 0.7 + 1.0 + 1.0);
    EXPECT_EQ(sc.describe(w), "4.200 = NLL 1.500 + 0.1 x 7 repeated character(s) + 1 x 1 repeated line(s) + 0.5 x 2 "
                              "copied line(s)");
    // Without a corpus, no copy penalty; a line inside the prefix is not counted as copied.
    EXPECT_EQ(score_poem(p, w).copied_lines, 0u);
    p.prefix_bytes = std::string("明月照山月，山中人不归").size();
    EXPECT_EQ(score_poem(p, w, corpus).copied_lines, 1u);
}

TEST(poem_best_of, one_candidate_is_plain_sampling_and_n_keep_the_best_of_the_same_rows) {
    poem_config pc;
    pc.form = "五律";
    pc.rhyme = rhyme_rule::even;
    pc.tones = tone_rule::loose;
    sample_config cfg;
    cfg.seed = 9;
    auto plain = generate_poems(model(), "", cfg, pc, &table());
    pc.best_of = 1;
    auto best1 = generate_poems(model(), "", cfg, pc, &table());
    ASSERT_TRUE(plain.ok() && best1.ok());
    ASSERT_EQ(best1->size(), 1u);
    EXPECT_EQ((*plain)[0].text, (*best1)[0].text);

    // best-of 8 keeps 3: the 3 lowest scores of the 8 rows that --num-samples 8 samples, best first.
    pc.best_of = 0;
    cfg.num_samples = 8;
    auto rows = generate_poems(model(), "", cfg, pc, &table());
    ASSERT_TRUE(rows.ok());
    std::vector<std::pair<double, std::string>> ranked;
    for (const auto& r : *rows) ranked.emplace_back(score_poem(r, pc.weights).total, r.text);
    std::stable_sort(ranked.begin(), ranked.end(), [](auto& a, auto& b) { return a.first < b.first; });
    pc.best_of = 8;
    cfg.num_samples = 3;
    auto best = generate_poems(model(), "", cfg, pc, &table());
    ASSERT_TRUE(best.ok()) << best.err().message;
    ASSERT_EQ(best->size(), 3u);
    for (size_t i = 0; i < 3; ++i) {
        EXPECT_EQ((*best)[i].text, ranked[i].second) << i;
        EXPECT_DOUBLE_EQ((*best)[i].score.total, ranked[i].first) << i;
    }
    auto again = generate_poems(model(), "", cfg, pc, &table());
    ASSERT_TRUE(again.ok());
    for (size_t i = 0; i < 3; ++i) EXPECT_EQ((*again)[i].text, (*best)[i].text) << "same seed, same poems";
}

// --beam 1 is greedy decoding under the same constraint (min_mass 0: greedy sampling then never
// backs up, as a beam does not); a wider beam keeps the form and returns its poems most likely first.
TEST(poem_beam, width_one_is_greedy_and_wider_beams_keep_the_form) {
    for (const std::string form : {"五绝", "七律"}) {
        poem_config pc;
        pc.form = form;
        pc.rhyme = rhyme_rule::even;
        pc.tones = tone_rule::loose;
        pc.keywords = "山,月";
        pc.min_mass = 0;
        sample_config greedy;
        greedy.temperature = 0;
        auto g = generate_poems(model(), "", greedy, pc, &table());
        pc.beam = 1;
        auto b = generate_poems(model(), "", sample_config{}, pc, &table());
        ASSERT_TRUE(g.ok() && b.ok()) << (g.ok() ? b.err().message : g.err().message);
        EXPECT_EQ((*g)[0].text, (*b)[0].text) << form;
        EXPECT_NEAR((*g)[0].stats.nll, (*b)[0].stats.nll, 1e-9);

        pc.beam = 6;
        sample_config cfg;
        cfg.num_samples = 4;
        auto wide = generate_poems(model(), "", cfg, pc, &table());
        ASSERT_TRUE(wide.ok()) << wide.err().message;
        ASSERT_EQ(wide->size(), 4u);
        const poem_form shape = *parse_poem_form(form);
        for (size_t i = 0; i < wide->size(); ++i) {
            const auto& p = (*wide)[i];
            auto reports = check_verse(p.text, table(), &shape);
            ASSERT_EQ(reports.size(), 1u) << p.text;
            check_fixed(reports[0], nullptr, {"山", "月"});
            for (const auto& f : reports[0].faults) ADD_FAILURE() << f.kind << ": " << f.detail << "\n" << p.text;
            if (i > 0) {
                EXPECT_LE((*wide)[i - 1].stats.nll, p.stats.nll + 1e-9) << "most likely first";
            }
        }
        EXPECT_LE((*wide)[0].stats.nll, (*b)[0].stats.nll + 1e-9) << "a wider beam finds a poem at least as likely";
    }
    poem_config pc;
    pc.form = "五绝";
    pc.beam = 2;
    pc.best_of = 4;
    EXPECT_NE(pc.validate().err().message.find("give one of them"), std::string::npos);
}

// Every poem of a template keeps its fixed characters in place and its form, and with rhyme and
// tones passes the checker: 200 poems, read back by check_verse + check_fixed.
TEST(poem_template, fixed_characters_stay_in_place_in_form_rhyme_and_tones) {
    const std::string tmpl = "山＿＿＿月，＿人＿＿＿。＿＿天＿＿，＿＿＿＿心。";
    const auto t = parse_poem_template(tmpl);
    ASSERT_TRUE(t.ok()) << t.err().message;
    EXPECT_EQ(t->form.name, "五绝");
    ASSERT_EQ(t->chars.size(), 5u);
    EXPECT_EQ(t->chars[1].line, 0u);
    EXPECT_EQ(t->chars[1].pos, 4u);
    poem_config pc;
    pc.template_text = tmpl;
    pc.rhyme = rhyme_rule::even;
    pc.tones = tone_rule::loose;
    sample_config cfg;
    cfg.num_samples = 200;
    cfg.seed = 3;
    cfg.temperature = 1.0f;
    auto poems = generate_poems(model(), "", cfg, pc, &table());
    ASSERT_TRUE(poems.ok()) << poems.err().message;
    ASSERT_EQ(poems->size(), 200u);
    for (const auto& p : *poems) {
        auto reports = check_verse(p.text, table(), &t->form);
        ASSERT_EQ(reports.size(), 1u) << p.text;
        check_fixed(reports[0], &*t, {});
        for (const auto& f : reports[0].faults)
            ADD_FAILURE() << f.kind << " line " << f.line << " col " << f.column << ": " << f.detail << "\n" << p.text;
    }
}

TEST(poem_keywords, every_word_is_in_its_line_with_acrostic_and_best_of) {
    const std::vector<std::string> words = {"月", "天", "人", "山"};
    poem_config pc;
    pc.form = "五律";
    pc.keywords = "月,天，人、山";
    pc.acrostic = "春";
    pc.rhyme = rhyme_rule::even;
    pc.tones = tone_rule::loose;
    pc.best_of = 4;
    sample_config cfg;
    cfg.num_samples = 2;
    const poem_form form = *parse_poem_form("五律");
    for (uint64_t seed = 1; seed <= 50; ++seed) {
        cfg.seed = seed;
        auto poems = generate_poems(model(), "", cfg, pc, &table());
        ASSERT_TRUE(poems.ok()) << poems.err().message;
        for (const auto& p : *poems) {
            auto reports = check_verse(p.text, table(), &form);
            ASSERT_EQ(reports.size(), 1u) << p.text;
            check_fixed(reports[0], nullptr, words);
            for (const auto& f : reports[0].faults) ADD_FAILURE() << f.kind << ": " << f.detail << "\n" << p.text;
            // The plan: word i in line 2i (8 lines, 4 words); the head 春 keeps line 1's start.
            const auto& lines = reports[0].lines;
            EXPECT_EQ(lines[0][0], "春") << p.text;
            for (size_t i = 0; i < words.size(); ++i) {
                const auto& l = lines[2 * i];
                EXPECT_NE(std::find(l.begin(), l.end(), words[i]), l.end()) << words[i] << "\n" << p.text;
            }
        }
    }
}

// Found trying to break it: the plan put a keyword where --prefix already writes line 1.
TEST(poem_keywords, the_plan_leaves_the_prefix_its_place) {
    poem_config pc;
    pc.form = "五绝";
    pc.keywords = "山,月";
    sample_config cfg;
    cfg.num_samples = 5;
    auto poems = generate_poems(model(), "明月", cfg, pc, &table());
    ASSERT_TRUE(poems.ok()) << poems.err().message;
    for (const auto& p : *poems) {
        EXPECT_EQ(p.text.rfind("明月", 0), 0u) << p.text;
        EXPECT_NE(p.text.find("山"), std::string::npos) << p.text;
    }
}

TEST(poem_keywords, words_and_templates_that_cannot_fit_are_refused_with_the_reason) {
    struct row {
        poem_config pc;
        std::string says;
    };
    const auto with = [](std::string form, std::string keywords, std::string tmpl, tone_rule tones, rhyme_rule rhyme) {
        poem_config pc;
        pc.form = std::move(form);
        pc.keywords = std::move(keywords);
        pc.template_text = std::move(tmpl);
        pc.tones = tones;
        pc.rhyme = rhyme;
        return pc;
    };
    const std::vector<row> rows = {
        // 4 平 in a row: no 五言 pattern has them, not even with 一三五不论.
        {with("五律", "春山人天", "", tone_rule::loose, rhyme_rule::off), "no loose tone pattern allows"},
        {with("五绝", "山月人天明月", "", tone_rule::off, rhyme_rule::off), "longer than a line"},
        {with("五绝", "山,月,人,天,风", "", tone_rule::off, rhyme_rule::off), "5 words but --form 五绝 has 4 lines"},
        {with("五绝", "山,,月", "", tone_rule::off, rhyme_rule::off), "word 2 is empty"},
        {with("五绝", "山,月a", "", tone_rule::off, rhyme_rule::off), ""},
        {with("五绝", "山,\u9F98", "", tone_rule::off, rhyme_rule::off), "never saw"},
        // The template's rhymes: 月 is 仄 at line 2's end; 山 and 天 share no group.
        {with("", "", "＿＿＿＿山，＿＿＿＿月。", tone_rule::off, rhyme_rule::even), "can never stand there"},
        {with("", "", "＿＿＿＿日，＿＿＿＿山。＿＿＿＿月，＿＿＿＿天。", tone_rule::off, rhyme_rule::even),
         "template characters '山' (line 2) and '天' (line 4) are rhymes"},
        {with("", "", "＿＿＿＿＿，＿＿x＿＿。", tone_rule::off, rhyme_rule::off), "'x' (character 9)"},
        {with("", "", "，。", tone_rule::off, rhyme_rule::off), "--template has no line"},
        {with("五绝", "", "＿＿＿，＿＿＿。", tone_rule::off, rhyme_rule::off), "leave out --form"},
    };
    for (const auto& w : rows) {
        auto r = generate_poems(model(), "", sample_config{}, w.pc, &table());
        ASSERT_FALSE(r.ok()) << w.pc.keywords << w.pc.template_text << ":\n" << (r.ok() ? r->front().text : "");
        EXPECT_EQ(r.err().code, errc::usage) << r.err().message;
        EXPECT_NE(r.err().message.find(w.says), std::string::npos) << r.err().message;
    }
    // --best-of below --num-samples, and without a poem.
    poem_config pc;
    pc.form = "五绝";
    pc.best_of = 2;
    sample_config cfg;
    cfg.num_samples = 3;
    EXPECT_NE(pc.validate(cfg).err().message.find("needs at least 3"), std::string::npos);
    pc.form.clear();
    EXPECT_NE(pc.validate().err().message.find("need --form or --acrostic"), std::string::npos);
}

TEST(cli_verse, checks_a_template_and_keywords) {
    const std::string poems = "山中人不归，明月照高台。\n\n山中人不见，明日照高台。\n";
    auto r = test::run_charlm({"verse", "--template", "山中＿＿归，＿＿照＿台。", "--keywords", "明月,高台", "--script",
                               "simplified"},
                              poems);
    ASSERT_EQ(r.status, 1) << r.err;
    EXPECT_NE(r.out.find("line 1 character 5 '见': template: '见' where the template fixes '归'"), std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("keyword: '明月' is in no line"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("keyword: '高台'"), std::string::npos) << r.out;
    auto bad = test::run_charlm({"verse", "--template", "山中", "--form", "五绝"}, poems);
    EXPECT_EQ(bad.status, 2) << bad.err;
}

// ---- usage errors through the binary

TEST(cli_poem, usage_errors_name_what_is_wrong) {
    const std::string m = tang_model();
    struct row {
        std::vector<std::string> args;
        int status;
        std::string says;
    };
    const std::vector<row> rows = {
        {{"--form", "sonnet"}, 2, "--form 'sonnet'"},
        {{"--form", "0x5"}, 2, "--form '0x5'"},
        {{"--form", "五绝", "--acrostic", "春夏秋冬雪"}, 2, "5 characters but --form 五绝 has 4 lines"},
        {{"--acrostic", "春\u9F98"}, 2, "U+9F98"},  // 龘: never in the corpus
        {{"--form", "五绝", "--acrostic", "春a"}, 2, "never saw"},
        {{"--form", "6x5", "--tones", "strict"}, 2, "--tones needs regulated verse"},
        {{"--form", "五绝", "--tones", "tight"}, 2, "--tones: unknown tone rule 'tight': use strict, loose or off"},
        {{"--form", "五绝", "--rhyme=last"}, 2, "--rhyme: unknown rhyme rule 'last'"},
        {{"--rhyme"}, 2, "need --form or --acrostic"},
        {{"--mood", "秋"}, 2, "need --form or --acrostic"},
        {{"--form", "五绝", "--prefix", "明月明月明月"}, 2, "first line of --form 五绝 has 5"},
        {{"--form", "五绝", "--prefix", "明，"}, 2, "cannot start the poem"},
        {{"--form", "五绝", "--acrostic", "春", "--prefix", "明"}, 2, "must be the acrostic head '春'"},
        {{"--form", "七绝", "--tones", "strict", "--acrostic", "白国一十"}, 2, "head '国' (仄, line 2 character 1)"},
        {{"--form", "五绝", "--rhyme", "--readings", "/nonexistent.yaml"}, 1, "rime-data-zyenpheng"},
    };
    for (const auto& r : rows) {
        std::vector<std::string> args{"generate", "--model", m};
        args.insert(args.end(), r.args.begin(), r.args.end());
        auto out = test::run_charlm(args);
        std::string cmd;
        for (const auto& a : r.args) cmd += a + " ";
        EXPECT_EQ(out.status, r.status) << cmd << "\n" << out.err;
        EXPECT_NE(out.err.find(r.says), std::string::npos) << cmd << "\nsays: " << out.err;
        EXPECT_TRUE(out.out.empty()) << cmd << "\n" << out.out;
    }
    // --novelty: the share of lines found in a corpus (here the training text itself).
    auto novel = test::run_charlm({"generate", "--model", m, "--form", "wujue", "--num-samples", "20", "--novelty",
                                   test::scratch_dir() + "/tang60.txt"});
    ASSERT_EQ(novel.status, 0) << novel.err;
    EXPECT_NE(novel.err.find(" of 80 lines ("), std::string::npos) << novel.err;
    // A whole first line given as --prefix is the user's: 20 poems of 4 lines count 60 lines, not 80.
    auto given = test::run_charlm({"generate", "--model", m, "--form", "wujue", "--num-samples", "20", "--prefix",
                                   "白日依山尽", "--novelty", test::scratch_dir() + "/tang60.txt"});
    ASSERT_EQ(given.status, 0) << given.err;
    EXPECT_NE(given.err.find(" of 60 lines ("), std::string::npos) << given.err;
    auto no_form = test::run_charlm({"generate", "--model", m, "--novelty", test::scratch_dir() + "/tang60.txt"});
    EXPECT_EQ(no_form.status, 2) << no_form.err;
    // And a good run prints the poem and its backups.
    auto ok = test::run_charlm({"generate", "--model", m, "--form", "wujue", "--acrostic", "春风", "--rhyme", "--tones",
                                "loose", "--seed", "3", "--num-samples", "2"});
    ASSERT_EQ(ok.status, 0) << ok.err;
    EXPECT_NE(ok.err.find("backup"), std::string::npos) << ok.err;
    EXPECT_EQ(ok.out.rfind("春", 0), 0u) << ok.out;
    EXPECT_NE(ok.out.find("\n\n春"), std::string::npos) << "two poems a blank line apart:\n" << ok.out;
}

}  // namespace
}  // namespace charlm
