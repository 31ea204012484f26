// Scenario tests of the client core, one per rule of PBFT.md "Client"
// (Castro and Liskov, section 4.1).

#include <gtest/gtest.h>

#include "core_harness.h"

namespace pbft::testing {
namespace {

// A reply as replica `from` sends it: full (with the result) or only the
// result's digest.
Reply make_reply(const Cluster& c, ReplicaId from, ClientId to, View v, Timestamp t,
                 const std::string& result, bool full = true) {
  Reply r;
  r.view = v;
  r.timestamp = t;
  r.client = to;
  r.sender = from;
  const Bytes bytes(result.begin(), result.end());
  r.full = full;
  if (full) {
    r.result = bytes;
  } else {
    r.result_digest = c.crypto(from).digest(bytes);
  }
  r.mac = c.crypto(from).mac(Principal::client(to), wire::auth_payload(r));
  return r;
}

Reply digest_reply(const Cluster& c, ReplicaId from, ClientId to, View v, Timestamp t,
                   const std::string& result) {
  return make_reply(c, from, to, v, t, result, false);
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
  Reply forged_digest = digest_reply(c, 1, 0, 0, *t, "a");
  forged_digest.result_digest = c.crypto(1).digest(Bytes{'z'});
  EXPECT_FALSE(c.deliver_to_client(0, forged_digest));
  EXPECT_FALSE(c.deliver_to_client(0, make_reply(c, 1, 1, 0, *t, "a")));  // for client 1
  Reply from_nobody = make_reply(c, 1, 0, 0, *t, "a");
  from_nobody.sender = 9;
  EXPECT_FALSE(c.deliver_to_client(0, from_nobody));
}

// Digest replies: the request names a replier, which sends the result; the
// others send its digest. f+1 matching digests complete the request only
// once a result with that digest is in hand, from whichever replica.
TEST(ClientRules, DigestRepliesCompleteOnlyWithAMatchingResult) {
  Cluster c;
  auto t = c.client(0).submit(Bytes{1});
  ASSERT_TRUE(t.is_ok());
  auto sends = c.drain_client(0);
  ASSERT_EQ(sends.size(), 1u);
  EXPECT_EQ(std::get<Request>(*sends[0].message).replier, 0u) << "client 0 % n";
  ASSERT_TRUE(c.deliver_to_client(0, digest_reply(c, 1, 0, 0, *t, "a")));
  ASSERT_TRUE(c.deliver_to_client(0, digest_reply(c, 2, 0, 0, *t, "a")));
  ASSERT_TRUE(c.deliver_to_client(0, make_reply(c, 3, 0, 0, *t, "b")));  // a full reply, another result
  c.drain_client(0);
  EXPECT_TRUE(c.completions(0).empty()) << "f+1 digests but no result with that digest";
  // The same replica re-sends its reply in full: it counts once, with its result.
  ASSERT_TRUE(c.deliver_to_client(0, make_reply(c, 2, 0, 0, *t, "a")));
  c.drain_client(0);
  ASSERT_EQ(c.completions(0).size(), 1u);
  EXPECT_EQ(to_string(c.completions(0)[0].result), "a");
}

TEST(ClientRules, AResultKeptFromAFullReplySurvivesALaterDigestReply) {
  Cluster c;
  auto t = c.client(0).submit(Bytes{1});
  ASSERT_TRUE(t.is_ok());
  c.drain_client(0);
  ASSERT_TRUE(c.deliver_to_client(0, make_reply(c, 1, 0, 0, *t, "a")));
  ASSERT_TRUE(c.deliver_to_client(0, digest_reply(c, 1, 0, 1, *t, "a")));  // from a later view
  ASSERT_TRUE(c.deliver_to_client(0, digest_reply(c, 2, 0, 1, *t, "a")));
  c.drain_client(0);
  ASSERT_EQ(c.completions(0).size(), 1u);
  EXPECT_EQ(to_string(c.completions(0)[0].result), "a");
  EXPECT_EQ(c.completions(0)[0].view, 1u);
}

// A replier that sends no result costs one retransmission (replicas answer
// a re-sent request with the full result); the client then names the next
// replica. It moves on too when the replier's result was wrong or came only
// after the retransmission, and keeps a replier whose result came in time.
TEST(ClientRules, MovesToTheNextReplierAfterOneThatSentNoResult) {
  Cluster c;
  auto replier_of_next = [&](ClientId id) {
    auto sends = c.drain_client(id);
    EXPECT_EQ(sends.size(), 1u);
    return sends.empty() ? every_replica : std::get<Request>(*sends[0].message).replier;
  };
  // Client 1's retransmission timeout: returns what it re-sent.
  auto retransmit = [&] {
    for (uint64_t i = 0; i < ClientOptions{}.retransmit_ticks; i++) c.client(1).tick();
    return c.drain_client(1).size();
  };
  auto t = c.client(1).submit(Bytes{1});
  ASSERT_TRUE(t.is_ok());
  ASSERT_EQ(replier_of_next(1), 1u);
  ASSERT_TRUE(c.deliver_to_client(1, digest_reply(c, 2, 1, 0, *t, "a")));
  ASSERT_TRUE(c.deliver_to_client(1, digest_reply(c, 3, 1, 0, *t, "a")));
  ASSERT_EQ(retransmit(), 1u);  // re-sent to all
  ASSERT_TRUE(c.deliver_to_client(1, make_reply(c, 2, 1, 0, *t, "a")));
  c.drain_client(1);
  ASSERT_EQ(c.completions(1).size(), 1u);

  // Replica 2's result comes in time; the others are slow: it stays.
  t = c.client(1).submit(Bytes{2});
  ASSERT_TRUE(t.is_ok());
  EXPECT_EQ(replier_of_next(1), 2u) << "replica 1 sent no result";
  ASSERT_TRUE(c.deliver_to_client(1, make_reply(c, 2, 1, 0, *t, "b")));
  retransmit();
  ASSERT_TRUE(c.deliver_to_client(1, digest_reply(c, 3, 1, 0, *t, "b")));
  c.drain_client(1);
  ASSERT_EQ(c.completions(1).size(), 2u);

  // Replica 2 sends a made-up result; the others' full results after the
  // retransmission complete the request: it is replaced.
  t = c.client(1).submit(Bytes{3});
  ASSERT_TRUE(t.is_ok());
  EXPECT_EQ(replier_of_next(1), 2u) << "replica 2 delivered in time";
  ASSERT_TRUE(c.deliver_to_client(1, make_reply(c, 2, 1, 0, *t, "lie")));
  ASSERT_TRUE(c.deliver_to_client(1, digest_reply(c, 0, 1, 0, *t, "c")));
  ASSERT_TRUE(c.deliver_to_client(1, digest_reply(c, 3, 1, 0, *t, "c")));
  retransmit();
  ASSERT_TRUE(c.deliver_to_client(1, make_reply(c, 3, 1, 0, *t, "c")));
  c.drain_client(1);
  ASSERT_EQ(c.completions(1).size(), 3u);
  EXPECT_EQ(to_string(c.completions(1)[2].result), "c");

  // Replica 3 sends its result only to the re-sent request: replaced too.
  t = c.client(1).submit(Bytes{4});
  ASSERT_TRUE(t.is_ok());
  EXPECT_EQ(replier_of_next(1), 3u) << "replica 2's result was wrong";
  ASSERT_TRUE(c.deliver_to_client(1, digest_reply(c, 0, 1, 0, *t, "d")));
  ASSERT_TRUE(c.deliver_to_client(1, digest_reply(c, 3, 1, 0, *t, "d")));
  retransmit();
  ASSERT_TRUE(c.deliver_to_client(1, make_reply(c, 3, 1, 0, *t, "d")));
  c.drain_client(1);
  ASSERT_EQ(c.completions(1).size(), 4u);
  ASSERT_TRUE(c.client(1).submit(Bytes{5}).is_ok());
  EXPECT_EQ(replier_of_next(1), 0u) << "replica 3 held its result back";
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
