// The --metrics JSON line for a training report (one object per line).
#pragma once

#include <string>

#include "charlm/train.hpp"

namespace charlm {

std::string metrics_json_line(const train_report& r);

}  // namespace charlm
