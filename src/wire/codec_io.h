// Private to src/wire: the byte-level reader and writers the codec is built
// from. Little-endian, explicit widths, one byte at a time (never a memcpy of
// a struct, so the layout does not depend on the compiler or the host).
//
// Reader is the bounded side: every read is checked against the bytes that
// remain, and the first failure is kept as the reason. Later reads after a
// failure return zero and consume nothing, so a decoder can read a whole
// structure and look at ok() once; loops over counts must still stop on
// !ok() so that a failed decode does no more work than its input justifies.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "pbft/assert.h"
#include "pbft/status.h"
#include "pbft/types.h"

namespace pbft::wire::detail {

// Writes into a buffer the codec has sized exactly beforehand (see
// SizeCounter): one allocation per message, no growth checks on the way.
// Writing past the end would mean the two passes disagree, a bug in the
// codec, so it is an assertion.
class Writer {
 public:
  explicit Writer(std::span<uint8_t> out) : out_(out) {}

  void u8(uint8_t v) { *take(1) = v; }
  void u16(uint16_t v) { put_le(v, 2); }
  void u32(uint32_t v) { put_le(v, 4); }
  void u64(uint64_t v) { put_le(v, 8); }
  void boolean(bool v) { u8(v ? 1 : 0); }
  template <size_t N>
  void array(const std::array<uint8_t, N>& a) {
    std::copy(a.begin(), a.end(), take(N));
  }
  // A count of what follows. Every count the codec writes is bounded by a
  // constants.h limit far below 2^32 for any message the core builds; a
  // larger one is a bug in the caller, not peer input.
  void count(size_t n) {
    PBFT_ASSERT(n <= UINT32_MAX);
    u32(static_cast<uint32_t>(n));
  }
  // A u32 length followed by the bytes.
  void bytes(ByteView b) {
    count(b.size());
    std::copy(b.begin(), b.end(), take(b.size()));
  }
  // Bytes written so far.
  size_t size() const { return offset_; }

 private:
  uint8_t* take(size_t n) {
    PBFT_ASSERT(n <= out_.size() - offset_);
    uint8_t* p = out_.data() + offset_;
    offset_ += n;
    return p;
  }
  void put_le(uint64_t v, size_t width) {
    uint8_t* p = take(width);
    for (size_t i = 0; i < width; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
  }
  std::span<uint8_t> out_;
  size_t offset_ = 0;
};

// Same interface as Writer, but only adds up how many bytes would be written:
// the codec runs each encoder twice, once to size the buffer, once to fill it.
class SizeCounter {
 public:
  void u8(uint8_t) { size_ += 1; }
  void u16(uint16_t) { size_ += 2; }
  void u32(uint32_t) { size_ += 4; }
  void u64(uint64_t) { size_ += 8; }
  void boolean(bool) { size_ += 1; }
  template <size_t N>
  void array(const std::array<uint8_t, N>&) {
    size_ += N;
  }
  void count(size_t) { size_ += 4; }
  void bytes(ByteView b) { size_ += 4 + b.size(); }
  size_t size() const { return size_; }

 private:
  size_t size_ = 0;
};

// Bounded, side-effect-free reading of untrusted bytes.
class Reader {
 public:
  explicit Reader(ByteView input) : input_(input) {}

  bool ok() const { return !reason_.has_value(); }
  size_t remaining() const { return input_.size() - offset_; }
  size_t offset() const { return offset_; }

  uint8_t u8(const char* field) { return static_cast<uint8_t>(get_le(1, field)); }
  uint16_t u16(const char* field) { return static_cast<uint16_t>(get_le(2, field)); }
  uint32_t u32(const char* field) { return static_cast<uint32_t>(get_le(4, field)); }
  uint64_t u64(const char* field) { return get_le(8, field); }

  // A byte that must be 0 or 1: any other value would give two encodings of
  // the same message, and the encoding must be canonical.
  bool boolean(const char* field) {
    const uint8_t v = u8(field);
    if (ok() && v > 1) fail(field, "must be 0 or 1, got " + std::to_string(v));
    return v == 1;
  }

  template <size_t N>
  void array(std::array<uint8_t, N>& out, const char* field) {
    if (!take(N, field)) {
      out.fill(0);
      return;
    }
    std::copy_n(input_.begin() + static_cast<std::ptrdiff_t>(offset_ - N), N, out.begin());
  }

  // A u32 count of items that follow, each at least `item_size_min` bytes.
  // Checked against the protocol limit and against what the remaining bytes
  // could hold, before the caller reserves anything: a count of 2^32-1 in a
  // 40-byte buffer is rejected here and never becomes an allocation.
  uint32_t count(const char* field, size_t limit, size_t item_size_min) {
    PBFT_ASSERT(item_size_min > 0);
    const uint32_t n = u32(field);
    if (!ok()) return 0;
    if (n > limit) {
      fail(field, std::to_string(n) + " exceeds the limit " + std::to_string(limit));
      return 0;
    }
    if (n > remaining() / item_size_min) {
      fail(field, std::to_string(n) + " items of at least " + std::to_string(item_size_min) +
                      " bytes do not fit in the " + std::to_string(remaining()) +
                      " bytes remaining");
      return 0;
    }
    return n;
  }

  // A u32 length and that many bytes, at most `limit`.
  void bytes(Bytes& out, size_t limit, const char* field) {
    out.clear();
    const uint32_t n = u32(field);
    if (!ok()) return;
    if (n > limit) {
      fail(field, "length " + std::to_string(n) + " exceeds the limit " + std::to_string(limit));
      return;
    }
    if (!take(n, field)) return;
    out.assign(input_.begin() + static_cast<std::ptrdiff_t>(offset_ - n),
               input_.begin() + static_cast<std::ptrdiff_t>(offset_));
  }

  // Records the first failure only: it is the one that explains the others.
  void fail(const char* field, const std::string& problem) {
    if (ok()) reason_ = std::string(field) + ": " + problem;
  }

  // The decode's verdict: the first failure, or trailing bytes if the
  // structure ended before the input did.
  Status finish() {
    if (ok() && remaining() != 0) {
      reason_ = std::to_string(remaining()) + " trailing bytes after the message";
    }
    return ok() ? Status::ok() : Status::error(*reason_);
  }

 private:
  bool take(size_t n, const char* field) {
    if (!ok()) return false;
    if (n > remaining()) {
      fail(field, "needs " + std::to_string(n) + " bytes, " + std::to_string(remaining()) +
                      " remain");
      return false;
    }
    offset_ += n;
    return true;
  }
  uint64_t get_le(size_t width, const char* field) {
    if (!take(width, field)) return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < width; ++i) {
      v |= static_cast<uint64_t>(input_[offset_ - width + i]) << (8 * i);
    }
    return v;
  }

  ByteView input_;
  size_t offset_ = 0;
  std::optional<std::string> reason_;
};

}  // namespace pbft::wire::detail
