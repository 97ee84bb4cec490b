// Internals of script conversion (script.hpp), shared with the tokenizer, which converts corpus
// text in UTF-16 as it goes (--convert-corpus). Not public API.
#pragma once

#include <unicode/unistr.h>

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "charlm/script.hpp"

namespace charlm::text_detail {

// One direction's tables (t2s or s2t), read once from OpenCC's data and shared by every thread.
class script_table {
public:
    static result<const script_table*> get(script_conversion c);  // c != none
    // Appends the conversion of `in` to `out`.
    void convert(std::u16string_view in, std::u16string& out) const;
    // The character table's readings of one code point (first: the one convert() uses), or null.
    const std::vector<std::u16string>* variants(char32_t c) const;

private:
    script_table() = default;
    static result<std::unique_ptr<script_table>> load(script_conversion c);

    struct u16_hash {
        using is_transparent = void;
        size_t operator()(std::u16string_view v) const { return std::hash<std::u16string_view>{}(v); }
    };
    std::unordered_map<char32_t, std::vector<std::u16string>> chars_;
    std::unordered_map<std::u16string, std::u16string, u16_hash, std::equal_to<>> phrases_;
    // By code point below `direct` (planes 0-3, where every CJK character is): the longest phrase starting with
    // it (UTF-16 units, 0: none) and its first reading (an index into first_, -1: none), so that
    // a character costs one array read (OpenCC maps nothing above).
    static constexpr char32_t direct = 0x40000;
    struct entry {
        uint32_t longest = 0;
        int32_t first = -1;
    };
    std::vector<entry> by_cp_;
    std::vector<std::u16string> first_;
};

}  // namespace charlm::text_detail
