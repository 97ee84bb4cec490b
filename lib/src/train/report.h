// The --metrics file: one JSON object per training report, flushed as it is written, appended to
// when a run resumes. The line itself is metrics_json_line() (charlm/train.hpp).
#pragma once

#include <fstream>
#include <string>

#include "charlm/train.hpp"

namespace charlm::detail {

class metrics_writer {
public:
    status open(const std::string& path, bool append);  // an empty path: writes nothing
    void write(const train_report& r);

private:
    std::ofstream out_;
};

}  // namespace charlm::detail
