// Scenario tests of the client core, one per rule of PBFT.md "Client"
// (Castro and Liskov, section 4.1).

#include <gtest/gtest.h>

#include "core_harness.h"

namespace pbft::testing {
namespace {

Reply make_reply(const Cluster& c, ReplicaId from, ClientId to, View v, Timestamp t,
                 const std::string& result) {
  Reply r;
  r.view = v;
  r.timestamp = t;
  r.client = to;
  r.sender = from;
  r.result = Bytes(result.begin(), result.end());
  r.mac = c.crypto(from).mac(Principal::client(to), wire::auth_payload(r));
  return r;
}

// Step 1: REQUEST(o, t, c) goes to the primary of the last view seen, with
// a strictly increasing timestamp.
TEST(ClientRules, SendsToThePrimaryWithIncreasingTimestamps) {
  Cluster c;
  auto t1 = c.client(0).submit(Bytes{1});
  ASSERT_TRUE(t1.is_ok());
  auto sends = c.drain_client(0);
  ASSERT_EQ(sends.size(), 1u);
  EXPECT_EQ(sends[0].to.kind, Destination::Kind::replica);
  EXPECT_EQ(sends[0].to.id, 0u);
  EXPECT_FALSE(c.client(0).submit(Bytes{2}).is_ok());  // one outstanding at a time
  ASSERT_TRUE(c.deliver_to_client(0, make_reply(c, 0, 0, 0, *t1, "r")));
  ASSERT_TRUE(c.deliver_to_client(0, make_reply(c, 1, 0, 0, *t1, "r")));
  auto t2 = c.client(0).submit(Bytes{2});
  ASSERT_TRUE(t2.is_ok());
  EXPECT_GT(*t2, *t1);
}

// Step 2: accept once f+1 replicas sent matching replies (same t and r).
TEST(ClientRules, NeedsFPlusOneMatchingReplies) {
  Cluster c;
  auto t = c.client(0).submit(Bytes{1});
  ASSERT_TRUE(t.is_ok());
  c.drain_client(0);
  ASSERT_TRUE(c.deliver_to_client(0, make_reply(c, 0, 0, 0, *t, "a")));
  ASSERT_TRUE(c.deliver_to_client(0, make_reply(c, 0, 0, 0, *t, "a")));  // same replica again
  ASSERT_TRUE(c.deliver_to_client(0, make_reply(c, 1, 0, 0, *t, "b")));  // another result
  ASSERT_TRUE(c.deliver_to_client(0, make_reply(c, 2, 0, 0, *t + 1, "a")));  // another t
  c.drain_client(0);
  EXPECT_TRUE(c.completions(0).empty());
  EXPECT_TRUE(c.client(0).busy());
  ASSERT_TRUE(c.deliver_to_client(0, make_reply(c, 3, 0, 0, *t, "a")));
  c.drain_client(0);
  ASSERT_EQ(c.completions(0).size(), 1u);
  EXPECT_EQ(to_string(c.completions(0)[0].result), "a");
}

// wants(): a host may skip verifying replies the client would ignore.
TEST(ClientRules, WantsOnlyRepliesForTheOutstandingRequest) {
  Cluster c;
  EXPECT_FALSE(c.client(0).wants(make_reply(c, 0, 0, 0, 1, "r"))) << "nothing outstanding";
  auto t = c.client(0).submit(Bytes{1});
  ASSERT_TRUE(t.is_ok());
  c.drain_client(0);
  EXPECT_TRUE(c.client(0).wants(make_reply(c, 0, 0, 0, *t, "r")));
  EXPECT_FALSE(c.client(0).wants(make_reply(c, 0, 0, 0, *t - 1, "r"))) << "an older request";
  EXPECT_FALSE(c.client(0).wants(make_reply(c, 0, 1, 0, *t, "r"))) << "another client";
  ASSERT_TRUE(c.deliver_to_client(0, make_reply(c, 0, 0, 0, *t, "r")));
  ASSERT_TRUE(c.deliver_to_client(0, make_reply(c, 1, 0, 0, *t, "r")));
  c.drain_client(0);
  EXPECT_FALSE(c.client(0).wants(make_reply(c, 2, 0, 0, *t, "r"))) << "late: already completed";
}

TEST(ClientRules, ForgedOrMisaddressedRepliesAreRejected) {
  Cluster c;
  auto t = c.client(0).submit(Bytes{1});
  Reply forged = make_reply(c, 1, 0, 0, *t, "a");
  forged.result = Bytes{'z'};  // MAC no longer matches
  EXPECT_FALSE(c.deliver_to_client(0, forged));
  EXPECT_FALSE(c.deliver_to_client(0, make_reply(c, 1, 1, 0, *t, "a")));  // for client 1
  Reply from_nobody = make_reply(c, 1, 0, 0, *t, "a");
  from_nobody.sender = 9;
  EXPECT_FALSE(c.deliver_to_client(0, from_nobody));
}

// The client learns the view from replies, but only a view that f+1 of
// them vouch for: one faulty replica cannot steer it.
TEST(ClientRules, LearnsTheViewThatFPlusOneRepliesVouchFor) {
  Cluster c;
  auto t = c.client(0).submit(Bytes{1});
  ASSERT_TRUE(c.deliver_to_client(0, make_reply(c, 0, 0, 1000, *t, "a")));  // faulty
  ASSERT_TRUE(c.deliver_to_client(0, make_reply(c, 1, 0, 5, *t, "a")));
  EXPECT_EQ(c.client(0).view(), 5u);
  c.drain_client(0);
  ASSERT_TRUE(c.client(0).submit(Bytes{2}).is_ok());
  auto sends = c.drain_client(0);
  ASSERT_EQ(sends.size(), 1u);
  EXPECT_EQ(sends[0].to.id, 5u % c.config().n);  // the primary of view 5
}

// Step 3: on timeout the client re-sends to all replicas, with back-off.
TEST(ClientRules, RetransmitsToAllReplicasOnTimeoutWithDoubling) {
  Cluster c;
  ASSERT_TRUE(c.client(0).submit(Bytes{1}).is_ok());
  c.drain_client(0);
  const ClientOptions defaults;
  std::vector<uint64_t> retransmit_ticks;
  for (uint64_t tick = 1; tick <= defaults.retransmit_ticks * 7; tick++) {
    c.client(0).tick();
    auto sends = c.drain_client(0);
    if (sends.empty()) continue;
    ASSERT_EQ(sends.size(), 1u);
    EXPECT_EQ(sends[0].to.kind, Destination::Kind::all_replicas);
    retransmit_ticks.push_back(tick);
  }
  const uint64_t k = defaults.retransmit_ticks;
  EXPECT_EQ(retransmit_ticks, (std::vector<uint64_t>{k, 3 * k, 7 * k}));
}

TEST(ClientRules, RejectsOperationsOverTheLimit) {
  Cluster c;
  EXPECT_FALSE(c.client(0).submit(Bytes(constants::operation_size_max + 1)).is_ok());
  EXPECT_TRUE(c.client(0).submit(Bytes(constants::operation_size_max)).is_ok());
}

// With the primary unreachable, the retransmission reaches the backups,
// which relay it; the request completes.
TEST(ClientRules, CompletesThroughBackupsWhenTheFirstSendIsLost) {
  Cluster c;
  ASSERT_TRUE(c.client(0).submit(kv::encode_op(put("k", "v"))).is_ok());
  c.drain_client(0);
  c.in_flight().clear();  // the request to the primary is lost
  for (uint64_t i = 0; i < ClientOptions{}.retransmit_ticks; i++) c.tick_all();
  c.run();
  ASSERT_EQ(c.completions(0).size(), 1u);
}

}  // namespace
}  // namespace pbft::testing
