// Chinese script conversion over OpenCC's dictionaries (script.hpp, script_impl.h). OpenCC's own
// converter segments and converts at about 3.5 MB/s, ten times slower than the rest of corpus
// loading; the same rule (at each position the longest phrase of the phrase table, else the
// character table's first reading, else the character) over hash tables of the same entries
// converts at corpus speed, and a test checks that it gives OpenCC's bytes on whole corpora.
#include "text/script_impl.h"

#include "charlm/text.hpp"
#include "charlm/vocab.hpp"

#include <fmt/core.h>
#include <opencc/DictEntry.hpp>
#include <opencc/Lexicon.hpp>
#include <opencc/MarisaDict.hpp>
#include <unicode/uchar.h>
#include <unicode/uscript.h>
#include <unicode/utf16.h>

#include <cstdio>
#include <limits>
#include <mutex>

namespace charlm {

namespace text_detail {

namespace {

constexpr const char* opencc_data = "/usr/share/opencc";

std::u16string to_u16(std::string_view utf8) {
    icu::UnicodeString u = icu::UnicodeString::fromUTF8(icu::StringPiece(utf8.data(), static_cast<int32_t>(utf8.size())));
    return std::u16string(reinterpret_cast<const char16_t*>(u.getBuffer()), static_cast<size_t>(u.length()));
}

// The entries of one of OpenCC's .ocd2 tables, as (key, values) in UTF-16.
result<std::vector<std::pair<std::u16string, std::vector<std::u16string>>>> read_table(const std::string& name) {
    const std::string path = fmt::format("{}/{}", opencc_data, name);
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f)
        return make_error(errc::io, fmt::format("cannot read OpenCC's table '{}': install Debian's libopencc-data "
                                                "(simplified/traditional conversion needs it)",
                                                path));
    std::vector<std::pair<std::u16string, std::vector<std::u16string>>> out;
    try {
        const auto dict = opencc::MarisaDict::NewFromFile(f);
        std::fclose(f);
        f = nullptr;
        for (const auto& e : *dict->GetLexicon()) {
            std::vector<std::u16string> values;
            for (const auto& v : e->Values()) values.push_back(to_u16(v));
            if (!values.empty()) out.emplace_back(to_u16(e->Key()), std::move(values));
        }
    } catch (const std::exception& e) {
        if (f) std::fclose(f);
        return make_error(errc::io, fmt::format("OpenCC's table '{}' cannot be read ({}): reinstall libopencc-data",
                                                path, e.what()));
    }
    return out;
}

char32_t first_code_point(std::u16string_view s) {
    if (s.empty()) return 0;
    UChar32 c;
    size_t i = 0;
    U16_NEXT(s.data(), i, s.size(), c);
    return static_cast<char32_t>(c);
}

}  // namespace

result<std::unique_ptr<script_table>> script_table::load(script_conversion c) {
    const bool to_simplified = c == script_conversion::t2s;
    auto phrases = read_table(to_simplified ? "TSPhrases.ocd2" : "STPhrases.ocd2");
    if (!phrases) return phrases.err();
    auto chars = read_table(to_simplified ? "TSCharacters.ocd2" : "STCharacters.ocd2");
    if (!chars) return chars.err();
    std::unique_ptr<script_table> t(new script_table);
    t->by_cp_.resize(direct);
    for (auto& [key, values] : *chars) {
        const char32_t cp = first_code_point(key);
        if (key.size() != static_cast<size_t>(U16_LENGTH(cp)) || cp >= direct) continue;  // one character a key
        if (t->by_cp_[cp].first >= 0) continue;  // a key listed twice: the first entry, as OpenCC reads it
        t->by_cp_[cp].first = static_cast<int32_t>(t->first_.size());
        t->first_.push_back(values.front());
        t->chars_.emplace(cp, std::move(values));
    }
    for (auto& [key, values] : *phrases) {
        const char32_t cp = first_code_point(key);
        if (cp >= direct) continue;
        uint32_t& longest = t->by_cp_[cp].longest;
        longest = std::max(longest, static_cast<uint32_t>(key.size()));
        t->phrases_.emplace(std::move(key), std::move(values.front()));
    }
    return t;
}

result<const script_table*> script_table::get(script_conversion c) {
    static std::mutex m;
    static std::unique_ptr<script_table> tables[2];
    if (c == script_conversion::none) return make_error(errc::usage, "no script conversion asked for");
    const size_t k = c == script_conversion::t2s ? 0 : 1;
    std::lock_guard<std::mutex> lock(m);
    if (!tables[k]) {
        auto t = load(c);
        if (!t) return t.err();
        tables[k] = std::move(*t);
    }
    return tables[k].get();
}

void script_table::convert(std::u16string_view in, std::u16string& out) const {
    size_t i = 0;
    while (i < in.size()) {
        UChar32 c;
        size_t next = i;
        U16_NEXT(in.data(), next, in.size(), c);
        const entry e = static_cast<char32_t>(c) < direct ? by_cp_[static_cast<size_t>(c)] : entry{};
        if (e.longest > 0) {
            bool matched = false;
            for (size_t len = std::min<size_t>(e.longest, in.size() - i); len >= next - i && !matched; --len) {
                const auto p = phrases_.find(in.substr(i, len));
                if (p == phrases_.end()) continue;
                out += p->second;
                i += len;
                matched = true;
            }
            if (matched) continue;
        }
        if (e.first >= 0)
            out += first_[static_cast<size_t>(e.first)];
        else
            out.append(in.substr(i, next - i));
        i = next;
    }
}

const std::vector<std::u16string>* script_table::variants(char32_t c) const {
    const auto it = chars_.find(c);
    return it == chars_.end() ? nullptr : &it->second;
}

}  // namespace text_detail

result<std::string> convert_script(std::string_view utf8, script_conversion conversion) {
    if (conversion == script_conversion::none) return std::string(utf8);
    auto table = text_detail::script_table::get(conversion);
    if (!table) return table.err();
    std::u16string out;
    (*table)->convert(text_detail::to_u16(utf8), out);
    std::string back;
    icu::UnicodeString(false, reinterpret_cast<const UChar*>(out.data()), static_cast<int32_t>(out.size()))
        .toUTF8String(back);
    return back;
}

result<std::vector<std::string>> script_variants(std::string_view ch, script_conversion conversion) {
    std::vector<std::string> out;
    if (conversion == script_conversion::none) return out;
    auto table = text_detail::script_table::get(conversion);
    if (!table) return table.err();
    const std::u16string u = text_detail::to_u16(ch);
    const char32_t cp = text_detail::first_code_point(u);
    if (u.size() != static_cast<size_t>(U16_LENGTH(cp))) return out;
    if (const auto* v = (*table)->variants(cp))
        for (const auto& s : *v) {
            std::string b;
            icu::UnicodeString(false, reinterpret_cast<const UChar*>(s.data()), static_cast<int32_t>(s.size()))
                .toUTF8String(b);
            out.push_back(std::move(b));
        }
    return out;
}

result<script_measure> measure_script(const std::vector<std::string>& tokens, const std::vector<uint64_t>& counts) {
    auto t2s = text_detail::script_table::get(script_conversion::t2s);
    if (!t2s) return t2s.err();
    auto s2t = text_detail::script_table::get(script_conversion::s2t);
    if (!s2t) return s2t.err();
    script_measure m;
    uint64_t total = 0;
    for (size_t k = 0; k < tokens.size() && k < counts.size(); ++k) {
        total += counts[k];
        const std::u16string u = text_detail::to_u16(tokens[k]);
        const char32_t cp = text_detail::first_code_point(u);
        UErrorCode err = U_ZERO_ERROR;
        if (u.size() != static_cast<size_t>(U16_LENGTH(cp)) ||
            uscript_getScript(static_cast<UChar32>(cp), &err) != USCRIPT_HAN)
            continue;
        m.han += counts[k];
        auto differs = [&](const text_detail::script_table* t) {
            const auto* v = t->variants(cp);
            return v && v->front() != u;
        };
        if (differs(*t2s)) m.traditional_only += counts[k];
        if (differs(*s2t)) m.simplified_only += counts[k];
    }
    // Traditional text uses a few characters that s2t changes (云 "to say", 后 "empress", 干 "shield")
    // and simplified text a few that t2s changes: a script is the one whose own characters are at
    // least 3 times as common as the other's and at least 1% of the Han text.
    const double t = m.han ? static_cast<double>(m.traditional_only) / static_cast<double>(m.han) : 0;
    const double s = m.han ? static_cast<double>(m.simplified_only) / static_cast<double>(m.han) : 0;
    if (static_cast<double>(m.han) < 0.1 * static_cast<double>(total) || (t < 0.01 && s < 0.01))
        m.script = text_script::none;
    else if (t >= 3 * s)
        m.script = text_script::traditional;
    else if (s >= 3 * t)
        m.script = text_script::simplified;
    else
        m.script = text_script::mixed;
    return m;
}

script_conversion conversion_between(text_script from, text_script to) {
    if (from == text_script::simplified && to == text_script::traditional) return script_conversion::s2t;
    if (from == text_script::traditional && to == text_script::simplified) return script_conversion::t2s;
    return script_conversion::none;
}

namespace {

// A standalone character's variant: those in the vocabulary, the most frequent (lowest id) first;
// the character itself when none is.
result<std::string> standalone_variant(const std::string& ch, script_conversion c, const vocabulary& vocab) {
    auto variants = script_variants(ch, c);
    if (!variants) return variants.err();
    std::string best = ch;
    uint32_t best_id = std::numeric_limits<uint32_t>::max();
    for (const auto& v : *variants)
        if (vocab.contains(v) && vocab.id(v) < best_id) {
            best = v;
            best_id = vocab.id(v);
        }
    return best;
}

}  // namespace

result<model_input> to_model_script(std::string_view text, const text_config& model, const vocabulary& vocab,
                                    bool standalone) {
    model_input out{std::string(text), script_conversion::none};
    const script_conversion c = conversion_between(model.script == text_script::traditional ? text_script::simplified
                                                                                           : text_script::traditional,
                                                   model.script);
    if (c == script_conversion::none || text.empty()) return out;
    auto tokens = segment_utf8(text, model);
    if (!tokens) return tokens.err();
    bool other_script = false;
    for (const auto& t : *tokens) {
        if (vocab.contains(t)) continue;
        auto v = standalone_variant(t, c, vocab);
        if (!v) return v.err();
        other_script = other_script || vocab.contains(*v);
    }
    if (!other_script) return out;
    out.converted = c;
    if (!standalone) {
        auto converted = convert_script(text, c);
        if (!converted) return converted.err();
        out.text = std::move(*converted);
        return out;
    }
    out.text.clear();
    for (const auto& t : *tokens) {
        auto v = standalone_variant(t, c, vocab);
        if (!v) return v.err();
        out.text += *v;
    }
    return out;
}

}  // namespace charlm
