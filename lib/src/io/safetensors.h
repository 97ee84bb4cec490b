// Reading and writing the safetensors container (8-byte little-endian header length, a JSON
// header, then raw little-endian tensors), so that Python's `safetensors` opens charlm's files.
// Writes are atomic (temporary file, fsync, rename). Not here: what the tensors mean (model_file).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "charlm/status.hpp"
#include "charlm/tensor.hpp"

namespace charlm::io {

struct tensor_file {
    std::map<std::string, std::string> metadata;  // "__metadata__": string values only
    std::map<std::string, named_tensor> tensors;   // by name (each holds its own name too)

    void add(named_tensor t) {
        std::string name = t.name;
        tensors.insert_or_assign(std::move(name), std::move(t));
    }
};

// Serializes to `path` atomically: an existing file is replaced only once the new one is complete
// and on disk. An error names the file and the cause (disk full, permission, ...).
status write_safetensors(const std::string& path, const tensor_file& file);

// Parses and validates a whole file: header length within the file, JSON well formed, every
// tensor F32 with offsets inside the data and matching its shape, no overlap, no gap.
result<tensor_file> read_safetensors(const std::string& path);

// Only the "__metadata__" of a file's header, without reading its tensors: what a resumed run
// needs to know of its checkpoints and of the files beside them. Checks the header as far as it
// reads it; read_safetensors checks the rest.
result<std::map<std::string, std::string>> read_safetensors_metadata(const std::string& path);

// The same over bytes in memory (fuzzing, tests); `name` is used in messages.
result<tensor_file> parse_safetensors(const std::string& bytes, const std::string& name);

// `s` for a one-line message: ill-formed UTF-8 and control characters as <XX> bytes, cut after
// about `max` bytes (0: no limit) with "...".
std::string printable(std::string_view s, size_t max = 0);

// Writes `bytes` to `path` atomically (temporary file in the same directory, fsync, rename).
status write_file_atomic(const std::string& path, const std::string& bytes);

}  // namespace charlm::io
