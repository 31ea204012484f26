// The simulator's agenda: events ordered by virtual time, and events at the
// same time by the order they were scheduled in, so that a run never depends
// on how a heap breaks ties.
//
// Thread safety: none.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "pbft/assert.h"

namespace pbft::sim {

template <typename Payload>
class EventQueue {
 public:
  struct Event {
    uint64_t time_ns;
    uint64_t sequence;  // insertion order: the tie-breaker
    Payload payload;
  };

  void push(uint64_t time_ns, Payload payload) {
    heap_.push_back(Event{time_ns, next_sequence_++, std::move(payload)});
    std::push_heap(heap_.begin(), heap_.end(), later);
  }

  bool empty() const { return heap_.empty(); }
  size_t size() const { return heap_.size(); }

  // The time of the earliest event. Requires !empty().
  uint64_t next_time() const {
    PBFT_ASSERT(!heap_.empty());
    return heap_.front().time_ns;
  }

  // Removes and returns the earliest event. Requires !empty().
  Event pop() {
    PBFT_ASSERT(!heap_.empty());
    std::pop_heap(heap_.begin(), heap_.end(), later);
    Event event = std::move(heap_.back());
    heap_.pop_back();
    return event;
  }

 private:
  // std::push_heap builds a max-heap; "later" as the less-than puts the
  // earliest (time, sequence) on top.
  static bool later(const Event& a, const Event& b) {
    if (a.time_ns != b.time_ns) return a.time_ns > b.time_ns;
    return a.sequence > b.sequence;
  }

  std::vector<Event> heap_;
  uint64_t next_sequence_ = 0;
};

}  // namespace pbft::sim
