// The output-path check of files.hpp, shared by every command and by the atomic writer.
#include <fmt/core.h>
#include <sys/stat.h>

#include <cerrno>

#include "charlm/files.hpp"
#include "io/files.h"

namespace charlm {

namespace io {

const char* file_kind(mode_t m) {
    if (S_ISDIR(m)) return "a directory";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISFIFO(m)) return "a FIFO (named pipe)";
    if (S_ISSOCK(m)) return "a socket";
    return "not a regular file";
}

}  // namespace io

status check_output_path(const std::string& path, bool overwrite) {
    if (path.empty()) return {};
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return {};  // nothing there (or a dangling link): the writer reports
    if (!S_ISREG(st.st_mode))
        return make_error(errc::io, fmt::format("cannot write '{}': it is {}, not a regular file; outputs are written "
                                                "only to regular files: choose a file path",
                                                path, io::file_kind(st.st_mode)));
    if (!overwrite)
        return make_error(errc::io,
                          fmt::format("'{}' exists; pass --force to overwrite it or choose another name", path));
    return {};
}

}  // namespace charlm
