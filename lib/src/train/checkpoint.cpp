// Checkpoints: a model file (io/model_file) plus the optimizer's moments in PyTorch's layout (each
// moment a buffer of the parameter arena's layout, converted by the model's tensor descriptors),
// the carried recurrent state and, in the metadata, the train_config and the run's position.
#include "train/checkpoint.h"

#include <fmt/core.h>
#include <omp.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "charlm/options.hpp"
#include "config/json_number.h"
#include "io/model_file_impl.h"
#include "io/safetensors.h"
#include "models/lm_impl.h"

namespace charlm {

using nlohmann::json;

result<std::string> file_checksum(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return make_error(errc::io, fmt::format("cannot read '{}' to compute its checksum: {}", path,
                                                std::strerror(errno)));
    uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a, 64-bit
    std::vector<char> buf(1 << 20);
    while (in) {
        in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        const auto n = static_cast<size_t>(in.gcount());
        for (size_t i = 0; i < n; ++i) {
            h ^= static_cast<unsigned char>(buf[i]);
            h *= 0x100000001b3ull;
        }
    }
    if (in.bad())
        return make_error(errc::io, fmt::format("error while reading '{}': {}", path, std::strerror(errno)));
    return fmt::format("fnv1a64:{:016x}", h);
}

namespace detail {

namespace {

// The whole train_config, its text and model settings as nested objects (lib/src/config/tables.cpp).
json config_json(const train_config& c) { return to_json(train_options(), c); }

result<train_config> config_from_json(const json& j) {
    train_config c;
    CHARLM_TRY(from_json(train_options(), j, c));
    return c;
}

json position_json(const train_position& p) {
    return {{"epoch", p.epoch},
            {"batch", p.batch},
            {"step", p.step},
            {"lr", p.lr},
            {"dropout_calls", p.dropout_calls},
            {"best_valid_ppl", p.best_valid_ppl ? json(*p.best_valid_ppl) : json(nullptr)},
            {"best_epoch", p.best_epoch},
            {"elapsed_s", p.elapsed_s},
            {"epoch_nll", p.epoch_nll},
            {"epoch_tokens", p.epoch_tokens},
            {"stale_validations", p.stale_validations},
            {"run_id", p.run_id},
            {"valid_checksum", p.valid_checksum}};
}

train_position position_from_json(const json& j) {
    train_position p;
    p.epoch = json_number_at<uint64_t>(j, "epoch");
    p.batch = json_number_at<uint64_t>(j, "batch");
    p.step = json_number_at<uint64_t>(j, "step");
    p.lr = json_number_at<double>(j, "lr");
    p.dropout_calls = json_number_at<uint64_t>(j, "dropout_calls");
    if (j.at("best_valid_ppl").is_number()) p.best_valid_ppl = json_number_at<double>(j, "best_valid_ppl");
    p.best_epoch = json_number_at<uint64_t>(j, "best_epoch");
    p.elapsed_s = json_number_at<double>(j, "elapsed_s");
    p.epoch_nll = json_number_at<double>(j, "epoch_nll");
    p.epoch_tokens = json_number_at<uint64_t>(j, "epoch_tokens");
    p.stale_validations = json_number_or<uint32_t>(j, "stale_validations", 0);  // absent before --patience
    p.run_id = j.value("run_id", std::string());
    p.valid_checksum = j.value("valid_checksum", std::string());  // absent before it was recorded
    return p;
}

const char* const moment_names[2] = {"exp_avg", "exp_avg_sq"};

// Adam's moment `which` (0: m, 1: v): a buffer of the parameter arena's layout, since the
// optimizer runs over the arena as one buffer.
float* moment(nn::optimizer& opt, const language_model& model, int which) {
    auto state = opt.state();
    CHARLM_ASSERT(state.size() == 2 && state[static_cast<size_t>(which)].count ==
                                           model_access::of(model).params.floats);
    return state[static_cast<size_t>(which)].value;
}

}  // namespace

status save_checkpoint(const std::string& path, const language_model& model, nn::optimizer& opt,
                       const training_summary& summary, const train_config& cfg, const train_position& pos,
                       const training_session::recurrent_state* carried, uint32_t batch) {
    io::tensor_file f = model_tensor_file(model, summary);
    if (opt.kind() == nn::optimizer_kind::adam) {
        for (int which = 0; which < 2; ++which) {
            auto tensors = model_access::of(model).export_from(moment(opt, model, which));
            for (auto& t : tensors) {
                t.name = fmt::format("optimizer.{}.{}", moment_names[which], t.name);
                f.add(std::move(t));
            }
        }
    }
    const model_config& mc = model.config();
    if (carried) {
        const std::vector<int64_t> shape{mc.layers, batch, mc.hidden};
        f.add({"training.state_h", shape, carried->h});
        if (!carried->c.empty()) f.add({"training.state_c", shape, carried->c});
    }
    json ck = {{"train_config", config_json(cfg)},
               {"position", position_json(pos)},
               {"optimizer_steps", opt.step_count()},
               {"threads", omp_get_max_threads()},
               {"carried_state", carried != nullptr}};
    f.metadata["checkpoint"] = ck.dump();
    return io::write_safetensors(path, f);
}

result<checkpoint_data> read_checkpoint_data(const std::string& path) {
    auto meta = io::read_safetensors_metadata(path);  // the tensors are read by restore_checkpoint
    if (!meta) return meta.err();
    const std::map<std::string, std::string>& md = *meta;
    auto bad = [&](const std::string& what) {
        return make_error(errc::format, fmt::format("'{}' cannot be resumed from: {}", path, what));
    };
    auto it = md.find("checkpoint");
    if (it == md.end())
        return bad("it is a model file without a checkpoint's training state (resume from the .ckpt file that "
                   "training writes beside the model)");
    checkpoint_data d;
    try {
        json ck = json::parse(it->second);
        auto cfg = config_from_json(ck.at("train_config"));
        if (!cfg) return bad(cfg.err().message);
        d.info.config = std::move(*cfg);
        d.info.config.model.vocab = json_number_at<uint32_t>(json::parse(md.at("model_config")), "vocab");
        d.pos = position_from_json(ck.at("position"));
        d.info.epoch = d.pos.epoch;
        d.info.batch = d.pos.batch;
        d.info.step = d.pos.step;
        d.info.valid_checksum = d.pos.valid_checksum;
        d.info.threads = json_number_at<int>(ck, "threads");
        if (json_number_at<uint64_t>(ck, "optimizer_steps") != d.pos.step) return bad("its optimizer step count disagrees");
        auto tr = md.find("training");
        if (tr != md.end()) d.info.corpus_checksum = json::parse(tr->second).value("corpus_checksum", "");
    } catch (const std::exception& e) {  // json::exception, std::out_of_range from at()
        return bad(fmt::format("its checkpoint metadata is malformed ({})", e.what()));
    }
    return d;
}

status restore_checkpoint(const std::string& path, language_model& model, nn::optimizer& opt,
                          training_session::recurrent_state* carried, uint32_t batch) {
    auto file = io::read_safetensors(path);
    if (!file) return file.err();
    auto bad = [&](const std::string& what) {
        return make_error(errc::format, fmt::format("'{}' cannot be resumed from: {}", path, what));
    };
    auto take = [&](const std::string& prefix) {
        std::vector<named_tensor> out;
        for (auto& [name, t] : file->tensors) {
            if (prefix.empty() ? (name.rfind("optimizer.", 0) == 0 || name.rfind("training.", 0) == 0)
                               : name.rfind(prefix, 0) != 0)
                continue;
            out.push_back(named_tensor{name.substr(prefix.size()), t.shape, t.data});
        }
        return out;
    };
    auto weights = take("");
    for (const auto& t : weights)
        for (float v : t.data)
            if (!std::isfinite(v)) return bad(fmt::format("tensor '{}' holds non-finite values", t.name));
    CHARLM_TRY(model.import_tensors(weights, path));

    if (opt.kind() == nn::optimizer_kind::adam) {
        // Each moment through the same tensor descriptors as the weights, into its own buffer.
        for (int which = 0; which < 2; ++which) {
            auto moments = take(fmt::format("optimizer.{}.", moment_names[which]));
            if (moments.empty()) return bad(fmt::format("it holds no optimizer state '{}'", moment_names[which]));
            CHARLM_TRY(model_access::of(model).import_into(moment(opt, model, which), moments, path));
        }
    }
    if (carried) {
        const model_config& mc = model.config();
        auto find = [&](const char* name) -> const named_tensor* {
            auto it = file->tensors.find(name);
            return it == file->tensors.end() ? nullptr : &it->second;
        };
        const named_tensor* h = find("training.state_h");
        const named_tensor* c = find("training.state_c");
        const bool lstm = mc.cell == cell_type::lstm;
        if (!h || (lstm && !c)) return bad("its carried recurrent state is missing");
        const size_t n = static_cast<size_t>(mc.layers) * batch * mc.hidden;
        if (h->data.size() != n || (lstm && c->data.size() != n))
            return bad("its carried recurrent state does not match the model and batch");
        *carried = {h->data, lstm ? c->data : std::vector<float>{}};
    }
    return {};
}

}  // namespace detail

result<checkpoint_info> read_checkpoint(const std::string& path) {
    auto d = detail::read_checkpoint_data(path);
    if (!d) return d.err();
    return std::move(d->info);
}

}  // namespace charlm
