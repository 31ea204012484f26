// A service that is not the key-value store, for the tests that show the
// runtime hosts any Service (service.h): one counter. An operation is an
// 8-byte little-endian amount to add; its result is the counter after the
// addition, 8 bytes little-endian; any other operation leaves the counter
// alone and yields the result "malformed". Deterministic, one partition
// (the counter's 8 bytes).
//
// Thread safety: the Service calls come from one thread (the replica's), as
// service.h says; observed_total() may be read from any thread.
#pragma once

#include <atomic>
#include <cstring>
#include <map>

#include "pbft/service.h"

namespace pbft::test_services {

class CounterService final : public Service {
 public:
  static Bytes encode(uint64_t value) {
    Bytes b(8);
    for (size_t i = 0; i < 8; i++) b[i] = static_cast<uint8_t>(value >> (8 * i));
    return b;
  }
  static std::optional<uint64_t> decode(ByteView b) {
    if (b.size() != 8) return std::nullopt;
    uint64_t value = 0;
    for (size_t i = 0; i < 8; i++) value |= uint64_t{b[i]} << (8 * i);
    return value;
  }

  void execute(Seq, std::span<const Operation> operations, std::vector<Bytes>& results) override {
    for (const Operation& op : operations) {
      std::optional<uint64_t> amount = decode(op.operation);
      if (!amount) {
        const char* malformed = "malformed";
        results.emplace_back(malformed, malformed + std::strlen(malformed));
        continue;
      }
      total_ += *amount;
      dirty_ = true;
      results.push_back(encode(total_));
    }
    observed_total_.store(total_);
  }

  uint64_t partition_count() const override { return 1; }
  void take_dirty_partitions(std::vector<uint64_t>& out) override {
    if (dirty_) out.push_back(0);
    dirty_ = false;
  }
  void snapshot(Seq name) override { snapshots_[name] = total_; }
  void release_snapshots_below(Seq name) override {
    snapshots_.erase(snapshots_.begin(), snapshots_.lower_bound(name));
  }
  Bytes read_partition(std::optional<Seq> name, uint64_t) const override {
    return encode(name ? snapshots_.at(*name) : total_);
  }
  Status install_partition(uint64_t, ByteView bytes) override {
    std::optional<uint64_t> value = decode(bytes);
    if (!value) return Status::error("a counter partition is 8 bytes");
    total_ = *value;
    dirty_ = true;
    observed_total_.store(total_);
    return Status::ok();
  }

  // The counter as of the last batch executed, for a test's thread.
  uint64_t observed_total() const { return observed_total_.load(); }

 private:
  uint64_t total_ = 0;
  bool dirty_ = false;
  std::map<Seq, uint64_t> snapshots_;
  std::atomic<uint64_t> observed_total_{0};
};

}  // namespace pbft::test_services
