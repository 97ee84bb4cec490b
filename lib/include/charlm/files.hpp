// Output files, checked once for every command before any work is spent: a path charlm may write
// is nothing yet or a regular file (a symbolic link to one is followed); a directory, device, FIFO
// or socket is refused, and an existing file is replaced only when the caller says so (--force).
// Not here: writing (model_file.hpp writes atomically; eval's logits stream to the checked path).
#pragma once

#include <string>

#include "charlm/status.hpp"

namespace charlm {

// errc::io with "cannot write '<path>': it is a directory, not a regular file; ..." for a path
// that exists but is not a regular file, and "'<path>' exists; pass --force to overwrite it or
// choose another name" for an existing file when `overwrite` is false. An empty path is fine
// (no output asked for). The file's directory must exist and be writable (check_output_dir).
status check_output_path(const std::string& path, bool overwrite);

// errc::io when the directory `path` would be written in does not exist, is not a directory or
// cannot be written: found before any work is spent, not when the first file is saved.
status check_output_dir(const std::string& path);

}  // namespace charlm
