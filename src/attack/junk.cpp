#include "src/attack/junk.h"

#include <algorithm>
#include <array>

#include "pbft/assert.h"
#include "pbft/constants.h"
#include "pbft/wire.h"

namespace pbft::attack {

namespace {

void put_le(Bytes& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; i++) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

bool header_accepted(MessageType type, uint32_t body_size) {
  return wire::decode_header(frame_header(type, 0, body_size)).is_ok();
}

constexpr size_t type_count = static_cast<size_t>(MessageType::fetch_reply);
constexpr size_t pool_size = 1 << 20;

// For each type, its accepted body lengths: the smallest by a scan (every
// minimum is a few hundred bytes at most), then the largest by bisection
// (the accepted lengths are one interval).
std::array<std::pair<uint32_t, uint32_t>, type_count> probe_ranges() {
  std::array<std::pair<uint32_t, uint32_t>, type_count> ranges{};
  for (size_t t = 1; t <= type_count; t++) {
    const auto type = static_cast<MessageType>(t);
    uint32_t min = 0;
    while (!header_accepted(type, min)) {
      min++;
      PBFT_ASSERT(min < 1 << 16);
    }
    uint32_t low = min;  // accepted
    auto high = static_cast<uint32_t>(constants::frame_size_max);  // refused
    PBFT_ASSERT(!header_accepted(type, high));
    while (high - low > 1) {
      const uint32_t mid = low + (high - low) / 2;
      (header_accepted(type, mid) ? low : high) = mid;
    }
    ranges[t - 1] = {min, low};
  }
  return ranges;
}

}  // namespace

Bytes frame_header(MessageType type, uint32_t sender, uint32_t body_size) {
  Bytes out;
  out.reserve(constants::header_size);
  put_le(out, constants::wire_magic, 4);
  put_le(out, constants::wire_version, 1);
  put_le(out, static_cast<uint8_t>(type), 1);
  put_le(out, 0, 2);
  put_le(out, sender, 4);
  put_le(out, body_size, 4);
  return out;
}

std::pair<uint32_t, uint32_t> body_range(MessageType type) {
  static const std::array<std::pair<uint32_t, uint32_t>, type_count> ranges = probe_ranges();
  const auto t = static_cast<size_t>(type);
  PBFT_ASSERT(t >= 1 && t <= type_count);
  return ranges[t - 1];
}

JunkMaker::JunkMaker(uint64_t seed) : pool_(pool_size) {
  Random random(seed);
  for (size_t i = 0; i < pool_.size(); i += 8) {
    const uint64_t r = random.next();
    for (size_t k = 0; k < 8; k++) pool_[i + k] = static_cast<uint8_t>(r >> (8 * k));
  }
}

void JunkMaker::noise(Random& random, size_t size, Bytes& out) const {
  while (size > 0) {
    const size_t at = random.uniform(pool_.size());
    const size_t take = std::min(size, pool_.size() - at);
    out.insert(out.end(), pool_.begin() + static_cast<std::ptrdiff_t>(at),
               pool_.begin() + static_cast<std::ptrdiff_t>(at + take));
    size -= take;
  }
}

Bytes JunkMaker::frame(Random& random, MessageType type, uint32_t sender, size_t body_max) const {
  const auto [min, max] = body_range(type);
  const uint64_t top = std::max<uint64_t>(min, std::min<uint64_t>(max, body_max));
  const auto body = static_cast<uint32_t>(random.uniform_between(min, top));
  Bytes out = frame_header(type, sender, body);
  out.reserve(out.size() + body);
  noise(random, body, out);
  return out;
}

}  // namespace pbft::attack
