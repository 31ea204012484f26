// The pending-request queue and the batching policy (contract:
// request_queue.h).

#include "request_queue.h"

#include <algorithm>

#include "pbft/assert.h"
#include "pbft/wire.h"

namespace pbft {

RequestQueue::RequestQueue(BatchLimits limits) : RequestQueue(limits, Capacity{}) {}

RequestQueue::RequestQueue(BatchLimits limits, Capacity capacity)
    : limits_(limits), capacity_(capacity) {
  PBFT_ASSERT(limits_.requests_max >= 1 && limits_.in_flight_max >= 1);
}

RequestQueue::Entry* RequestQueue::add(const Request& request, const Digest& digest,
                                       uint64_t now) {
  if (auto it = held_.find(request.client); it != held_.end()) {
    Entry& entry = it->second.entry;
    PBFT_ASSERT(request.timestamp >= entry.request.timestamp);  // the caller drops older ones
    if (entry.request.timestamp == request.timestamp) return &entry;  // a retransmission
    if (bytes_ - entry.request.operation.size() + request.operation.size() > capacity_.bytes_max) {
      return nullptr;
    }
    bytes_ -= entry.request.operation.size();
    bytes_ += request.operation.size();
    count(entry.request, -1);
    count(request, +1);
    // A newer request keeps its client's place in the order: its arrival
    // number, hence its order entry, stays.
    entry.request = request;
    entry.digest = digest;
    entry.since_tick = now;
    entry.forwarded_tick.reset();
    return &entry;
  }
  if (held_.size() >= capacity_.requests_max ||
      bytes_ + request.operation.size() > capacity_.bytes_max) {
    return nullptr;
  }
  // Drop stale order entries before they outnumber the live ones, so the
  // order stays within 2 * requests_max + 64 entries.
  if (order_.size() >= 2 * held_.size() + 64) {
    std::erase_if(order_, [&](const OrderEntry& e) { return !live(e); });
  }
  const uint64_t arrival = ++arrivals_;
  auto [it, inserted] =
      held_.emplace(request.client, Held{Entry{request, digest, now, std::nullopt}, arrival});
  PBFT_ASSERT(inserted);
  order_.emplace_back(request.client, arrival);
  bytes_ += request.operation.size();
  count(request, +1);
  return &it->second.entry;
}

const RequestQueue::Entry* RequestQueue::find(ClientId client) const {
  auto it = held_.find(client);
  return it == held_.end() ? nullptr : &it->second.entry;
}

void RequestQueue::remove(ClientId client, Timestamp executed) {
  auto it = held_.find(client);
  if (it == held_.end() || it->second.entry.request.timestamp > executed) return;
  erase(it);
}

void RequestQueue::erase(std::map<ClientId, Held>::iterator it) {
  // Its order entry goes stale; take_batch, oldest and add drop it later.
  bytes_ -= it->second.entry.request.operation.size();
  count(it->second.entry.request, -1);
  held_.erase(it);
}

bool RequestQueue::small(const Request& request) const {
  return wire::batch_entry_size(request) <= limits_.quantum_bytes;
}

void RequestQueue::count(const Request& request, int delta) {
  if (!small(request)) return;
  PBFT_ASSERT(delta > 0 || small_held_ > 0);
  small_held_ = delta > 0 ? small_held_ + 1 : small_held_ - 1;
}

bool RequestQueue::live(const OrderEntry& entry) const {
  auto it = held_.find(entry.first);
  return it != held_.end() && it->second.arrival == entry.second;
}

void RequestQueue::drop_stale_front() {
  while (!order_.empty() && !live(order_.front())) order_.pop_front();
}

const RequestQueue::Entry* RequestQueue::oldest() {
  drop_stale_front();
  return order_.empty() ? nullptr : &held_.at(order_.front().first).entry;
}

bool RequestQueue::starts_batch(uint64_t in_flight) const {
  // A full batch by count, or by bytes (the operations alone: their
  // encoding is larger still).
  const bool full_batch_waiting =
      held_.size() >= limits_.requests_max || bytes_ >= limits_.bytes_max;
  return !held_.empty() && in_flight < limits_.in_flight_max &&
         (in_flight == 0 || full_batch_waiting);
}

RequestQueue::Batch RequestQueue::take_batch() {
  Batch batch;
  size_t batch_bytes = 0;
  size_t credited_bytes = 0;  // of requests larger than a quantum
  const size_t large_bytes_max =
      limits_.quantum_bytes * (small_held_ > 0 ? large_quanta_shared : large_quanta_alone);
  drop_stale_front();
  // One pass over the clients in arrival order per batch; further passes
  // only while the batch is still empty (credit accrues each pass).
  while (batch.requests.empty() && !held_.empty()) {
    for (size_t i = 0; i < order_.size() && batch.requests.size() < limits_.requests_max; i++) {
      const OrderEntry e = order_[i];
      if (!live(e)) continue;
      auto it = held_.find(e.first);
      Held& held = it->second;
      const size_t size = wire::batch_entry_size(held.entry.request);
      if (size > held.credit + limits_.quantum_bytes) {
        held.credit += limits_.quantum_bytes;  // its turn comes
        continue;
      }
      if (!batch.requests.empty() && batch_bytes + size > limits_.bytes_max) continue;
      // Large requests whose turn came together (clients that started
      // together stay in step) share a batch's large_bytes_max; the rest
      // keep their credit and go in the next batches.
      if (size > limits_.quantum_bytes && !batch.requests.empty() &&
          credited_bytes + size > large_bytes_max) {
        continue;
      }
      if (size > limits_.quantum_bytes) credited_bytes += size;
      batch_bytes += size;
      bytes_ -= held.entry.request.operation.size();
      count(held.entry.request, -1);
      batch.requests.push_back(std::move(held.entry.request));
      batch.digests.push_back(held.entry.digest);
      held_.erase(it);  // its order entry goes stale
    }
  }
  drop_stale_front();
  PBFT_ASSERT(!batch.requests.empty() || held_.empty());
  return batch;
}

}  // namespace pbft
