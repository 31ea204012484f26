// Hex decoding for keys in the cluster file and key files.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace pbft::config {

// Decodes exactly 2N hex characters (either case) into `out`; false on any
// other length or a non-hex character, leaving `out` unspecified.
template <size_t N>
bool parse_hex(std::string_view text, std::array<uint8_t, N>& out) {
  if (text.size() != 2 * N) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < N; i++) {
    const int high = nibble(text[2 * i]);
    const int low = nibble(text[2 * i + 1]);
    if (high < 0 || low < 0) return false;
    out[i] = static_cast<uint8_t>(high * 16 + low);
  }
  return true;
}

}  // namespace pbft::config
