// libFuzzer target for model files: the safetensors container (io::parse_safetensors), then
// charlm's own checks and the import into a model (load_model_from_bytes). The input is a whole
// file. Checks that every input either loads into a model that runs and exports what the file
// holds, or fails with a one-line format error naming the file; never a crash, a leak or an
// allocation out of proportion to the file.
#include <unicode/utf8.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "charlm/model_file.hpp"
#include "io/safetensors.h"

namespace {

using namespace charlm;

const std::string file_name = "fuzz.safetensors";

[[noreturn]] void fail(const char* what, const std::string& detail = {}) {
    std::fprintf(stderr, "fuzz_model_file: invariant broken: %s%s%s\n", what, detail.empty() ? "" : ": ",
                 detail.c_str());
    std::abort();
}
#define CHECK(cond, ...) ((cond) ? (void)0 : fail(#cond __VA_OPT__(, ) __VA_ARGS__))

bool printable_utf8(const std::string& s) {
    const auto* p = reinterpret_cast<const uint8_t*>(s.data());
    const auto n = static_cast<int32_t>(s.size());
    for (int32_t i = 0; i < n;) {
        UChar32 c;
        U8_NEXT(p, i, n, c);
        if (c < 0x20 || c == 0x7F) return false;  // ill-formed (< 0) or a control character
    }
    return true;
}

// A failure: a format error that names the file, on one line a terminal shows as it is.
void check_error(const error& e) {
    CHECK(e.code == errc::format, e.message);
    CHECK(e.message.find("'" + file_name + "'") != std::string::npos, e.message);
    CHECK(printable_utf8(e.message), e.message);
}

void check_container(const io::tensor_file& f, size_t file_size) {
    size_t data_bytes = 0;
    for (const auto& [name, t] : f.tensors) {
        CHECK(t.numel() == t.data.size(), name);
        data_bytes += t.data.size() * sizeof(float);
    }
    CHECK(data_bytes + 8 <= file_size, std::to_string(data_bytes) + " data bytes in a " + std::to_string(file_size) +
                                           "-byte file");
}

// A loaded model exports the tensors of the file: weights exactly, biases as the same sums
// (charlm folds bias_ih + bias_hh into one bias, except LBR-GRU's n gate).
void check_model(loaded_model& m, const io::tensor_file& f) {
    const model_config& cfg = m.model.config();
    CHECK(cfg.validate().ok());
    CHECK(m.model.vocab().size() == cfg.vocab && cfg.vocab > 0);
    std::map<std::string, named_tensor> out;
    for (auto& t : m.model.export_tensors()) out[t.name] = std::move(t);
    for (const auto& [name, t] : out) {
        auto it = f.tensors.find(name);
        CHECK(it != f.tensors.end(), "exported tensor '" + name + "' is not in the file");
        CHECK(it->second.shape == t.shape, name);
        if (name.find(".bias_") != std::string::npos) continue;
        CHECK(it->second.data == t.data, "tensor '" + name + "' changed on the way in");
    }
    for (uint32_t l = 0; l < cfg.layers; ++l) {
        const std::string ih = "rnn.bias_ih_l" + std::to_string(l), hh = "rnn.bias_hh_l" + std::to_string(l);
        const auto &fi = f.tensors.at(ih).data, &fh = f.tensors.at(hh).data;
        const auto &oi = out.at(ih).data, &oh = out.at(hh).data;
        for (size_t k = 0; k < fi.size(); ++k)
            CHECK(fi[k] + fh[k] == oi[k] + oh[k], ih + " + " + hh + " at " + std::to_string(k));
    }
    // The model runs: one generation step from <unk>.
    generator gen(m.model, 1);
    const int32_t id = 0;
    CHECK(gen.step(&id) != nullptr);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string bytes(reinterpret_cast<const char*>(data), size);
    auto container = io::parse_safetensors(bytes, file_name);
    auto model = load_model_from_bytes(bytes, file_name);
    if (!container.ok()) {
        check_error(container.err());
        CHECK(!model.ok());
        CHECK(model.err().message == container.err().message);
        return 0;
    }
    check_container(*container, size);
    if (!model.ok()) {
        check_error(model.err());
        return 0;
    }
    check_model(*model, *container);
    return 0;
}
