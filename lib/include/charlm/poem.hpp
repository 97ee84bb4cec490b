// Poems that keep their form while being sampled freely: the shapes of regulated verse (五绝 七绝
// 五律 七律) or a custom one, acrostic heads (藏头), a level-tone rhyme and the 平仄 patterns.
// A poem_constraint says, step by step, which tokens may come next or which one must; generate_poems()
// samples from the rest with the user's temperature / top-k / top-p and backs up (the line, then the
// couplet, then the poem) where almost no probability is left. Tones and rhymes come from Middle
// Chinese readings (prosody_table), read at run time from Debian's rime-data-zyenpheng.
// Not here: the plain sampler (sample.hpp) or printing (app/).
#pragma once

#include <bitset>
#include <functional>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "charlm/model.hpp"
#include "charlm/sample.hpp"
#include "charlm/script.hpp"
#include "charlm/status.hpp"

namespace charlm {

// --- the shape

// Lines of Han characters: `，` after odd lines and `。` after even ones (and after the last), one
// newline after each `。`, so a couplet is one line of text, as in the Tang corpora.
struct poem_form {
    std::string name;             // "五绝", ..., or the custom spec as given ("6x5", "5,7,5,7")
    std::vector<uint32_t> lines;  // Han characters per line

    static constexpr uint32_t max_lines = 64, max_line_length = 32;
    // 4 or 8 lines, all of 5 or all of 7: the shapes the tone patterns are defined for.
    bool regulated() const;
};

// "五绝" "七绝" "五律" "七律" (ASCII: wujue qijue wulv qilv), "NxL" (N lines of L) or "L1,L2,...".
// errc::usage naming --form.
result<poem_form> parse_poem_form(std::string_view spec);

// --- tones and rhymes

enum class tone_rule { off, loose, strict };
enum class rhyme_rule { off, even, first_and_even };
std::string to_string(tone_rule);
std::string to_string(rhyme_rule);
result<tone_rule> parse_tone_rule(std::string_view);    // "off" | "loose" | "strict"
result<rhyme_rule> parse_rhyme_rule(std::string_view);  // "off" | "even" | "first"

// Tone classes of verse: 平 (level) and 仄 (oblique: rising, departing and entering tones).
enum tone_class : uint8_t { tone_level = 1, tone_oblique = 2 };

// A level-tone rhyme group, at most this many of them.
constexpr size_t max_rhyme_groups = 128;
using rhyme_set = std::bitset<max_rhyme_groups>;

// Which characters a text is written in (charlm/script.hpp's text_script) decides whose readings a
// character takes: traditional, or anything else (read as simplified: the union of readings).
// A model that records no script (older files) and a text to check are guessed: traditional when
// more of `characters` are changed by ICU's Hant-Hans (traditional forms) than by Hans-Hant
// (simplified forms); else simplified.
result<text_script> guess_script(const std::vector<std::string>& characters);

// Middle Chinese tone class and level-tone rhyme group of each character, from the spellings of
// rime-data-zyenpheng's zyenpheng.dict.yaml (traditional characters), extended to simplified
// characters through ICU's Hant-Hans transliteration (see poem_prosody.cpp for the rules).
class prosody_table {
public:
    static constexpr std::string_view default_path = "/usr/share/rime-data/zyenpheng.dict.yaml";

    struct entry {
        uint8_t tones = 0;  // tone_class bits; both when readings differ in tone
        rhyme_set level_rhymes;  // the rhyme groups of its level-tone readings
    };

    // errc::io naming the file and the package to install when it cannot be read.
    static result<prosody_table> load(const std::string& path = std::string(default_path));

    // The entry of a character (its first code point), or null when the table has no reading.
    // Traditional text: a character the table lists has its own readings only; simplified text:
    // also those of every traditional character that simplifies to it (see poem_prosody.cpp).
    const entry* find(std::string_view character, text_script script = text_script::simplified) const;
    // A group's name: its representative finals, e.g. "ung".
    const std::string& rhyme_name(size_t group) const { return rhyme_names_.at(group); }
    size_t rhyme_count() const { return rhyme_names_.size(); }
    size_t size() const { return own_.size(); }  // characters the table lists

private:
    status add_simplified_forms();

    std::unordered_map<char32_t, entry> own_;     // the readings the table gives each character
    std::unordered_map<char32_t, entry> merged_;  // simplified forms: the union over their sources
    std::vector<std::string> rhyme_names_;
};

// --- checking poems, independently of the generator

struct verse_fault {
    uint32_t line = 0;    // 1-based verse line of the poem (lines are cut at ，。？！；)
    uint32_t column = 0;  // 1-based character of the line; 0: the line as a whole
    std::string kind;     // "length", "失对", "失粘", "孤平", "三平调", "落韵"
    std::string detail;
};

struct verse_report {
    uint64_t text_line = 0;  // 1-based line of the text where the poem's first verse line is
    std::string title;       // the title line before it, if any (《...》, or a line without verse punctuation)
    std::string form;        // 五绝 七绝 五律 七律, or "N lines" when not regulated verse
    bool checked = false;    // held to the rules of regulated verse; false: only its form described
    std::vector<std::vector<std::string>> lines;  // each verse line's Han characters
    std::vector<verse_fault> faults;
};

// Reads poems (blocks of text lines separated by blank lines; 《title》 and 作者： lines skipped) and
// reports each one's form and faults. A block's first line is its title when it has no verse
// punctuation (，。？！；) and a later line has (the corpus recipes' format: a title line, then the
// poem); a block without any verse punctuation is all verse. With `form` given, every poem is held
// to it; otherwise 4 or 8 lines mostly of 5 or 7 characters are regulated verse, and anything else
// is only described (checked false: not checked, which is not "without faults").
// Regulated verse is checked for 对 (positions 2, 4, 6 opposite inside a couplet), 粘 (the same
// across couplets), 孤平 and 三平调 on lines ending in 平, and the rhyme (even lines, and the first
// when it can only end in 平, in one level-tone group); a character read in both tones never makes a
// fault.
// `script` decides the readings of characters with traditional sources (prosody_table::find).
std::vector<verse_report> check_verse(std::string_view utf8, const prosody_table& table,
                                      const poem_form* form = nullptr,
                                      text_script script = text_script::simplified);

// How many verse lines of `poems` (cut at ，。？！； and newlines) occur verbatim in `corpus`. The
// first `given` bytes of each poem are the user's (--prefix): a line wholly inside them is neither
// counted nor copied.
struct line_overlap {
    uint64_t lines = 0, copied = 0;
    double share() const { return lines ? static_cast<double>(copied) / static_cast<double>(lines) : 0.0; }
};
line_overlap copied_lines(const std::vector<std::string>& poems, std::string_view corpus, size_t given = 0);

// --- the constraint a sampler consults at each step

// The token ids of a poem's marks (，。 and the newline) as the model's text settings write them
// (--normalize nfkc reads '，' as ','). errc::input when the vocabulary lacks one.
struct poem_marks {
    uint32_t comma = 0, stop = 0, newline = 0;
    static result<poem_marks> of(const vocabulary& vocab, const text_config& text);
};

// A character a poem must have where it stands (an acrostic head, a keyword's character, a
// template's fixed character) and, for the messages that refuse it, what put it there.
struct fixed_char {
    uint32_t line = 0, pos = 0;  // 0-based line and character of the line
    uint32_t id = 0;             // a Han token of the vocabulary
    std::string what;            // "acrostic head", "keyword '明月'", "template character"
};

// Which tokens may come next in a poem of one form over one vocabulary. Built once; the poem's
// progress is a small copyable `state`, so a sampler can keep copies to back up to.
class poem_constraint {
public:
    struct state {
        uint32_t line = 0;  // 0-based
        uint32_t pos = 0;   // tokens of the line so far: characters, then its punctuation, then a newline
        uint8_t openings = 3;             // bit 0: the first line has 平 at position 2, bit 1: 仄 (tones on)
        std::vector<uint16_t> patterns;   // (opening << 8 | tone mask) the line may still take (tones on)
        rhyme_set rhymes;                 // groups the rhyme may still take (all before the first)
        std::vector<uint32_t> rhyme_tokens;  // rhyme characters used (a rhyme is not repeated)
    };

    // fixed: the characters the poem must have (at most one per place). table: required when rhyme
    // or tones are on. The tone patterns a line may take are those its fixed characters fit, and the
    // rhyme starts in the groups the fixed rhymes share, so a fixed character is never a dead end.
    // Errors (usage): tones on a shape that is not regulated verse; a fixed character outside the
    // form, or that no tone pattern allows where it stands (given the others), or that can never
    // stand there (a rhyme position, line 1's end), or fixed rhymes that share no group or repeat;
    // (input) a position no token of the vocabulary fits whatever came before.
    // script: whose readings the vocabulary's characters take (prosody_table::find).
    static result<poem_constraint> make(const vocabulary& vocab, const poem_marks& marks, poem_form form,
                                        std::vector<fixed_char> fixed, rhyme_rule rhyme, tone_rule tones,
                                        const prosody_table* table, text_script script);

    // Replaces the fixed characters, with make()'s checks (every_position false: the tone, rhyme and
    // place checks and only the fixed positions, for a caller trying places). After an error the
    // constraint is unusable until a call succeeds.
    status set_fixed(const vocabulary& vocab, std::vector<fixed_char> fixed, bool every_position = true);

    state start() const;
    bool done(const state& s) const { return s.line >= form_.lines.size(); }
    bool at_line_start(const state& s) const { return s.pos == 0; }
    // The token the form fixes next (punctuation, newline, a fixed character), or -1 after setting
    // allowed[id] (V) to 1 for every token that keeps the form, 0 for the others.
    int32_t next(const state& s, std::vector<uint8_t>& allowed) const;
    // Moves past `token`, which next() fixed or allowed.
    void advance(state& s, uint32_t token) const;

    const poem_form& form() const { return form_; }
    const std::vector<fixed_char>& fixed() const { return fixed_; }
    // The fixed character at (line, pos), or null.
    const fixed_char* fixed_at(uint32_t line, uint32_t pos) const;

private:
    struct token_info {
        bool han = false;
        uint8_t tones = 0;  // tone_class bits; 0: no reading
        rhyme_set level_rhymes;
    };
    bool rhymes_at(uint32_t line) const;
    // Line 1's last character when line 1 does not rhyme (--rhyme even): it may not be 平 only.
    bool first_end_unrhymed(uint32_t line, uint32_t k) const;
    // The patterns of the line for these openings that its fixed characters fit.
    std::vector<uint16_t> line_patterns(uint32_t line, uint8_t openings) const;
    bool fixed_fits(uint16_t pattern, uint32_t line) const;
    bool fits_place(const token_info& t, bool ok_level, bool ok_oblique, bool unrhymed_end, bool fixed) const;
    void make_plain_masks();
    status check_places(const vocabulary& vocab);
    status check_fixed_tones(const vocabulary& vocab);
    status check_positions(const vocabulary& vocab, bool every_position) const;
    status check_fixed_rhymes(const vocabulary& vocab);

    poem_form form_;
    std::vector<fixed_char> fixed_;
    std::vector<std::vector<int32_t>> fixed_index_;  // [line][pos]: index into fixed_, -1 free
    rhyme_rule rhyme_ = rhyme_rule::off;
    tone_rule tones_ = tone_rule::off;
    std::vector<token_info> info_;  // (V)
    uint32_t comma_ = 0, stop_ = 0, newline_ = 0;
    uint8_t start_openings_ = 3;        // the openings every line's fixed characters allow
    rhyme_set start_rhymes_;            // the groups every fixed rhyme is in
    std::vector<uint32_t> fixed_rhymes_;  // fixed characters at rhyme positions: no free rhyme repeats them
    // (8, V) the allowed tokens of a free place outside the rhyme, by (平 allowed | 仄 allowed << 1 |
    // unrhymed end of line 1 << 2): next() copies one instead of testing V tokens.
    std::vector<std::vector<uint8_t>> plain_masks_;
};

// --- generation

// The penalties --best-of adds to a candidate's mean NLL per token (score_poem).
struct poem_weights {
    double repeat = 0.1;  // per Han character that repeats one earlier in the poem
    double line = 1.0;    // per line equal to an earlier line
    double copy = 0.5;    // per line found verbatim in the --novelty corpus
};

struct poem_config {
    std::string form;      // parse_poem_form's spec; empty: the shape follows the acrostic or the template
    std::string acrostic;  // line i starts with its i-th character
    std::string keywords;  // words (parse_keywords) each placed in a line by the documented plan
    std::string template_text;  // parse_poem_template: the form and the characters fixed in it
    std::string mood;      // fed to the model before the poem and not printed
    rhyme_rule rhyme = rhyme_rule::off;
    tone_rule tones = tone_rule::off;
    std::string prosody_path = std::string(prosody_table::default_path);
    // A step whose allowed tokens hold less probability than this (at temperature 1) backs up.
    double min_mass = 1e-4;
    // Candidates sampled as rows of one batch, of which the num_samples best by score_poem are
    // returned, best first (0: off, every sampled poem is returned in row order).
    uint32_t best_of = 0;
    // Constrained beam search of this width instead of sampling: the num_samples most likely poems
    // the form allows, most likely first (0: off; temperature, top-k, top-p and seed do not apply).
    uint32_t beam = 0;
    poem_weights weights;
    // The corpus text of the copy penalty (set by the caller, e.g. from --novelty; not an option).
    std::string_view novelty_text;

    static constexpr uint32_t max_best_of = 1024, max_beam = 256;  // each row keeps 3 snapshots of V logits

    // errc::usage with a one-line message naming the CLI option.
    status validate() const;
    status validate(const sample_config& cfg) const;  // and the combinations with the sampling options
    bool active() const { return !form.empty() || !acrostic.empty() || !template_text.empty(); }
    bool needs_prosody() const { return rhyme != rhyme_rule::off || tones != tone_rule::off; }
};

// A poem to fill in: its form (a line ends at ，。？！； or a newline; a couplet per text line is
// not required) and its fixed Han characters; `＿` or `_` marks a free character.
struct poem_template {
    poem_form form;
    struct fixed {
        uint32_t line = 0, pos = 0;
        std::string character;
    };
    std::vector<fixed> chars;
};
// errc::usage naming --template: a character that is neither Han nor a mark, no line, or a shape
// beyond poem_form's limits.
result<poem_template> parse_poem_template(std::string_view text);

// Words separated by `,` `，` or `、` (spaces around them dropped). errc::usage naming --keywords
// for an empty word.
result<std::vector<std::string>> parse_keywords(std::string_view text);

// Faults of a checked poem against a template (kind "template": a line of another length, a fixed
// character not in place) and keywords (kind "keyword": a word that is in no line).
void check_fixed(verse_report& r, const poem_template* t, const std::vector<std::string>& keywords);

// How a poem was reached: backups by level, and the NLL of its tokens under the unconstrained model.
struct poem_stats {
    uint64_t line_backups = 0, couplet_backups = 0, restarts = 0;
    double nll = 0;       // natural log, summed over the poem's tokens (forced ones included)
    uint64_t tokens = 0;
    uint64_t backups() const { return line_backups + couplet_backups + restarts; }
    poem_stats& operator+=(const poem_stats& o);
};

struct poem_score {
    double nll = 0;  // mean NLL per token
    uint32_t repeats = 0, repeated_lines = 0, copied_lines = 0;
    double total = 0;
    // "3.412 = NLL 3.112 + 0.1 x 3 repeated characters" (the terms that are not 0).
    std::string describe(const poem_weights& w) const;
};

struct poem_result {
    std::string text;  // the prefix (start of the first line) and the rest of the poem
    size_t prefix_bytes = 0;  // text's first bytes that are the prefix as the model read it
    poem_stats stats;
    // The tokens after the prefix (text.substr(prefix_bytes) in pieces) and the probability the
    // unconstrained model gave each: how surprising each character was, forced ones included.
    std::vector<std::string> pieces;
    std::vector<double> p;
    poem_score score;        // score_poem's, with the request's weights
    uint32_t candidate = 0;  // the row it was sampled in (--best-of: its rank is its place)
};

// What --best-of ranks candidates by, lower is better: the mean NLL per token after the prefix
// under the unconstrained model (characters, forced ones included, and marks), plus
// weights.repeat per Han character that repeats one earlier in the poem, weights.line per line
// equal to an earlier line, and weights.copy per line (not wholly in the prefix) found verbatim in
// `corpus` (none when it is empty).
poem_score score_poem(const poem_result& poem, const poem_weights& weights, std::string_view corpus = {});

// Sees each poem once it is complete (a backup may undo any part of an unfinished one); false
// stops before the next poem (the poems so far are returned).
using poem_sink = std::function<bool(uint32_t row, const poem_result& poem)>;

// `cfg.num_samples` poems (one after another, row r from row_stream_state(seed, r), so the same
// seed gives the same poems). sample.length and sample.stop do not apply. `table` may be null: it is
// loaded from pc.prosody_path when tones or rhymes are asked for.
// Errors: usage (options, acrostic heads the model never saw or that can never fit, a prefix that
// does not start a line of the form), input (a vocabulary without `，` `。` or newline as its text
// settings write them, with too few Han characters, or with none for some position), io (the tone
// table). The readings follow the script the model records, else the one guessed from the
// vocabulary (guess_script).
result<std::vector<poem_result>> generate_poems(const language_model& model, const std::string& prefix,
                                                const sample_config& cfg, const poem_config& pc,
                                                const prosody_table* table = nullptr,
                                                const poem_sink& on_poem = {});

// One input read in the model's script instead of as typed (to_model_script), for the caller to
// say: "prefix 春风 read as 春風 (simplified -> traditional)".
struct input_conversion {
    std::string field;  // "prefix", "stop", "acrostic", "keywords", "template", "mood"
    std::string typed, read;
    script_conversion how = script_conversion::none;
    std::string describe() const;
};

// A request's inputs in the model's script under cfg.convert (off: as typed): the prefix and stop
// strings, and with `pc` its mood, keywords, template and its acrostic heads (each a standalone
// character). Returns
// what was converted; what is still unknown afterwards is left to the usual checks (--unknown).
result<std::vector<input_conversion>> convert_inputs(const language_model& model, std::string& prefix,
                                                     sample_config& cfg, poem_config* pc);

// Generated text in the script the reader asked for (cfg.script), converted by phrases once it is
// written; as it is for output_script::model or when the model's text is already in that script.
result<std::string> to_reader_script(const language_model& model, const sample_config& cfg, std::string_view text);

// The conversion to_reader_script applies (none: the text is printed as the model writes it).
script_conversion reader_conversion(const language_model& model, const sample_config& cfg);

}  // namespace charlm
