// A building block for services: state split into a fixed number of
// partitions, with dirty tracking and copy-on-write snapshots. It gives a
// Service what checkpoints and state transfer need (service.h): the
// replica rehashes only the partitions changed since the last checkpoint,
// and keeps serving a checkpoint's partitions while execution moves on.
//
// Partitions live in pages of page_size; a snapshot copies the page table
// (partition_count / page_size pointers), and the first write to a page or a
// partition shared with a snapshot copies just that page or partition.
//
// Thread safety: none; the replica's thread owns it.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "pbft/assert.h"
#include "pbft/types.h"

namespace pbft {

template <typename Partition>
class PartitionedState {
 public:
  static constexpr uint64_t page_size = 256;

  explicit PartitionedState(uint64_t partition_count)
      : count_(partition_count), dirty_bits_(partition_count, false) {
    PBFT_ASSERT(partition_count >= 1);
    auto empty = std::make_shared<Partition>();
    auto page = std::make_shared<Page>();
    page->fill(empty);
    current_.assign((partition_count + page_size - 1) / page_size, page);
  }

  uint64_t partition_count() const { return count_; }

  // The current state's partition i.
  const Partition& get(uint64_t i) const {
    PBFT_ASSERT(i < count_);
    return *(*current_[i / page_size])[i % page_size];
  }

  // Partition i for writing: copied first if a snapshot shares it; marked dirty.
  Partition& mutate(uint64_t i) {
    PBFT_ASSERT(i < count_);
    std::shared_ptr<Page>& page = current_[i / page_size];
    if (page.use_count() > 1) page = std::make_shared<Page>(*page);
    std::shared_ptr<Partition>& partition = (*page)[i % page_size];
    if (partition.use_count() > 1) partition = std::make_shared<Partition>(*partition);
    mark_dirty(i);
    return *partition;
  }

  // Replaces partition i (state transfer); marked dirty.
  void replace(uint64_t i, Partition value) { mutate(i) = std::move(value); }

  // Appends the partitions changed since the last call, in increasing order.
  void take_dirty(std::vector<uint64_t>& out) {
    std::sort(dirty_list_.begin(), dirty_list_.end());
    for (uint64_t i : dirty_list_) {
      dirty_bits_[i] = false;
      out.push_back(i);
    }
    dirty_list_.clear();
  }

  // Freezes the current state as snapshot `name` (replacing one of that name).
  void snapshot(uint64_t name) { snapshots_[name] = current_; }
  // Forgets every snapshot named below `name`.
  void release_below(uint64_t name) {
    snapshots_.erase(snapshots_.begin(), snapshots_.lower_bound(name));
  }
  bool has_snapshot(uint64_t name) const { return snapshots_.count(name) != 0; }
  size_t snapshot_count() const { return snapshots_.size(); }

  // Partition i of snapshot `name`, which must exist.
  const Partition& get(uint64_t name, uint64_t i) const {
    PBFT_ASSERT(i < count_);
    auto it = snapshots_.find(name);
    PBFT_ASSERT(it != snapshots_.end());
    return *(*it->second[i / page_size])[i % page_size];
  }

 private:
  using Page = std::array<std::shared_ptr<Partition>, page_size>;
  using PageTable = std::vector<std::shared_ptr<Page>>;

  void mark_dirty(uint64_t i) {
    if (dirty_bits_[i]) return;
    dirty_bits_[i] = true;
    dirty_list_.push_back(i);
  }

  uint64_t count_;
  PageTable current_;
  std::map<uint64_t, PageTable> snapshots_;
  std::vector<bool> dirty_bits_;
  std::vector<uint64_t> dirty_list_;
};

}  // namespace pbft
