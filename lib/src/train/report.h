// The --metrics file: one JSON object per training report, flushed as it is written, appended to
// when a run resumes. The line itself is metrics_json_line() (charlm/train.hpp).
#pragma once

#include <fstream>
#include <string>

#include "charlm/train.hpp"

namespace charlm::detail {

class metrics_writer {
public:
    // An empty path: writes nothing. `append` (a resumed run): the records after step `through`
    // (a later part of the run, resumed from an older checkpoint) are cut first, so that every step
    // has one record, in order.
    status open(const std::string& path, bool append, uint64_t through = 0);
    void write(const train_report& r);
    // A file this writer created and never wrote to is removed (a run that trained nothing).
    void discard_if_unused();

private:
    std::ofstream out_;
    std::string path_;
    bool created_ = false, used_ = false;
};

}  // namespace charlm::detail
