// The requests a replica holds until they are ordered, and the batching
// policy that cuts them into batches (private to src/core).
//
// Guarantees:
//   - bounded memory: at most Capacity::requests_max requests and
//     Capacity::bytes_max operation bytes; add refuses what does not fit.
//     The arrival order may hold stale entries (requests removed since), but
//     they are compacted before they outnumber the live ones: the order
//     never holds more than 2 * requests_max + 64 entries;
//   - one request per client: the newest (a newer request replaces the
//     held one; the caller drops an older one before it gets here);
//   - FIFO by first arrival: batches take requests in the order their
//     clients' held requests first arrived, and a newer request keeps its
//     client's place (a client that retries is not sent to the back).
//
// Liveness policy only (STYLE.md, practice 9): which requests go into the
// next batch and when a batch starts. Nothing here decides what may be
// ordered or executed; exactly-once (the last-reply table, requests already
// ordered) and the watermarks stay with ReplicaState, so no tuning of these
// limits can break agreement.
//
// Single-threaded, like the rest of the core. Entry pointers stay valid
// until their request is removed, replaced by a batch, or the queue is
// destroyed (the requests live in a std::map).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "pbft/constants.h"
#include "pbft/messages.h"

namespace pbft {

class RequestQueue {
 public:
  // How much the queue holds.
  struct Capacity {
    size_t requests_max = constants::pending_requests_max;
    size_t bytes_max = constants::pending_bytes_max;  // operation bytes
  };
  // What a batch may hold, and how many may be in flight (pre-prepared,
  // not executed) when another starts.
  struct BatchLimits {
    size_t requests_max = 1;
    size_t bytes_max = constants::batch_bytes_max;  // encoded requests (wire::batch_entry_size)
    uint64_t in_flight_max = 1;
    // Byte fairness: what each client's held request earns per batch that
    // leaves it out (take_batch).
    size_t quantum_bytes = constants::batch_quantum_bytes;
  };

  // A held request.
  struct Entry {
    Request request;
    Digest digest;        // D(request), for the batch digest
    uint64_t since_tick;  // when this replica got it (or the client's newer one)
    // A backup: when it last relayed this request to the primary.
    std::optional<uint64_t> forwarded_tick;
  };

  // A batch cut from the queue: the requests in arrival order, with their digests.
  struct Batch {
    std::vector<Request> requests;
    std::vector<Digest> digests;
  };

  explicit RequestQueue(BatchLimits limits);  // the default Capacity (constants.h)
  RequestQueue(BatchLimits limits, Capacity capacity);

  // Holds `request` (D(request) = digest, received at tick `now`): a new
  // client's goes to the back; a newer request replaces its client's held
  // one in place (since_tick = now, not yet forwarded); the held request
  // itself (a retransmission) is left as it is. Returns the client's entry,
  // or null when the capacity refuses the request. The request must not be
  // older than the client's held one.
  Entry* add(const Request& request, const Digest& digest, uint64_t now);
  // The client's held request, or null.
  const Entry* find(ClientId client) const;
  // Drops the client's held request if its timestamp is at most `executed`.
  void remove(ClientId client, Timestamp executed);
  // Drops every held request for which pred(const Entry&) is true.
  template <typename Pred>
  void remove_if(Pred pred);
  // Calls f(const Entry&) for each held request, by client id.
  template <typename F>
  void for_each(F f) const;
  // The held request that arrived first, or null.
  const Entry* oldest();

  bool empty() const { return held_.empty(); }
  size_t size() const { return held_.size(); }
  size_t bytes() const { return bytes_; }  // operation bytes held
  // Entries in the arrival order, stale ones included (for the bound).
  size_t order_entries() const { return order_.size(); }

  // Batching policy. With nothing in flight, whatever waits goes at once
  // (low latency at low load); with batches in flight, only a full batch
  // starts another, up to in_flight_max. Under load batches grow instead of
  // multiplying, which amortizes the per-batch signatures and messages.
  bool starts_batch(uint64_t in_flight) const;
  // Takes the next batch: at most requests_max requests and bytes_max
  // encoded bytes (one request always fits: the first is taken whatever its
  // size), in arrival order, byte-fair between clients (deficit round robin
  // across batches, Aardvark's fairness by cost): a request goes once its
  // size is within quantum_bytes plus the credit its client earned, a
  // quantum for each batch that left it out. Requests of a quantum or less
  // go at once; a larger one waits at most size / quantum batches, so that
  // clients sending the largest requests cannot fill every batch (and the
  // time each takes to order) ahead of the others; of such requests, a
  // batch carries at most large_quanta_shared quanta while requests of a
  // quantum or less wait too (so their batches stay quick to order: one
  // client filling memory with the largest values halved the others'
  // throughput with 16), and large_quanta_alone otherwise. When only such
  // requests wait, credit accrues until one goes: the batch is empty only
  // when the queue is.
  Batch take_batch();

 private:
  // A batch carries at most this many quanta of requests larger than a
  // quantum (unless it holds nothing else): _shared while requests of a
  // quantum or less are held too (4: one of the largest requests), _alone
  // when none is.
  static constexpr size_t large_quanta_shared = 4;
  static constexpr size_t large_quanta_alone = 16;

  struct Held {
    Entry entry;
    uint64_t arrival;  // matches the order entry that gives the client its place
    size_t credit = 0;  // bytes earned by batches that left it out (take_batch)
  };
  using OrderEntry = std::pair<ClientId, uint64_t>;  // (client, arrival)
  // An order entry is live while its client's held request has its arrival
  // number; it goes stale when that request is removed or batched.
  bool live(const OrderEntry& entry) const;
  void drop_stale_front();
  void erase(std::map<ClientId, Held>::iterator it);
  // Whether a request counts as small (its batch entry within a quantum),
  // and the count of those held.
  bool small(const Request& request) const;
  void count(const Request& request, int delta);

  const BatchLimits limits_;
  const Capacity capacity_;
  std::map<ClientId, Held> held_;  // one request per client
  std::deque<OrderEntry> order_;   // clients by first arrival; may hold stale entries
  size_t bytes_ = 0;               // the held operations' bytes
  size_t small_held_ = 0;          // held requests that are small()
  uint64_t arrivals_ = 0;          // the last arrival number given out
};

template <typename Pred>
void RequestQueue::remove_if(Pred pred) {
  for (auto it = held_.begin(); it != held_.end();) {
    auto next = std::next(it);
    if (pred(std::as_const(it->second.entry))) erase(it);
    it = next;
  }
}

template <typename F>
void RequestQueue::for_each(F f) const {
  for (const auto& [client, held] : held_) f(held.entry);
}

}  // namespace pbft
