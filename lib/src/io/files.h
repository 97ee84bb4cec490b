// Internal helpers of the output-path check (charlm/files.hpp) that the readers share.
#pragma once

#include <sys/types.h>

namespace charlm::io {

// What a path that exists but is not a regular file is, for messages: "a directory", "a FIFO
// (named pipe)", ...
const char* file_kind(mode_t mode);

}  // namespace charlm::io
