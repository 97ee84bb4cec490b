// safetensors reader/writer and atomic file replacement; see safetensors.h.
// Little-endian host assumed (x86-64), checked at compile time.
#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <unicode/utf8.h>

#include "charlm/files.hpp"
#include "io/files.h"

static_assert(std::endian::native == std::endian::little, "charlm's model files assume a little-endian host");

namespace charlm::io {

namespace {

constexpr uint64_t max_header_bytes = 100u << 20;  // 100 MiB: far above any vocabulary

error file_error(const std::string& path, const std::string& what) {
    return make_error(errc::io, "cannot write '" + path + "': " + what);
}

std::string errno_text(int e) {
    if (e == ENOSPC) return "no space left on the device; free some space or choose another --out";
    if (e == EACCES || e == EPERM) return "permission denied; choose a writable location";
    if (e == EROFS) return "the file system is read-only; choose a writable location";
    if (e == EFBIG) return "file too large (over the file size limit, see 'ulimit -f'); free the limit or choose another --out";
    if (e == EDQUOT) return "disk quota exceeded; free some space or choose another --out";
    return std::strerror(e);
}

bool write_all(int fd, const char* p, size_t n) {
    while (n > 0) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        p += w;
        n -= static_cast<size_t>(w);
    }
    return true;
}

}  // namespace

status write_file_atomic(const std::string& target, const std::string& bytes) {
    // Only regular files are replaced. A device, FIFO or socket (/dev/full, /dev/stdout, a pipe) is
    // refused rather than written in place: the rename below would put a regular file where the
    // device node was (as root, for everyone), and the model and its siblings (.best, .ckpt, .tmp.*)
    // are files to be read back, which a device or pipe cannot hold. A symbolic link is followed,
    // so that the file it points to is replaced and the link kept. A replaced file keeps its
    // permission bits (a new one gets 0644 less the umask).
    CHARLM_TRY(check_output_path(target, true));
    std::string path = target;
    struct stat st {};
    const bool existed = ::stat(target.c_str(), &st) == 0;
    if (existed) {
        struct stat lst {};
        if (::lstat(target.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode)) {
            if (char* real = ::realpath(target.c_str(), nullptr)) {
                path = real;
                std::free(real);
            }
        }
    }
    std::string dir = ".";
    if (auto slash = path.rfind('/'); slash != std::string::npos) dir = slash == 0 ? "/" : path.substr(0, slash);
    std::string tmp = path + ".tmp." + std::to_string(::getpid());
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return file_error(target, errno_text(errno));
    if (existed && ::fchmod(fd, st.st_mode & 07777) != 0) {
        int e = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        return file_error(target, errno_text(e));
    }
    if (!write_all(fd, bytes.data(), bytes.size()) || ::fsync(fd) != 0) {
        int e = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        return file_error(target, errno_text(e));
    }
    if (::close(fd) != 0) {
        int e = errno;
        ::unlink(tmp.c_str());
        return file_error(target, errno_text(e));
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        int e = errno;
        ::unlink(tmp.c_str());
        return file_error(target, errno_text(e));
    }
    // Make the rename itself durable.
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
    return {};
}

status write_safetensors(const std::string& path, const tensor_file& file) {
    nlohmann::ordered_json header;
    if (!file.metadata.empty()) {
        nlohmann::ordered_json meta = nlohmann::ordered_json::object();
        for (const auto& [k, v] : file.metadata) meta[k] = v;
        header["__metadata__"] = meta;
    }
    uint64_t offset = 0;
    for (const auto& [name, t] : file.tensors) {
        CHARLM_ASSERT(t.numel() == t.data.size());
        uint64_t bytes = t.data.size() * sizeof(float);
        header[name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
    }
    std::string json = header.dump();
    json.append((8 - json.size() % 8) % 8, ' ');  // keep the data 8-byte aligned, as safetensors does
    std::string out;
    out.reserve(8 + json.size() + offset);
    uint64_t n = json.size();
    out.append(reinterpret_cast<const char*>(&n), 8);
    out += json;
    for (const auto& [name, t] : file.tensors)
        out.append(reinterpret_cast<const char*>(t.data.data()), t.data.size() * sizeof(float));
    return write_file_atomic(path, out);
}

std::string printable(std::string_view s, size_t max) {
    std::string out;
    const auto* p = reinterpret_cast<const uint8_t*>(s.data());
    const auto n = static_cast<int32_t>(std::min<size_t>(s.size(), INT32_MAX));
    for (int32_t i = 0; i < n;) {
        if (max && out.size() >= max) return out + "...";
        const int32_t at = i;
        UChar32 c;
        U8_NEXT(p, i, n, c);
        if (c >= 0x20 && c != 0x7F)
            out.append(s.substr(static_cast<size_t>(at), static_cast<size_t>(i - at)));
        else
            for (int32_t k = at; k < i; ++k) out += fmt::format("<{:02X}>", p[k]);
    }
    return out;
}

result<tensor_file> parse_safetensors(const std::string& bytes, const std::string& name) {
    // Keys and JSON errors come from the file: shown on one line, ill-formed bytes as <XX>.
    auto bad = [&](const std::string& what) {
        return make_error(errc::format, "'" + name + "' is not a valid charlm model file: " + printable(what));
    };
    if (bytes.size() < 8) return bad(bytes.empty() ? "the file is empty" : "it is shorter than the 8-byte header length");
    uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);
    if (n > max_header_bytes || n > bytes.size() - 8)
        return bad("its header length (" + std::to_string(n) + " bytes) runs past the end of the file (" +
                   std::to_string(bytes.size()) + " bytes); the file is truncated or not a safetensors file");
    nlohmann::json header;
    try {
        header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(n));
    } catch (const nlohmann::json::exception& e) {
        return bad(std::string("its JSON header does not parse (") + printable(e.what(), 240) + ")");
    }
    if (!header.is_object()) return bad("its JSON header is not an object");
    tensor_file out;
    const size_t data_begin = 8 + n;
    const uint64_t data_size = bytes.size() - data_begin;
    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    try {
        for (const auto& [key, value] : header.items()) {
            if (key == "__metadata__") {
                if (!value.is_object()) return bad("__metadata__ is not an object");
                for (const auto& [mk, mv] : value.items()) {
                    if (!mv.is_string()) return bad("metadata entry '" + mk + "' is not a string");
                    out.metadata[mk] = mv.get<std::string>();
                }
                continue;
            }
            if (!value.is_object() || !value.contains("dtype") || !value.contains("shape") ||
                !value.contains("data_offsets"))
                return bad("tensor '" + key + "' lacks dtype, shape or data_offsets");
            if (value["dtype"] != "F32") return bad("tensor '" + key + "' is not F32");
            const auto& shape = value["shape"];
            const auto& offs = value["data_offsets"];
            if (!shape.is_array() || !offs.is_array() || offs.size() != 2) return bad("tensor '" + key + "' is malformed");
            named_tensor t{key, {}, {}};
            uint64_t numel = 1;
            for (const auto& d : shape) {
                if (!d.is_number_unsigned()) return bad("tensor '" + key + "' has a bad dimension");
                uint64_t dim = d.get<uint64_t>();
                if (dim > (1ull << 32) || (dim != 0 && numel > (1ull << 40) / dim))
                    return bad("tensor '" + key + "' is impossibly large");
                numel *= dim;
                t.shape.push_back(static_cast<int64_t>(dim));
            }
            if (!offs[0].is_number_unsigned() || !offs[1].is_number_unsigned())
                return bad("tensor '" + key + "' has bad data offsets");
            uint64_t b = offs[0].get<uint64_t>(), e = offs[1].get<uint64_t>();
            if (b > e || e > data_size)
                return bad("tensor '" + key + "' lies outside the data (offsets " + std::to_string(b) + ".." +
                           std::to_string(e) + ", data " + std::to_string(data_size) +
                           " bytes); the file is truncated or corrupted");
            if (e - b != numel * sizeof(float))
                return bad("tensor '" + key + "' has " + std::to_string(e - b) + " bytes for " +
                           std::to_string(numel) + " floats");
            t.data.resize(numel);
            if (numel) std::memcpy(t.data.data(), bytes.data() + data_begin + b, e - b);
            ranges.emplace_back(b, e);
            out.tensors.emplace(key, std::move(t));
        }
    } catch (const nlohmann::json::exception& e) {
        return bad(std::string("its JSON header has an unexpected structure (") + printable(e.what(), 240) + ")");
    }
    std::sort(ranges.begin(), ranges.end());
    uint64_t at = 0;
    for (auto [b, e] : ranges) {
        if (b != at) return bad(b < at ? "two tensors overlap" : "there is a gap between tensors");
        at = e;
    }
    if (at != data_size) return bad("there are " + std::to_string(data_size - at) + " bytes after the last tensor");
    return out;
}

result<std::map<std::string, std::string>> read_safetensors_metadata(const std::string& path) {
    auto bad = [&](const std::string& what) {
        return make_error(errc::format, "'" + path + "' is not a valid charlm model file: " + printable(what));
    };
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) {
        const int e = errno;
        return make_error(errc::io, "cannot open '" + path + "': " + std::strerror(e));
    }
    uint64_t n = 0;
    std::string header;
    const bool got_length = std::fread(&n, 1, 8, f) == 8;
    if (got_length && n <= max_header_bytes) {
        header.resize(n);
        header.resize(std::fread(header.data(), 1, n, f));
    }
    std::fclose(f);
    if (!got_length) return bad("it is shorter than the 8-byte header length");
    if (n > max_header_bytes || header.size() != n) return bad("its header runs past the end of the file");
    std::map<std::string, std::string> out;
    try {
        const auto j = nlohmann::json::parse(header);
        if (!j.is_object()) return bad("its JSON header is not an object");
        uint64_t data_end = 0;  // a truncated file is found here, not after its corpus was read
        for (const auto& [k, v] : j.items())
            if (k != "__metadata__" && v.is_object() && v.contains("data_offsets") && v["data_offsets"].is_array() &&
                v["data_offsets"].size() == 2 && v["data_offsets"][1].is_number_unsigned())
                data_end = std::max(data_end, v["data_offsets"][1].get<uint64_t>());
        std::error_code ec;
        const auto size = std::filesystem::file_size(path, ec);
        if (!ec && size < 8 + n + data_end)
            return bad(fmt::format("it has {} bytes but its header describes {}; the file is truncated", size,
                                   8 + n + data_end));
        const auto it = j.find("__metadata__");
        if (it == j.end()) return out;
        if (!it->is_object()) return bad("__metadata__ is not an object");
        for (const auto& [k, v] : it->items()) {
            if (!v.is_string()) return bad("metadata entry '" + k + "' is not a string");
            out[k] = v.get<std::string>();
        }
    } catch (const nlohmann::json::exception& e) {
        return bad(std::string("its JSON header does not parse (") + printable(e.what(), 240) + ")");
    }
    return out;
}

result<tensor_file> read_safetensors(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        const int e = errno;
        return make_error(errc::io, "cannot open model file '" + path + "': " + std::strerror(e) +
                                        (e == ENOENT ? "; check the path" : ""));
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) st.st_mode = S_IFREG;
    // A pipe (`--model <(...)`) is read to its end; a device never ends (/dev/zero) or waits for a
    // person (a terminal), so it is refused.
    if (S_ISDIR(st.st_mode) || S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
        ::close(fd);
        return make_error(errc::io, "'" + path + "' is " + file_kind(st.st_mode) + ", not a model file");
    }
    std::string bytes;
    if (S_ISREG(st.st_mode)) bytes.reserve(static_cast<size_t>(st.st_size));
    char buf[1 << 16];
    for (;;) {
        const ssize_t k = ::read(fd, buf, sizeof buf);
        if (k == 0) break;
        if (k < 0) {
            if (errno == EINTR) continue;
            const int e = errno;
            ::close(fd);
            return make_error(errc::io, "cannot read model file '" + path + "': " + std::strerror(e));
        }
        bytes.append(buf, static_cast<size_t>(k));
    }
    ::close(fd);
    return parse_safetensors(bytes, path);
}

}  // namespace charlm::io
