#include "state_tree.h"

#include <algorithm>

#include "pbft/assert.h"

namespace pbft {

StateTree::StateTree(uint64_t leaf_count, const Digest& leaf, const Crypto& crypto) {
  PBFT_ASSERT(leaf_count >= 1);
  levels_.emplace_back(leaf_count, leaf);
  while (levels_.back().size() > 1) {
    const CowVector<Digest>& below = levels_.back();
    const uint64_t width = (below.size() + fanout - 1) / fanout;
    CowVector<Digest> level(width);
    for (uint64_t i = 0; i < width; i++) {
      std::vector<Digest> kids;
      for (uint64_t c = i * fanout; c < std::min<uint64_t>(below.size(), (i + 1) * fanout); c++) {
        kids.push_back(below[c]);
      }
      level.mutable_at(i) = parent_digest(crypto, kids);
    }
    levels_.push_back(std::move(level));
  }
}

std::vector<Digest> StateTree::children(uint32_t level, uint64_t index) const {
  PBFT_ASSERT(level > 0 && level < levels_.size() && index < levels_[level].size());
  const CowVector<Digest>& below = levels_[level - 1];
  std::vector<Digest> kids;
  for (uint64_t c = index * fanout; c < std::min<uint64_t>(below.size(), (index + 1) * fanout);
       c++) {
    kids.push_back(below[c]);
  }
  return kids;
}

Digest StateTree::parent_digest(const Crypto& crypto, const std::vector<Digest>& children) {
  Bytes concatenated;
  concatenated.reserve(children.size() * digest_size);
  for (const Digest& d : children) concatenated.insert(concatenated.end(), d.begin(), d.end());
  return crypto.digest(concatenated);
}

void StateTree::set_leaf(uint64_t index, const Digest& digest) {
  PBFT_ASSERT(index < leaf_count());
  if (levels_[0][index] == digest) return;
  levels_[0].mutable_at(index) = digest;
  dirty_leaves_.insert(index);
}

void StateTree::update(const Crypto& crypto) {
  std::set<uint64_t> dirty = std::move(dirty_leaves_);
  dirty_leaves_.clear();
  for (uint32_t level = 1; level < levels_.size() && !dirty.empty(); level++) {
    std::set<uint64_t> parents;
    for (uint64_t child : dirty) parents.insert(child / fanout);
    for (uint64_t p : parents) levels_[level].mutable_at(p) = parent_digest(crypto, children(level, p));
    dirty = std::move(parents);
  }
}

}  // namespace pbft
