// Model files: language_model <-> safetensors with PyTorch names and a self-describing
// __metadata__ (see model_file.hpp). The tensor layout conversion lives in models/lm.cpp.
#include "charlm/model_file.hpp"

#include <fmt/chrono.h>
#include <fmt/core.h>

#include <cmath>
#include <ctime>
#include <nlohmann/json.hpp>

#include "charlm/options.hpp"
#include "charlm/version.hpp"
#include "config/json_number.h"
#include "io/model_file_impl.h"
#include "io/safetensors.h"

namespace charlm {

namespace {

using nlohmann::json;

std::string utc_now() {
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", tm);
}

json summary_json(const training_summary& s) {
    json j = {{"corpus", s.corpus}, {"corpus_checksum", s.corpus_checksum}, {"epochs", s.epochs},
              {"steps", s.steps},   {"train_ppl", s.train_ppl},             {"date", s.date},
              {"charlm_version", s.version}};
    j["valid_ppl"] = s.valid_ppl ? json(*s.valid_ppl) : json(nullptr);
    return j;
}

// Throws json::exception or std::out_of_range (json_number_at) on a malformed summary.
training_summary summary_from_json(const json& s) {
    training_summary summary;
    summary.corpus = s.value("corpus", "");
    summary.corpus_checksum = s.value("corpus_checksum", "");
    summary.epochs = detail::json_number_or<uint64_t>(s, "epochs", 0);
    summary.steps = detail::json_number_or<uint64_t>(s, "steps", 0);
    summary.train_ppl = detail::json_number_or<double>(s, "train_ppl", 0.0);
    if (s.contains("valid_ppl") && s["valid_ppl"].is_number())
        summary.valid_ppl = detail::json_number_at<double>(s, "valid_ppl");
    summary.date = s.value("date", "");
    summary.version = s.value("charlm_version", "");
    return summary;
}

}  // namespace

namespace detail {

// The configurations' JSON comes from their option tables (lib/src/config/tables.cpp).
json to_json(const model_config& c) { return charlm::to_json(model_options(), c); }

json to_json(const text_config& t) { return charlm::to_json(text_options(), t); }

result<model_config> model_config_from_json(const json& m) {
    model_config mc;
    CHARLM_TRY(from_json(model_options(), m, mc));
    return mc;
}

result<text_config> text_config_from_json(const json& t) {
    text_config tc;
    CHARLM_TRY(from_json(text_options(), t, tc));
    return tc;
}

io::tensor_file model_tensor_file(const language_model& model, const training_summary& summary) {
    io::tensor_file f;
    training_summary s = summary;
    if (s.date.empty()) s.date = utc_now();
    s.version = CHARLM_VERSION;
    f.metadata["format"] = "charlm";
    f.metadata["format_version"] = std::to_string(model_format_version);
    f.metadata["model_config"] = to_json(model.config()).dump();
    f.metadata["text_config"] = to_json(model.text()).dump();
    f.metadata["vocab"] = json(model.vocab().tokens()).dump();
    f.metadata["training"] = summary_json(s).dump();
    for (auto& t : model.export_tensors()) f.add(std::move(t));
    return f;
}

}  // namespace detail

status save_model(const std::string& path, const language_model& model, const training_summary& summary) {
    return io::write_safetensors(path, detail::model_tensor_file(model, summary));
}

// The model is allocated from the configuration before its tensors are checked: a damaged
// configuration must not allocate gigabytes for a small file (found by fuzzing: a 1.6 kB file
// asking for 16 layers of 8192 LSTM units). A small shortfall is left to import_tensors, which
// names the tensor.
static status check_weight_count(const model_config& mc, const io::tensor_file& file, const std::string& path) {
    const uint64_t G = static_cast<uint64_t>(gate_count(mc.cell)), H = mc.hidden, V = mc.vocab;
    uint64_t needed = V * mc.embed + V * (H + 1), held = 0;
    if (mc.softmax == softmax_type::adaptive) {
        needed = V * mc.embed + (mc.cutoffs[0] + mc.cutoffs.size()) * (H + 1);
        for (size_t k = 0; k < mc.cutoffs.size(); ++k)
            needed += uint64_t{adaptive_tail_width(mc.hidden, mc.div_value, k)} *
                      (H + (k + 1 < mc.cutoffs.size() ? mc.cutoffs[k + 1] : V) - mc.cutoffs[k]);
    }
    for (uint32_t l = 0; l < mc.layers; ++l) needed += G * H * ((l == 0 ? mc.input_width() : H) + H + 2);
    for (const auto& [name, t] : file.tensors)
        if (name.rfind("optimizer.", 0) != 0) held += t.data.size();
    if (needed <= held + (uint64_t{1} << 20)) return {};
    return make_error(errc::format,
                      fmt::format("'{}' is not a usable charlm model: its configuration ({}, {} layers, hidden {}, "
                                  "embed {}, vocabulary {}) needs {} weights but its tensors hold only {}; the "
                                  "configuration does not match the weights",
                                  path, to_string(mc.cell), mc.layers, mc.hidden, mc.embed, mc.vocab, needed, held));
}

// load_model's checks over a parsed container; `path` names it in messages.
static result<loaded_model> model_from_file(io::tensor_file file, const std::string& path) {
    auto bad = [&](const std::string& what) {
        return make_error(errc::format,
                          fmt::format("'{}' is not a usable charlm model: {}", path, io::printable(what)));
    };
    const auto& meta = file.metadata;
    auto get = [&](const char* key) -> const std::string* {
        auto it = meta.find(key);
        return it == meta.end() ? nullptr : &it->second;
    };
    if (!get("format") || *get("format") != "charlm")
        return bad("its metadata has no \"format\": \"charlm\" entry (a safetensors file from another program?)");
    int version = 0;
    try {
        version = get("format_version") ? std::stoi(*get("format_version")) : 0;
    } catch (...) {
        return bad("its format_version is not a number");
    }
    if (version > model_format_version)
        return bad(fmt::format("it has format version {}, newer than this charlm ({}, reads version {}); "
                               "upgrade charlm",
                               version, CHARLM_VERSION, model_format_version));
    if (version < 1) return bad("its format_version is missing or invalid");
    for (const char* key : {"model_config", "text_config", "vocab"})
        if (!get(key)) return bad(fmt::format("its metadata lacks '{}'", key));

    model_config mc;
    text_config tc;
    std::vector<std::string> tokens;
    training_summary summary;
    try {
        auto m = detail::model_config_from_json(json::parse(*get("model_config")));
        if (!m) return bad(m.err().message);
        mc = *m;
        auto t = detail::text_config_from_json(json::parse(*get("text_config")));
        if (!t) return bad("its text configuration has an unknown value: " + t.err().message);
        tc = *t;
        tokens = json::parse(*get("vocab")).get<std::vector<std::string>>();
        if (get("training")) summary = summary_from_json(json::parse(*get("training")));
    } catch (const std::exception& e) {  // json::exception; std::out_of_range from json_number_at
        return bad(fmt::format("its metadata is malformed ({})", io::printable(e.what(), 240)));
    }
    if (auto s = mc.validate(); !s.ok()) return bad("its model configuration is invalid: " + s.err().message);
    if (mc.softmax == softmax_type::adaptive && mc.cutoffs.empty()) return bad("its adaptive softmax has no cutoffs");
    auto vocab = vocabulary::from_tokens(std::move(tokens));
    if (!vocab) return bad(vocab.err().message);
    if (vocab->size() != mc.vocab)
        return bad(fmt::format("its vocabulary has {} entries but the configuration says {}", vocab->size(), mc.vocab));

    CHARLM_TRY(check_weight_count(mc, file, path));
    std::vector<named_tensor> tensors;
    for (auto& [name, t] : file.tensors) {
        for (float v : t.data)
            if (!std::isfinite(v)) return bad(fmt::format("tensor '{}' holds non-finite values (NaN or Inf)", name));
        tensors.push_back(std::move(t));
    }
    language_model model(mc, tc, std::move(*vocab), 0);
    CHARLM_TRY(model.import_tensors(tensors, path));
    return loaded_model{std::move(model), std::move(summary)};
}

result<training_summary> read_model_summary(const std::string& path) {
    auto meta = io::read_safetensors_metadata(path);
    if (!meta) return meta.err();
    const auto it = meta->find("training");
    if (meta->find("format") == meta->end() || it == meta->end())
        return make_error(errc::format, fmt::format("'{}' is not a charlm model file with a training summary", path));
    try {
        return summary_from_json(json::parse(it->second));
    } catch (const std::exception& e) {
        return make_error(errc::format, fmt::format("'{}' has a malformed training summary ({})", path,
                                                    io::printable(e.what(), 240)));
    }
}

result<loaded_model> load_model(const std::string& path) {
    auto file = io::read_safetensors(path);
    if (!file) return file.err();
    return model_from_file(std::move(*file), path);
}

result<loaded_model> load_model_from_bytes(const std::string& bytes, const std::string& name) {
    auto file = io::parse_safetensors(bytes, name);
    if (!file) return file.err();
    return model_from_file(std::move(*file), name);
}

}  // namespace charlm
