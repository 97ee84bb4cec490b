// Lyrics that rhyme and scan (issue 29): modern Mandarin rhyme classes (十三辙, 中华新韵) from the
// pinyin of Debian's rime-data-luna-pinyin, 平水韵 from the Middle Chinese table of poem.hpp, English
// rhyme, syllables and stress from the CMU dictionary of Debian's festlex-cmu; all read at run time.
// A rhyme scheme (AABB, ABAB, ...), line lengths (Chinese) or syllables and metre (English), and a
// song structure (verse, chorus, ...) are checked in written text (check_lyrics) and kept while
// sampling (generate_lyrics: masks, forced tokens and backups, as generate_poems does).
// Not here: classical regulated verse (poem.hpp), printing (app/).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "charlm/model.hpp"
#include "charlm/poem.hpp"
#include "charlm/sample.hpp"
#include "charlm/script.hpp"
#include "charlm/status.hpp"

namespace charlm {

// --- rhyme systems and their readings

// 十三辙 (13 classes) and 中华新韵 (14) rhyme by modern finals, tones ignored; 平水韵 by the level-tone
// groups of Middle Chinese (poem.hpp's prosody_table); English by the last stressed vowel and what
// follows it (strict: as pronounced; loose: also eye rhymes, the same spelling from the last
// vowel letters on, love/move).
enum class rhyme_system { shisanzhe, xinyun, pingshui, english, english_loose };
// "十三辙"/"shisanzhe", "新韵"/"中华新韵"/"xinyun", "平水韵"/"pingshui", "english", "english-loose";
// errc::usage naming --rhyme-system.
result<rhyme_system> parse_rhyme_system(std::string_view name);
std::string to_string(rhyme_system s);
inline bool is_english(rhyme_system s) { return s == rhyme_system::english || s == rhyme_system::english_loose; }

// The classes a line's end may rhyme in: sorted ids, several for a polyphone no word settles;
// empty: no reading (such a line may not be a rhyming one).
using rhyme_classes = std::vector<uint32_t>;
bool share_class(const rhyme_classes& a, const rhyme_classes& b);
rhyme_classes common_classes(const rhyme_classes& a, const rhyme_classes& b);

// A modern Mandarin final (toneless pinyin syllable, ü written v: "guang", "lve") and its class in
// 十三辙 or 新韵; -1: no class (m, ng, hm: interjections).
int modern_class(std::string_view syllable, rhyme_system s);
const std::vector<std::string>& modern_class_names(rhyme_system s);

// Toneless pinyin of characters and words from Rime's luna_pinyin.dict.yaml (a traditional
// dictionary: its simplified forms are read through ICU, see add_simplified_forms). Readings
// weighted 0% are left out; a word settles the reading of its last character.
class pinyin_table {
public:
    static constexpr std::string_view default_path = "/usr/share/rime-data/luna_pinyin.dict.yaml";
    // errc::io naming the file and the package (rime-data-luna-pinyin) when it cannot be read.
    static result<pinyin_table> load(const std::string& path = std::string(default_path));
    // The readings of the last of `chars` (one character each): those of the longest dictionary
    // word (2 to 4 characters) that `chars` ends with, else all of the character's own (in
    // `script`: simplified text reads a simplified form by its traditional sources).
    std::vector<std::string> end_readings(const std::vector<std::string>& chars,
                                          text_script script = text_script::simplified) const;
    size_t size() const { return chars_.size(); }
    // Whether a word may settle this character's reading (it ends a word of the table).
    bool ends_a_word(const std::string& ch) const { return word_ends_.count(ch) > 0; }

private:
    status add_simplified_forms();
    std::unordered_set<std::string> word_ends_;
    std::unordered_map<std::string, std::vector<std::string>> chars_;
    std::unordered_map<std::string, std::vector<std::string>> simplified_chars_;  // read in simplified text
    std::unordered_map<std::string, std::vector<std::string>> words_;  // readings of the last character
};

// One pronunciation of an English word: stress per syllable ('1' stressed, '0' not) and its rhyme,
// the phones from the last stressed vowel on ("ah v" for love and above).
struct pronunciation {
    std::string stress;
    std::string rhyme;
};

// The CMU dictionary as festlex-cmu ships it (Festival's lexicon format, cmudict-0.4.out):
// ("word" pos (((phones) stress) ...)), words lower-cased, all entries of a word kept in order.
class cmu_table {
public:
    static constexpr std::string_view default_path = "/usr/share/festival/dicts/cmu/cmudict-0.4.out";
    static result<cmu_table> load(const std::string& path = std::string(default_path));
    const std::vector<pronunciation>* find(std::string_view lower_word) const;
    size_t size() const { return words_.size(); }
    const std::unordered_map<std::string, std::vector<pronunciation>>& words() const { return words_; }

private:
    std::unordered_map<std::string, std::vector<pronunciation>> words_;
};

// A word not in the dictionary: its vowel letter groups (y a vowel after the first letter), one
// less for a silent final e (not after a consonant + l: "table"), at least 1.
uint32_t estimate_syllables(std::string_view lower_word);

// An English word's reading: the first entry's syllables and stress, the rhymes of all entries.
struct word_reading {
    uint32_t syllables = 0;
    std::string stress;    // '1' / '0' per syllable; empty when estimated
    bool estimated = false;  // not in the dictionary: may not end a rhyming line
    rhyme_classes rhymes;
};

// The readings of one rhyme system, loaded once: the class of a line's end and its name.
class rhyme_book {
public:
    struct paths {
        std::string pinyin = std::string(pinyin_table::default_path);
        std::string cmu = std::string(cmu_table::default_path);
        std::string middle_chinese = std::string(prosody_table::default_path);
    };
    static result<rhyme_book> load(rhyme_system s, const paths& p, text_script script = text_script::simplified);

    rhyme_system system() const { return system_; }
    // Chinese: the classes of the last of `chars` (earlier ones may settle a polyphone), and
    // whether the characters before can change them (false: han_end({ch}) holds after anything).
    rhyme_classes han_end(const std::vector<std::string>& chars) const;
    bool context_matters(const std::string& ch) const { return pinyin_ && pinyin_->ends_a_word(ch); }
    // English: a word's reading (letters and apostrophes; any case), and its spelling as the
    // dictionary is looked up by (lower case, ’ as ', apostrophes at either end dropped).
    word_reading word(std::string_view w) const;
    static std::string spelling(std::string_view w);
    std::string class_name(uint32_t id) const;
    // English: every dictionary word (lower case, letters and apostrophes only) with its reading,
    // sorted by spelling, so that the words a prefix can still become are one range.
    struct entry {
        std::string word;
        word_reading reading;
    };
    const std::vector<entry>& dictionary() const { return *dictionary_; }
    // English: the dictionary's words (indices, in spelling order) that rhyme in a class (an id of
    // word().rhymes), and how many there are.
    const std::vector<uint32_t>& class_members(uint32_t id) const { return (*class_members_)[id]; }
    uint32_t class_words(uint32_t id) const {
        return id < class_members_->size() ? static_cast<uint32_t>((*class_members_)[id].size()) : 0;
    }

private:
    status load_english(const std::string& path);
    status load_chinese(const paths& p);

    rhyme_system system_ = rhyme_system::shisanzhe;
    text_script script_ = text_script::simplified;
    std::shared_ptr<const pinyin_table> pinyin_;
    std::shared_ptr<const prosody_table> middle_;
    std::shared_ptr<const cmu_table> cmu_;
    // English: each dictionary word's rhyme ids (with the eye rhyme's in loose mode) and their names.
    std::shared_ptr<const std::unordered_map<std::string, rhyme_classes>> word_rhymes_;
    std::shared_ptr<const std::vector<std::string>> key_names_;
    std::shared_ptr<const std::vector<entry>> dictionary_;
    std::shared_ptr<const std::vector<std::vector<uint32_t>>> class_members_;
};

// English words as lines are cut into them: runs of letters (any script's) and apostrophes.
bool is_word_char(std::string_view token);
std::vector<std::string> english_words(std::string_view line);

// --- the shape of a lyric

enum class meter { off, iambic };

// What check_lyrics holds a stanza to and generate_lyrics writes.
struct lyric_shape {
    std::string scheme;                 // a letter per line, upper case (spaces of the spec dropped); empty: none
    rhyme_system system = rhyme_system::shisanzhe;
    uint32_t min_length = 0, max_length = 0;  // Chinese: Han characters per line; 0: any
    std::vector<uint32_t> syllables;    // English: per line, repeated over the lines; empty: any
    meter metre = meter::off;
    uint32_t lines = 0;                 // lines per stanza; 0: the scheme's length (or any when checking)

    static constexpr uint32_t max_lines = 256, max_line_length = 64;
    // Line i's rhyme letter, the scheme repeated with new letters each time (ABAB, CDCD, ...), and
    // whether the letter recurs (only recurring letters rhyme; the others are free).
    uint32_t letter(uint32_t line) const;
    bool rhymed(uint32_t line, uint32_t total_lines) const;
    uint32_t syllables_at(uint32_t line) const { return syllables.empty() ? 0 : syllables[line % syllables.size()]; }
};

// --- checking written lyrics

struct lyric_line {
    uint64_t text_line = 0;
    std::string text;
    std::string end;            // the last word (English) or character (Chinese)
    std::vector<std::string> classes;  // names of the end's rhyme classes
    uint32_t length = 0;        // syllables (English) or Han characters
    bool estimated = false;     // English: some word's syllables were estimated
    std::string stress;         // English: per syllable '/' stressed, 'x' not, '.' free (monosyllable, estimated)
};

struct lyric_fault {
    uint32_t line = 0;  // 1-based in the stanza; 0: the stanza
    std::string kind;   // "rhyme", "length", "syllables", "meter", "lines"
    std::string detail;
};

struct lyric_report {
    uint64_t text_line = 0;
    std::string scheme;     // the scheme the stanza follows (detected, as letters are given in poetry)
    std::vector<lyric_line> lines;
    std::vector<lyric_fault> faults;
};

// Stanzas are blocks of lines between blank lines; a line such as "[Chorus]" is a label and skipped.
// Each is held to `shape` (scheme, lengths, syllables, metre; what is empty is not checked) and
// its detected scheme reported: a line takes the letter of the first earlier line it rhymes with,
// else the next new letter; 'X' for an end without a reading.
std::vector<lyric_report> check_lyrics(std::string_view utf8, const rhyme_book& book, const lyric_shape& shape);

// --- generation

struct lyric_config {
    std::string rhyme_scheme;           // "AABB", "ABAB CDCD EFEF GG", ...
    std::string rhyme_system = "auto";  // parse_rhyme_system, or auto: 十三辙 for a Chinese model, english otherwise
    uint32_t lines = 0;                 // per part; 0: the scheme's letters
    std::string line_length;            // Chinese: "7" or "6-10"
    std::string syllables;              // English: "8" or "8,6,8,6"
    std::string meter = "off";          // "off" | "iambic"
    std::string structure;              // "verse,chorus,verse,chorus,bridge,chorus"
    bool labels = false;                // print "[Verse]" etc. before each part (not read by the model)
    bool checking = false;              // for `charlm verse`: no scheme or line count needed
    std::string pinyin_path = std::string(pinyin_table::default_path);
    std::string cmu_path = std::string(cmu_table::default_path);
    // 平水韵's Middle Chinese readings: not an option of its own, the poems' --readings.
    std::string middle_chinese_path = std::string(prosody_table::default_path);

    bool active() const { return !rhyme_scheme.empty() || lines > 0 || !structure.empty(); }
    status validate() const;
    // The shape for a model writing English (or Chinese); errc::usage naming the option.
    result<lyric_shape> shape(bool english) const;
    std::vector<std::string> parts() const;  // the structure, or one part "verse"
};

// Parses "6-10" / "7" and "8,6,8,6" (errc::usage naming the option).
status parse_line_length(std::string_view spec, uint32_t& lo, uint32_t& hi);
result<std::vector<uint32_t>> parse_syllables(std::string_view spec);

struct lyric_stats {
    uint64_t word_backups = 0, line_backups = 0, part_backups = 0, restarts = 0;
    double nll = 0;  // natural log, over the tokens written (forced ones and the repeated chorus included)
    uint64_t tokens = 0;
    uint64_t backups() const { return word_backups + line_backups + part_backups + restarts; }
    lyric_stats& operator+=(const lyric_stats& o);
};

struct lyric_result {
    std::string text;  // as printed: parts a blank line apart, labels if asked
    lyric_stats stats;
};

using lyric_sink = std::function<bool(uint32_t row, const lyric_result& song)>;

// cfg.num_samples songs (row r from row_stream_state(seed, r)). The prefix starts the first line.
// Errors: usage (options, a prefix that does not fit), input (a vocabulary without newline, or
// without characters or words that can end a rhyming line), io (the readings).
// What a caller that serves others bounds a song by: its tokens (0: no bound; errc::usage past it)
// and a check made before every token (false: errc::interrupted, the song is dropped).
struct lyric_limits {
    uint64_t max_tokens = 0;
    std::function<bool()> keep_going;
};

// `book`: the readings lyric_readings(model, lc) gives, kept by a caller that writes many songs (the
// server); null: read here, about half a second for English.
result<std::vector<lyric_result>> generate_lyrics(const language_model& model, const std::string& prefix,
                                                  const sample_config& cfg, const lyric_config& lc,
                                                  const lyric_sink& on_song = {}, const rhyme_book* book = nullptr,
                                                  const lyric_limits& limits = {});

// The readings generate_lyrics needs for `model` under `lc`: the rhyme system lc names (or, for
// auto, the model's language's) from lc's paths, in the script of the model's text. They depend on
// the model, lc.rhyme_system and the paths alone. errc::io naming the package when unreadable.
result<rhyme_book> lyric_readings(const language_model& model, const lyric_config& lc);

}  // namespace charlm
