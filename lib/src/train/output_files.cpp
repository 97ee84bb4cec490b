// The files beside a run's --out (output_files.h).
#include "train/output_files.h"

#include <fmt/core.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>

#include "charlm/batches.hpp"
#include "train/checkpoint.h"

namespace charlm::detail {

// Whether `name` is one of the files a run with output `stem` writes: <stem>, <stem>.best,
// <stem>.ckpt or <stem>.epoch<E>.ckpt.
bool is_output_name(const std::string& name, const std::string& stem) {
    if (name.compare(0, stem.size(), stem) != 0) return false;
    const std::string rest = name.substr(stem.size());
    if (rest.empty() || rest == ".best" || rest == ".ckpt") return true;
    if (rest.rfind(".epoch", 0) != 0 || rest.size() <= 11 || rest.compare(rest.size() - 5, 5, ".ckpt") != 0)
        return false;
    const std::string num = rest.substr(6, rest.size() - 11);
    return num.find_first_not_of("0123456789") == std::string::npos;
}

// A process killed while saving leaves its temporary file (<file>.tmp.<pid>) beside the file; the
// complete file is untouched. Removes those of the files this run writes (is_output_name) whose
// process is gone, and nothing else: `--out r4/m` leaves `r4/mynotes.txt.tmp.<pid>` alone.
void remove_stale_temporaries(const std::string& out) {
    namespace fs = std::filesystem;
    const fs::path base(out);
    const fs::path dir = base.has_parent_path() ? base.parent_path() : fs::path(".");
    const std::string stem = base.filename().string();
    std::error_code ec;
    std::vector<fs::path> stale;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        const std::string name = e.path().filename().string();
        const auto at = name.rfind(".tmp.");
        if (at == std::string::npos || !is_output_name(name.substr(0, at), stem)) continue;
        const std::string pid = name.substr(at + 5);
        if (pid.empty() || pid.size() > 9 || pid.find_first_not_of("0123456789") != std::string::npos) continue;
        if (::kill(static_cast<pid_t>(std::stol(pid)), 0) != 0 && errno == ESRCH) stale.push_back(e.path());
    }
    for (const auto& p : stale) fs::remove(p, ec);
}

// The epoch checkpoints (<out>.epoch<E>.ckpt) that --keep-last may prune: only the run's own. A
// fresh run starts with none; a resumed one finds those of its earlier part by the run id in
// their metadata (files of other runs under the same name are never touched).
epoch_checkpoints::epoch_checkpoints(const std::string& out, uint32_t keep, const std::string& run_id, bool resumed)
    : keep_(keep) {
        namespace fs = std::filesystem;
        if (keep == 0 || !resumed || out.empty()) return;
        const fs::path base(out);
        const fs::path dir = base.has_parent_path() ? base.parent_path() : fs::path(".");
        const std::string stem = base.filename().string();
        std::vector<std::pair<uint64_t, std::string>> found;
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(dir, ec)) {
            const std::string name = e.path().filename().string();
            if (!is_output_name(name, stem) || name.rfind(stem + ".epoch", 0) != 0) continue;
            auto d = read_checkpoint_data(e.path().string());
            // Named as the run names what it writes (<out>.epoch<E>.ckpt, `out` as given: "m", not
            // "./m"), so that a rewritten epoch is one entry, not two (it pruned a file too many).
            const std::string as_written = base.has_parent_path() ? (base.parent_path() / name).string() : name;
            if (d && !run_id.empty() && d->pos.run_id == run_id) found.emplace_back(d->pos.epoch, as_written);
        }
        std::sort(found.begin(), found.end());
        for (auto& f : found) own_.push_back(std::move(f.second));
    }
void epoch_checkpoints::written(const std::string& path) {
        std::erase(own_, path);
        own_.push_back(path);
        std::error_code ec;
        while (own_.size() > keep_) {
            std::filesystem::remove(own_.front(), ec);
            own_.erase(own_.begin());
        }
}

// An id for a new run: the clock and the process, mixed.
std::string new_run_id() {
    uint64_t s = static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()) ^
                 (static_cast<uint64_t>(::getpid()) << 40);
    return fmt::format("{:016x}", splitmix64(s));
}

}  // namespace charlm::detail
