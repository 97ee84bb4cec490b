// A compact sequence of token ids: 1, 2 or 4 bytes per id, widened as larger ids arrive,
// so that a 100 MB corpus with a small alphabet stays well under 3x its size in memory.
// Ids are 32-bit at the interface whatever the storage width.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "charlm/status.hpp"

namespace charlm {

class token_stream {
public:
    size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    int width() const { return width_; }  // bytes per id: 1, 2 or 4

    uint32_t operator[](size_t i) const {
        switch (width_) {
            case 1: return data_[i];
            case 2: { uint16_t v; std::memcpy(&v, data_.data() + 2 * i, 2); return v; }
            default: { uint32_t v; std::memcpy(&v, data_.data() + 4 * i, 4); return v; }
        }
    }

    void push_back(uint32_t id) {
        int need = id < 0x100u ? 1 : id < 0x10000u ? 2 : 4;
        if (need > width_) widen(need);
        data_.resize(data_.size() + static_cast<size_t>(width_));
        set(size_, id);
        ++size_;
    }

    // Appends n ids, widening at most once for the whole block (the tokenizer's path).
    void append(const uint32_t* ids, size_t n) {
        uint32_t top = 0;
        for (size_t k = 0; k < n; ++k) top = ids[k] > top ? ids[k] : top;
        const int need = top < 0x100u ? 1 : top < 0x10000u ? 2 : 4;
        if (need > width_) widen(need);
        const size_t at = data_.size();
        data_.resize(at + n * static_cast<size_t>(width_));
        uint8_t* p = data_.data() + at;
        switch (width_) {
            case 1: for (size_t k = 0; k < n; ++k) p[k] = static_cast<uint8_t>(ids[k]); break;
            case 2:
                for (size_t k = 0; k < n; ++k) {
                    const uint16_t v = static_cast<uint16_t>(ids[k]);
                    std::memcpy(p + 2 * k, &v, 2);
                }
                break;
            default: std::memcpy(p, ids, 4 * n); break;
        }
        size_ += n;
    }

    // Keeps the first n ids.
    void truncate(size_t n) {
        CHARLM_ASSERT(n <= size_);
        data_.resize(n * static_cast<size_t>(width_));
        size_ = n;
    }

    void set(size_t i, uint32_t id) {
        switch (width_) {
            case 1: data_[i] = static_cast<uint8_t>(id); break;
            case 2: { uint16_t v = static_cast<uint16_t>(id); std::memcpy(data_.data() + 2 * i, &v, 2); break; }
            default: std::memcpy(data_.data() + 4 * i, &id, 4); break;
        }
    }

    // Copies ids [begin, begin + count) into `out` as int32 (the model's input type).
    void copy_to(size_t begin, size_t count, int32_t* out) const {
        CHARLM_ASSERT(begin + count <= size_);
        for (size_t k = 0; k < count; ++k) out[k] = static_cast<int32_t>((*this)[begin + k]);
    }

    // A new stream with ids [begin, end).
    token_stream slice(size_t begin, size_t end) const {
        CHARLM_ASSERT(begin <= end && end <= size_);
        token_stream s;
        s.width_ = width_;
        s.size_ = end - begin;
        s.data_.assign(data_.begin() + static_cast<std::ptrdiff_t>(begin * width_),
                       data_.begin() + static_cast<std::ptrdiff_t>(end * width_));
        return s;
    }

    // Makes room for at least `n` ids at the current width without reallocation.
    void reserve(size_t n) { data_.reserve(n * static_cast<size_t>(width_)); }
    void shrink_to_fit() { data_.shrink_to_fit(); }
    void widen(int w) {
        if (w <= width_) return;
        std::vector<uint8_t> wide(size_ * static_cast<size_t>(w));
        token_stream tmp;
        tmp.width_ = w;
        tmp.size_ = size_;
        tmp.data_.swap(wide);
        for (size_t i = 0; i < size_; ++i) tmp.set(i, (*this)[i]);
        *this = std::move(tmp);
    }
    size_t capacity() const { return data_.capacity() / static_cast<size_t>(width_); }  // in ids
    size_t memory_bytes() const { return data_.capacity(); }

private:
    std::vector<uint8_t> data_;
    size_t size_ = 0;
    int width_ = 1;
};

}  // namespace charlm
