// describe_model (describe.hpp): the layer table from the configuration, each layer naming the
// tensors it owns; shapes and stored counts come from the tensors the model exports, so the table
// shows what the file holds; describe_json, the same with the file's settings as one JSON object.
// Not here: printing.
#include "charlm/describe.hpp"

#include "charlm/distributed.hpp"
#include "charlm/commit.hpp"
#include "charlm/version.hpp"
#include "layers/qgemm.h"
#include "layers/simd.h"

#include <fmt/core.h>
#include <oneapi/dnnl/dnnl.h>
#include <unicode/uvernum.h>
#include <nlohmann/json.hpp>

#include <map>
#include <nlohmann/json.hpp>

namespace charlm {

namespace {

const char* cell_kind(cell_type c) {
    switch (c) {
        case cell_type::lstm: return "LSTM";
        case cell_type::gru: return "GRU";
        case cell_type::lbr_gru: return "GRU (linear before reset)";
        case cell_type::rnn_relu: return "RNN (ReLU)";
        case cell_type::rnn_tanh: return "RNN (tanh)";
    }
    return "?";
}

}  // namespace

model_summary describe_model(const language_model& model) {
    const model_config& c = model.config();
    std::map<std::string, named_tensor> exported;
    for (auto& t : model.export_tensors()) exported.emplace(t.name, std::move(t));
    size_t used = 0;
    model_summary out;
    // Appends the tensor `name` to `layer`; `trainable` by default is every stored value.
    auto own = [&](layer_summary& layer, const std::string& name, int64_t untrained = 0) {
        auto it = exported.find(name);
        CHARLM_ASSERT(it != exported.end());
        ++used;
        const uint64_t stored = it->second.data.size();
        CHARLM_ASSERT(untrained >= 0 && static_cast<uint64_t>(untrained) <= stored);
        layer.tensors.push_back({name, it->second.shape, stored, stored - static_cast<uint64_t>(untrained)});
    };

    if (c.embed > 0) {
        layer_summary l{"embedding", "Embedding", fmt::format("{} ids -> {}", c.vocab, c.embed), {}};
        own(l, "embedding.weight");
        out.layers.push_back(std::move(l));
    } else {
        out.layers.push_back({"one-hot", "OneHot", fmt::format("{} ids -> {}", c.vocab, c.vocab), {}});
    }
    if (c.dropout_input > 0)
        out.layers.push_back({"dropout_input", fmt::format("Dropout({:g})", c.dropout_input), "", {}});
    const int64_t H = c.hidden;
    // b_hh's rows that only add to b_ih's (all of them but lbr-gru's n gate) are stored as zeros.
    const int64_t bias_hh_untrained = static_cast<int64_t>(2 * gate_count(c.cell) - bias_gate_count(c.cell)) * H;
    for (uint32_t k = 0; k < c.layers; ++k) {
        const uint32_t in = k == 0 ? c.input_width() : c.hidden;
        layer_summary l{fmt::format("rnn_l{}", k), cell_kind(c.cell), fmt::format("{} -> {}", in, c.hidden), {}};
        own(l, fmt::format("rnn.weight_ih_l{}", k));
        own(l, fmt::format("rnn.weight_hh_l{}", k));
        own(l, fmt::format("rnn.bias_ih_l{}", k));
        own(l, fmt::format("rnn.bias_hh_l{}", k), bias_hh_untrained);
        out.layers.push_back(std::move(l));
        if (c.dropout > 0 && k + 1 < c.layers)
            out.layers.push_back({fmt::format("dropout_l{}", k), fmt::format("Dropout({:g})", c.dropout), "", {}});
    }
    if (c.dropout_output > 0)
        out.layers.push_back({"dropout_output", fmt::format("Dropout({:g})", c.dropout_output), "", {}});
    if (c.softmax == softmax_type::adaptive) {
        layer_summary l{"decoder", "AdaptiveLogSoftmax", fmt::format("{} -> {} log-probs", c.hidden, c.vocab), {}};
        own(l, "decoder.head.weight");
        own(l, "decoder.head.bias");
        out.adaptive_groups = fmt::format("head ids 0..{} and {} cluster entries", c.cutoffs[0] - 1, c.cutoffs.size());
        for (size_t k = 0; k < c.cutoffs.size(); ++k) {
            own(l, fmt::format("decoder.tail.{}.0.weight", k));
            own(l, fmt::format("decoder.tail.{}.1.weight", k));
            out.adaptive_groups += fmt::format("; cluster {} ids {}..{} through {} units", k + 1, c.cutoffs[k],
                                               (k + 1 < c.cutoffs.size() ? c.cutoffs[k + 1] : c.vocab) - 1,
                                               adaptive_tail_width(c.hidden, c.div_value, k));
        }
        out.layers.push_back(std::move(l));
    } else {
        layer_summary l{"decoder", "Linear", fmt::format("{} -> {} logits", c.hidden, c.vocab), {}};
        own(l, "decoder.weight");
        own(l, "decoder.bias");
        out.layers.push_back(std::move(l));
    }
    CHARLM_ASSERT(used == exported.size());  // every tensor in exactly one layer

    for (auto& l : out.layers) {
        for (const auto& t : l.tensors) {
            l.stored += t.stored;
            l.trainable += t.trainable;
        }
        out.stored += l.stored;
        out.trainable += l.trainable;
    }
    CHARLM_ASSERT(out.trainable == model.parameter_count());
    return out;
}

nlohmann::json describe_text(const text_config& t) {
    nlohmann::json j = {{"encoding", t.encoding}, {"normalize", to_string(t.normalize)}, {"unit", to_string(t.unit)},
                        {"lowercase", t.lowercase}, {"script", to_string(t.script)}};
    if (t.convert != script_conversion::none) j["convert_corpus"] = to_string(t.convert);
    return j;
}

std::string describe_text_line(const text_config& t) {
    return fmt::format("encoding {}, normalize {}, unit {}, lowercase {}, script {}{}", t.encoding, to_string(t.normalize),
                       to_string(t.unit), t.lowercase ? "yes" : "no", to_string(t.script),
                       t.convert == script_conversion::none ? ""
                                                             : fmt::format(" (converted {} as read)", to_string(t.convert)));
}

std::vector<std::pair<std::string, std::string>> describe_build() {
    const dnnl_version_t* d = dnnl_version();
    const std::string mpi = mpi_library_version();
    __builtin_cpu_init();
    auto has = [](bool yes) { return yes ? "yes" : "no"; };
    return {
        {"charlm", fmt::format("{} (commit {})", CHARLM_VERSION, CHARLM_COMMIT)},
        {"oneDNN", fmt::format("{}.{}.{} (the recurrent layers; it picks its own ISA at run time)", d->major,
                               d->minor, d->patch)},
        {"ICU", U_ICU_VERSION},
        {"OpenCC", CHARLM_OPENCC_VERSION},
        {"MPI", mpi.empty() ? std::string("not built in (one process only)") : mpi},
        {"CPU", fmt::format("avx2+fma {}, avx512f {}, avx512_vnni {}, avx512_bf16 {}", has(nn::simd::cpu_has_avx2_fma()),
                            has(__builtin_cpu_supports("avx512f")), has(__builtin_cpu_supports("avx512vnni")),
                            has(__builtin_cpu_supports("avx512bf16")))},
        {"kernels", fmt::format("{}; int8 output layer: {}; bf16 output layer: {}",
                                nn::simd::active() ? "AVX2+FMA (output layer, softmax, sampler)" : "scalar (no AVX2+FMA)",
                                nn::to_string(nn::best_qkernel()),
                                precision_unavailable(precision::bf16).empty() ? nn::to_string(nn::best_bkernel())
                                                                               : "none (--precision bf16 refused)")},
    };
}

nlohmann::json describe_json(const loaded_model& loaded, const checkpoint_info* ck) {
    const language_model& m = loaded.model;
    const model_config& c = m.config();
    const training_summary& s = loaded.summary;
    const model_summary d = describe_model(m);
    nlohmann::json layers = nlohmann::json::array(), tensors = nlohmann::json::array();
    for (const auto& l : d.layers) {
        layers.push_back({{"name", l.name}, {"type", l.kind}, {"shape", l.shape}, {"stored", l.stored},
                          {"trainable", l.trainable}});
        for (const auto& t : l.tensors)
            tensors.push_back({{"name", t.name}, {"shape", t.shape}, {"stored", t.stored}, {"trainable", t.trainable}});
    }
    nlohmann::json j = {{"cell", to_string(c.cell)}, {"layers", layers},   {"hidden", c.hidden},
                        {"embed", c.embed},          {"vocab", c.vocab},   {"parameters", d.trainable},
                        {"parameters_trainable", d.trainable}, {"parameters_stored", d.stored},
                        {"softmax", to_string(c.softmax)},
                        {"tensors", tensors},
                        {"text", describe_text(m.text())},
                        {"training", {{"corpus", s.corpus}, {"epochs", s.epochs}, {"steps", s.steps},
                                      {"train_ppl", s.train_ppl}, {"date", s.date}, {"charlm_version", s.version}}}};
    j["training"]["valid_ppl"] = s.valid_ppl ? nlohmann::json(*s.valid_ppl) : nlohmann::json(nullptr);
    j["training"]["corpus_checksum"] = s.corpus_checksum;
    if (c.softmax == softmax_type::adaptive) {
        j["cutoffs"] = c.cutoffs;
        j["div_value"] = c.div_value;
    }
    // The 1-based epoch the run continues in, and the batches of it already done.
    j["checkpoint"] = ck ? nlohmann::json{{"epoch", ck->epoch + 1}, {"batch", ck->batch}, {"step", ck->step},
                                          {"threads", ck->threads}}
                         : nlohmann::json(nullptr);
    return j;
}

}  // namespace charlm
