// The files beside a run's --out: which names are charlm's own, cleaning the temporaries a killed
// process left, and the epoch checkpoints that --keep-last may prune (only the run's own, known by
// the run id each checkpoint carries). Not here: writing the files (io/, checkpoint.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace charlm::detail {

// Whether `name` is one of the files a run with output `stem` writes: <stem>, <stem>.best,
// <stem>.ckpt or <stem>.epoch<E>.ckpt.
bool is_output_name(const std::string& name, const std::string& stem);

// A process killed while saving leaves its temporary file (<file>.tmp.<pid>) beside the file; the
// complete file is untouched. Removes those of the files this run writes (is_output_name) whose
// process is gone, and nothing else: `--out r4/m` leaves `r4/mynotes.txt.tmp.<pid>` alone.
void remove_stale_temporaries(const std::string& out);

// The epoch checkpoints (<out>.epoch<E>.ckpt) that --keep-last may prune: only the run's own. A
// fresh run starts with none; a resumed one finds those of its earlier part by the run id in
// their metadata (files of other runs under the same name are never touched).
class epoch_checkpoints {
public:
    epoch_checkpoints(const std::string& out, uint32_t keep, const std::string& run_id, bool resumed);
    // `path` was just written: keeps the `keep` newest of the run's own and removes the others.
    void written(const std::string& path);

private:
    size_t keep_;
    std::vector<std::string> own_;  // oldest first
};

// An id for a new run: the clock and the process, mixed.
std::string new_run_id();

}  // namespace charlm::detail
