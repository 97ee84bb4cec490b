// The output-path check of files.hpp, shared by every command and by the atomic writer.
#include <fmt/core.h>
#include <sys/stat.h>

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

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

status check_output_dir(const std::string& path) {
    if (path.empty()) return {};
    const std::filesystem::path p(path);
    const std::string dir = p.has_parent_path() ? p.parent_path().string() : std::string(".");
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0)
        return make_error(errc::io, fmt::format("cannot write '{}': its directory '{}' does not exist; create it "
                                                "first (mkdir -p {}) or choose another path",
                                                path, dir, dir));
    if (!S_ISDIR(st.st_mode))
        return make_error(errc::io, fmt::format("cannot write '{}': '{}' is {}, not a directory", path, dir,
                                                io::file_kind(st.st_mode)));
    if (::access(dir.c_str(), W_OK | X_OK) != 0)
        return make_error(errc::io, fmt::format("cannot write '{}': the directory '{}' is not writable ({}); choose "
                                                "another path",
                                                path, dir, std::strerror(errno)));
    return {};
}

status check_output_path(const std::string& path, bool overwrite) {
    if (path.empty()) return {};
    CHARLM_TRY(check_output_dir(path));
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
