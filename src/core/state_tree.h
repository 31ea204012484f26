// The digest tree over the service state (PBFT.md, "State transfer"; Castro's
// thesis, section 5.3.1). The leaves are the state's partitions, the root is
// the checkpoint digest, every internal node is the digest of its children's
// digests. A checkpoint rehashes only the leaves that changed and their
// ancestors, so its cost grows with what changed, not with the state's size.
//
// Copies are cheap and independent (copy-on-write blocks): the replica keeps
// the tree of every checkpoint it may still have to serve, while the
// current one moves on.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <set>
#include <vector>

#include "pbft/constants.h"
#include "pbft/crypto.h"
#include "pbft/types.h"

namespace pbft {

// A vector of fixed size whose copies share storage until written, in
// blocks of block_size elements.
template <typename T, size_t block_size = 256>
class CowVector {
 public:
  CowVector() = default;
  explicit CowVector(uint64_t size, const T& value = T{}) : size_(size) {
    auto block = std::make_shared<Block>();
    block->fill(value);
    blocks_.assign((size + block_size - 1) / block_size, block);
  }
  uint64_t size() const { return size_; }
  const T& operator[](uint64_t i) const { return (*blocks_[i / block_size])[i % block_size]; }
  T& mutable_at(uint64_t i) {
    std::shared_ptr<Block>& block = blocks_[i / block_size];
    if (block.use_count() > 1) block = std::make_shared<Block>(*block);
    return (*block)[i % block_size];
  }

 private:
  using Block = std::array<T, block_size>;
  std::vector<std::shared_ptr<Block>> blocks_;
  uint64_t size_ = 0;
};

class StateTree {
 public:
  static constexpr uint32_t fanout = constants::state_tree_fanout;

  StateTree() = default;
  // A tree over leaf_count leaves, every leaf's digest set to `leaf`,
  // internal digests computed.
  StateTree(uint64_t leaf_count, const Digest& leaf, const Crypto& crypto);

  uint64_t leaf_count() const { return levels_.empty() ? 0 : levels_[0].size(); }
  // Level 0 holds the leaves; the last level holds only the root.
  uint32_t level_count() const { return static_cast<uint32_t>(levels_.size()); }
  uint64_t width(uint32_t level) const { return levels_[level].size(); }
  const Digest& node(uint32_t level, uint64_t index) const { return levels_[level][index]; }
  const Digest& root() const { return levels_.back()[0]; }

  // The digests of node (level, index)'s children (level > 0), in order.
  std::vector<Digest> children(uint32_t level, uint64_t index) const;
  // The digest an internal node must have for these children.
  static Digest parent_digest(const Crypto& crypto, const std::vector<Digest>& children);

  // Sets a leaf; its ancestors are recomputed by update().
  void set_leaf(uint64_t index, const Digest& digest);
  // Recomputes the ancestors of every leaf set since the last update.
  void update(const Crypto& crypto);
  bool dirty() const { return !dirty_leaves_.empty(); }

 private:
  std::vector<CowVector<Digest>> levels_;
  std::set<uint64_t> dirty_leaves_;
};

}  // namespace pbft
