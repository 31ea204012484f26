// The pending-request queue and the batching policy (src/core/request_queue.h):
// each test checks one of the guarantees its header states.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "pbft/wire.h"
#include "src/core/request_queue.h"

namespace pbft {
namespace {

Request request(ClientId client, Timestamp timestamp, size_t operation_size = 8) {
  Request r;
  r.client = client;
  r.timestamp = timestamp;
  r.operation = Bytes(operation_size, static_cast<uint8_t>(client));
  r.authenticator.resize(4);
  return r;
}

// A digest that tells requests apart (the queue only carries it).
Digest digest_of(ClientId client, Timestamp timestamp) {
  Digest d{};
  d[0] = static_cast<uint8_t>(client);
  d[1] = static_cast<uint8_t>(timestamp);
  return d;
}

RequestQueue::Entry* add(RequestQueue& q, ClientId client, Timestamp timestamp,
                         uint64_t now = 0, size_t operation_size = 8) {
  return q.add(request(client, timestamp, operation_size), digest_of(client, timestamp), now);
}

std::vector<ClientId> clients_of(const RequestQueue::Batch& batch) {
  std::vector<ClientId> out;
  for (const Request& r : batch.requests) out.push_back(r.client);
  return out;
}

RequestQueue::BatchLimits batches_of(size_t requests_max, uint64_t in_flight_max = 1) {
  return RequestQueue::BatchLimits{requests_max, constants::batch_bytes_max, in_flight_max};
}

TEST(RequestQueue, RefusesRequestsBeyondItsCountAndBytes) {
  RequestQueue by_count(batches_of(8), RequestQueue::Capacity{3, 1000});
  for (ClientId c = 1; c <= 3; c++) EXPECT_NE(add(by_count, c, 1), nullptr);
  EXPECT_EQ(add(by_count, 4, 1), nullptr);
  EXPECT_EQ(by_count.size(), 3u);

  RequestQueue by_bytes(batches_of(8), RequestQueue::Capacity{100, 250});
  EXPECT_NE(add(by_bytes, 1, 1, 0, 100), nullptr);
  EXPECT_NE(add(by_bytes, 2, 1, 0, 100), nullptr);
  EXPECT_EQ(add(by_bytes, 3, 1, 0, 100), nullptr);  // 300 > 250
  EXPECT_NE(add(by_bytes, 3, 1, 0, 50), nullptr);   // exactly 250
  EXPECT_EQ(by_bytes.bytes(), 250u);
  // A newer request that would not fit leaves the held one in place.
  EXPECT_EQ(add(by_bytes, 3, 2, 0, 51), nullptr);
  EXPECT_EQ(by_bytes.find(3)->request.timestamp, 1u);
  EXPECT_EQ(by_bytes.bytes(), 250u);
}

TEST(RequestQueue, HoldsOneRequestPerClientTheNewest) {
  RequestQueue q(batches_of(8));
  add(q, 1, 1, /*now=*/5);
  add(q, 1, 2, /*now=*/9);
  EXPECT_EQ(q.size(), 1u);
  ASSERT_NE(q.find(1), nullptr);
  EXPECT_EQ(q.find(1)->request.timestamp, 2u);
  EXPECT_EQ(q.find(1)->digest, digest_of(1, 2));
  EXPECT_EQ(q.find(1)->since_tick, 9u);
}

TEST(RequestQueue, ARetransmissionLeavesTheHeldRequestAsItIs) {
  RequestQueue q(batches_of(8));
  RequestQueue::Entry* first = add(q, 1, 1, /*now=*/5);
  first->forwarded_tick = 6;
  RequestQueue::Entry* again = add(q, 1, 1, /*now=*/7);
  EXPECT_EQ(again, first);
  EXPECT_EQ(again->since_tick, 5u);
  EXPECT_EQ(again->forwarded_tick, 6u);
  // A newer request is not forwarded yet.
  EXPECT_FALSE(add(q, 1, 2, /*now=*/8)->forwarded_tick.has_value());
}

TEST(RequestQueue, BatchesTakeRequestsInArrivalOrder) {
  RequestQueue q(batches_of(8));
  for (ClientId c : {5, 2, 9, 1}) add(q, c, 1);
  EXPECT_EQ(q.oldest()->request.client, 5u);
  EXPECT_EQ(clients_of(q.take_batch()), (std::vector<ClientId>{5, 2, 9, 1}));
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.oldest(), nullptr);
}

TEST(RequestQueue, ANewerRequestKeepsItsClientsPlace) {
  RequestQueue q(batches_of(8));
  for (ClientId c : {1, 2, 3}) add(q, c, 1);
  add(q, 1, 2);  // client 1 retries with a newer request: still first
  const RequestQueue::Batch batch = q.take_batch();
  EXPECT_EQ(clients_of(batch), (std::vector<ClientId>{1, 2, 3}));
  EXPECT_EQ(batch.requests[0].timestamp, 2u);
  EXPECT_EQ(batch.digests[0], digest_of(1, 2));
  EXPECT_EQ(q.order_entries(), 0u);
}

TEST(RequestQueue, ARemovedRequestLosesItsPlace) {
  RequestQueue q(batches_of(8));
  for (ClientId c : {1, 2, 3}) add(q, c, 1);
  q.remove(1, 0);  // not executed yet: stays
  EXPECT_EQ(q.size(), 3u);
  q.remove(1, 1);
  add(q, 1, 2);  // arrives anew: at the back
  EXPECT_EQ(q.oldest()->request.client, 2u);
  EXPECT_EQ(clients_of(q.take_batch()), (std::vector<ClientId>{2, 3, 1}));
}

TEST(RequestQueue, RemoveIfDropsWhatThePredicateNames) {
  RequestQueue q(batches_of(8));
  for (ClientId c = 1; c <= 4; c++) add(q, c, c, 0, 10);
  q.remove_if([](const RequestQueue::Entry& e) { return e.request.client % 2 == 0; });
  std::vector<ClientId> held;
  q.for_each([&](const RequestQueue::Entry& e) { held.push_back(e.request.client); });
  EXPECT_EQ(held, (std::vector<ClientId>{1, 3}));
  EXPECT_EQ(q.bytes(), 20u);
}

// Clients that come and go leave stale entries in the arrival order; they
// are compacted before they outnumber the live ones.
TEST(RequestQueue, CompactionKeepsTheOrderWithinTwiceTheCapacity) {
  constexpr size_t capacity = 50;
  RequestQueue q(batches_of(8), RequestQueue::Capacity{capacity, 1 << 20});
  const size_t bound = 2 * capacity + 64;
  size_t most = 0;
  for (Timestamp t = 1; t <= 200; t++) {
    for (ClientId c = 0; c < capacity; c++) {
      ASSERT_NE(add(q, c, t), nullptr);
      most = std::max(most, q.order_entries());
      ASSERT_LE(q.order_entries(), bound);
    }
    for (ClientId c = 0; c < capacity; c++) q.remove(c, t);
  }
  EXPECT_GT(most, capacity);  // stale entries did pile up, and were compacted
  // Whatever is stale, the live requests keep their order.
  for (ClientId c : {7, 3, 9}) add(q, c, 1000);
  EXPECT_EQ(clients_of(q.take_batch()), (std::vector<ClientId>{7, 3, 9}));
}

TEST(RequestQueue, ABatchIsCutByCount) {
  RequestQueue q(batches_of(3));
  for (ClientId c = 1; c <= 7; c++) add(q, c, 1);
  EXPECT_EQ(clients_of(q.take_batch()), (std::vector<ClientId>{1, 2, 3}));
  EXPECT_EQ(clients_of(q.take_batch()), (std::vector<ClientId>{4, 5, 6}));
  EXPECT_EQ(clients_of(q.take_batch()), (std::vector<ClientId>{7}));
  EXPECT_TRUE(q.take_batch().requests.empty());
}

TEST(RequestQueue, ABatchIsCutByEncodedBytes) {
  const size_t entry = wire::batch_entry_size(request(1, 1, 100));
  // Room for two entries and not quite three.
  RequestQueue q(RequestQueue::BatchLimits{100, 3 * entry - 1, 1});
  for (ClientId c = 1; c <= 5; c++) add(q, c, 1, 0, 100);
  EXPECT_EQ(clients_of(q.take_batch()), (std::vector<ClientId>{1, 2}));
  EXPECT_EQ(q.bytes(), 300u);
  // Exactly three entries fit.
  RequestQueue exact(RequestQueue::BatchLimits{100, 3 * entry, 1});
  for (ClientId c = 1; c <= 5; c++) add(exact, c, 1, 0, 100);
  EXPECT_EQ(clients_of(exact.take_batch()), (std::vector<ClientId>{1, 2, 3}));
}

TEST(RequestQueue, ARequestLargerThanTheBatchBytesStillGoesAlone) {
  RequestQueue q(RequestQueue::BatchLimits{100, 50, 1});
  add(q, 1, 1, 0, 200);
  add(q, 2, 1, 0, 10);
  EXPECT_EQ(clients_of(q.take_batch()), (std::vector<ClientId>{1}));
  EXPECT_EQ(clients_of(q.take_batch()), (std::vector<ClientId>{2}));
}

// With nothing in flight whatever waits goes at once; with batches in
// flight only a full batch starts another, up to in_flight_max.
TEST(RequestQueue, OnlyAFullBatchStartsAnotherWhileBatchesAreInFlight) {
  RequestQueue q(batches_of(3, /*in_flight_max=*/2));
  EXPECT_FALSE(q.starts_batch(0));  // nothing waits
  add(q, 1, 1);
  EXPECT_TRUE(q.starts_batch(0));
  EXPECT_FALSE(q.starts_batch(1));
  add(q, 2, 1);
  add(q, 3, 1);
  EXPECT_TRUE(q.starts_batch(1));   // a full batch waits
  EXPECT_FALSE(q.starts_batch(2));  // in_flight_max
}

TEST(RequestQueue, ABatchFullByBytesStartsAnother) {
  RequestQueue q(RequestQueue::BatchLimits{100, 1000, 4});
  add(q, 1, 1, 0, 999);
  EXPECT_FALSE(q.starts_batch(1));
  add(q, 2, 1, 0, 1);
  EXPECT_TRUE(q.starts_batch(1));
}

// Byte fairness (deficit round robin across batches): requests within a
// quantum go in the next batch; a larger one earns a quantum for each batch
// that leaves it out, and goes once its size is within its credit and a
// quantum: clients sending the largest requests cannot fill every batch.
TEST(RequestQueue, ALargeRequestWaitsItsTurnWhileSmallOnesGoAtOnce) {
  RequestQueue::BatchLimits limits{100, 1 << 20, 4};
  limits.quantum_bytes = 1000;
  RequestQueue q(limits);
  const size_t large = wire::batch_entry_size(request(1, 1, 2500));
  ASSERT_GT(large, 2500u);
  ASSERT_LE(large, 3000u);  // within three quanta and the credit of two batches
  add(q, 1, 1, 0, 2500);
  add(q, 2, 1);
  add(q, 3, 1);
  EXPECT_EQ(clients_of(q.take_batch()), (std::vector<ClientId>{2, 3}));  // 1: credit 1000
  add(q, 2, 2);
  EXPECT_EQ(clients_of(q.take_batch()), (std::vector<ClientId>{2}));  // 1: credit 2000
  add(q, 3, 2);
  EXPECT_EQ(clients_of(q.take_batch()), (std::vector<ClientId>{1, 3}));  // 2000 + 1000 >= size
  EXPECT_TRUE(q.empty());
}

// Many clients with the largest requests and a few with small ones: each
// batch carries every small one and at most large_quanta_shared quanta of
// large ones (one of 60 KiB), so that the small ones' batches stay quick.
TEST(RequestQueue, LargeRequestsTakeAQuantumPerBatchNotEveryBatch) {
  RequestQueue::BatchLimits limits{1000, 4 << 20, 4};
  limits.quantum_bytes = 16 * 1024;
  RequestQueue q(limits);
  for (ClientId c = 100; c < 116; c++) add(q, c, 1, 0, 60 * 1024);  // 16 writers of 60 KiB
  size_t large_in_all = 0;
  for (int round = 1; round <= 8; round++) {
    for (ClientId c = 1; c <= 10; c++) add(q, c, static_cast<Timestamp>(round));
    const RequestQueue::Batch batch = q.take_batch();
    size_t small = 0, large = 0;
    for (const Request& r : batch.requests) (r.client < 100 ? small : large)++;
    EXPECT_EQ(small, 10u) << "round " << round;
    EXPECT_LE(large, 1u) << "round " << round;
    large_in_all += large;
    for (const Request& r : batch.requests) {
      if (r.client >= 100) add(q, r.client, r.timestamp + 1, 0, 60 * 1024);  // closed loop
    }
  }
  EXPECT_GE(large_in_all, 4u) << "they do go, about one per batch once credit accrued";
}

// With no small request waiting, the large ones share large_quanta_alone
// quanta per batch (four of 60 KiB), not one: a store loaded with large
// values alone is not slowed for the sake of nobody.
TEST(RequestQueue, LargeRequestsAloneShareMoreOfABatch) {
  RequestQueue::BatchLimits limits{1000, 4 << 20, 4};
  limits.quantum_bytes = 16 * 1024;
  RequestQueue q(limits);
  for (ClientId c = 100; c < 116; c++) add(q, c, 1, 0, 60 * 1024);
  size_t most = 0;
  for (int round = 1; round <= 8; round++) {
    const RequestQueue::Batch batch = q.take_batch();
    EXPECT_LE(batch.requests.size(), 4u) << "round " << round;
    most = std::max(most, batch.requests.size());
    for (const Request& r : batch.requests) add(q, r.client, r.timestamp + 1, 0, 60 * 1024);
  }
  EXPECT_EQ(most, 4u);
  // A small request arriving tightens the share at once.
  add(q, 1, 1);
  const RequestQueue::Batch mixed = q.take_batch();
  size_t large = 0;
  for (const Request& r : mixed.requests) large += r.client >= 100 ? 1 : 0;
  EXPECT_LE(large, 1u);
  EXPECT_EQ(mixed.requests.size(), large + 1);
}

// When only large requests wait, credit accrues until one goes: the batch
// is empty only when the queue is, so a lone large client is not delayed.
TEST(RequestQueue, OnlyLargeRequestsWaitingStillMakeABatch) {
  RequestQueue::BatchLimits limits{100, 1 << 20, 4};
  limits.quantum_bytes = 100;
  RequestQueue q(limits);
  add(q, 1, 1, 0, 5000);
  add(q, 2, 1, 0, 5000);
  // (Each over the batch's large_quanta_alone quanta: one a batch.)
  EXPECT_EQ(clients_of(q.take_batch()), (std::vector<ClientId>{1}));
  EXPECT_EQ(clients_of(q.take_batch()), (std::vector<ClientId>{2}));
  EXPECT_TRUE(q.empty());
}

}  // namespace
}  // namespace pbft
