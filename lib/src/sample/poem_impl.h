// Internals of poem generation shared by its files: the tone patterns of regulated verse as bit
// masks (bit k set: position k is 平), the line faults 孤平 and 三平调, and Han detection.
// Not here: the constraint's state machine (poem_constraint.cpp) or the sampling loop.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "charlm/poem.hpp"
#include "layers/softmax_xent.h"

namespace charlm::poem {

// Line i (0-based) of a regulated poem whose first line has `first_level_second` at position 2:
// 对 inside a couplet (the second line's tone at position 2 is the opposite), 粘 across couplets
// (the next couplet's first line repeats the previous line's), so the tone repeats every 4 lines.
bool level_second(uint32_t line, bool first_level_second);
// Even lines end in 平 (they rhyme); odd lines in 仄, except the first when it rhymes too.
bool level_end(uint32_t line, bool first_rhymed);

// Whether the first line joins the rhyme: it does when its last character can only be read 平.
// The one rule of generator and checker: the checker holds such a line to the rhyme group, and the
// generator, when line 1 need not rhyme (--rhyme even), ends it only in a character that may be 仄.
inline bool first_line_in_rhyme(uint8_t end_tones) { return end_tones == tone_level; }

// The canonical line of `length` 5 or 7 with the given tone at position 2 and at the end:
// 五言 仄仄平平仄 平平仄仄平 平平平仄仄 仄仄仄平平; 七言 puts two characters of the position-2 tone
// before the 五言 line of the opposite one (平平 + 仄仄平平仄, ...).
uint8_t canonical_line(uint32_t length, bool level_second, bool level_end);

// 三平调: the line ends in three 平. 孤平: the line ends in 平 and the 五言 part before the rhyme
// (the last five characters) holds at most one 平, not next to the rhyme (仄平仄仄平).
bool three_level_tail(uint8_t tones, uint32_t length);
bool lone_level(uint8_t tones, uint32_t length);

// The tone masks a line may take: strict, the canonical one; loose, also every change at positions
// 1, 3 (and 5 in 七言) (一三五不论) that makes neither 孤平 nor 三平调.
std::vector<uint8_t> allowed_lines(uint32_t length, bool level_second, bool level_end, tone_rule rule);

// Whether a token is a Han character (its first code point's script is Han).
bool is_han(std::string_view token);

// The model's probabilities at one step: w (V) = exp(logit - max), their sum, for the allowed
// tokens' share and the NLL of the chosen one.
struct step_probs {
    std::vector<float> w;
    float max = 0;
    double total = 0;
    void compute(const float* logits, uint32_t v) {
        w.resize(v);
        max = -std::numeric_limits<float>::infinity();
        for (uint32_t i = 0; i < v; ++i) max = logits[i] > max ? logits[i] : max;
        for (uint32_t i = 0; i < v; ++i) w[i] = std::isnan(logits[i]) ? -INFINITY : logits[i] - max;
        nn::fast_exp(w.data(), w.data(), v);
        total = 0;
        for (uint32_t i = 0; i < v; ++i) total += w[i];
    }
    double nll(const float* logits, uint32_t id) const { return std::log(total) - (logits[id] - max); }
};

// `rows` poems sampled as rows of one batch after `context` (read first, never printed) and
// `prefix` (the poem's start, in state `start`), row r from row_stream_state(cfg.seed, r); each row
// backs up on its own (poem_writer.cpp). errc::input when a row finds no way on.
result<std::vector<poem_result>> write_poems(const language_model& model, const poem_constraint& c,
                                             const std::vector<uint32_t>& context, const std::vector<uint32_t>& prefix,
                                             const poem_constraint::state& start, const sample_config& cfg,
                                             uint32_t rows, double min_mass);

// The `width` most likely poems the constraint allows (constrained beam search over `width` rows),
// most likely first. errc::input when every hypothesis reaches a dead end.
result<std::vector<poem_result>> beam_poems(const language_model& model, const poem_constraint& c,
                                            const std::vector<uint32_t>& context, const std::vector<uint32_t>& prefix,
                                            const poem_constraint::state& start, precision p, uint32_t width);

// Places each keyword (its token ids) in a line of `c`'s form besides the characters already
// `fixed`: word i in line i * lines / words when it fits there (the next free lines otherwise), at
// the first place of slot_order (poem_plan.cpp) that the constraint accepts; leaves `c` with them
// all. errc::usage naming the word and why it fits nowhere.
result<std::vector<fixed_char>> plan_keywords(poem_constraint& c, const vocabulary& vocab, std::vector<fixed_char> fixed,
                                              const std::vector<std::string>& words,
                                              const std::vector<std::vector<uint32_t>>& ids);

// The characters of a UTF-8 string (code points), one string each.
std::vector<std::string> code_points(std::string_view s);

}  // namespace charlm::poem
