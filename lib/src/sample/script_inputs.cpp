// A request's inputs in the model's script and its output in the reader's (poem.hpp): where the
// script conversion of charlm/script.hpp meets generation. The CLI, the server and the bindings
// all go through these.
#include <fmt/core.h>

#include "charlm/poem.hpp"

namespace charlm {

std::string input_conversion::describe() const {
    return fmt::format("{} {} read as {} ({})", field, typed, read,
                       how == script_conversion::s2t ? "simplified -> traditional" : "traditional -> simplified");
}

namespace {

// `text` in place in the model's script; a note when it changed.
status convert_field(const language_model& model, const char* field, std::string& text, bool standalone,
                     std::vector<input_conversion>& notes) {
    auto r = to_model_script(text, model.text(), model.vocab(), standalone);
    if (!r) return r.err();
    if (r->converted == script_conversion::none || r->text == text) return {};
    notes.push_back({field, text, r->text, r->converted});
    text = std::move(r->text);
    return {};
}

}  // namespace

result<std::vector<input_conversion>> convert_inputs(const language_model& model, std::string& prefix,
                                                     sample_config& cfg, poem_config* pc) {
    std::vector<input_conversion> notes;
    if (cfg.convert == convert_policy::off) return notes;
    CHARLM_TRY(convert_field(model, "prefix", prefix, false, notes));
    for (auto& s : cfg.stop) CHARLM_TRY(convert_field(model, "stop", s, false, notes));
    if (pc) {
        CHARLM_TRY(convert_field(model, "mood", pc->mood, false, notes));
        CHARLM_TRY(convert_field(model, "acrostic", pc->acrostic, true, notes));
        CHARLM_TRY(convert_field(model, "keywords", pc->keywords, false, notes));
        CHARLM_TRY(convert_field(model, "template", pc->template_text, false, notes));
    }
    return notes;
}

script_conversion reader_conversion(const language_model& model, const sample_config& cfg) {
    const text_script have = model.text().script;
    switch (cfg.script) {
        case output_script::model: return script_conversion::none;
        case output_script::simplified:
            return have == text_script::simplified ? script_conversion::none : script_conversion::t2s;
        case output_script::traditional:
            return have == text_script::traditional ? script_conversion::none : script_conversion::s2t;
    }
    return script_conversion::none;
}

result<std::string> to_reader_script(const language_model& model, const sample_config& cfg, std::string_view text) {
    return convert_script(text, reader_conversion(model, cfg));
}

}  // namespace charlm
