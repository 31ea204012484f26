// Scenario tests of checkpoints, garbage collection, state transfer and
// recovery (PBFT.md "Checkpoints and garbage collection", "State transfer";
// Castro and Liskov, section 4.3; Castro's thesis, section 5.3).

#include <gtest/gtest.h>

#include "core_harness.h"

namespace pbft::testing {
namespace {

// Runs `ops` puts from client 0, one at a time, each to completion, with
// the given drop rule.
template <typename Drop>
void run_puts(Cluster& c, int ops, Drop drop, const std::string& prefix = "v") {
  for (int i = 0; i < ops; i++) {
    ASSERT_TRUE(c.client(0).submit(kv::encode_op(put("k" + std::to_string(i % 5),
                                                     prefix + std::to_string(i))))
                    .is_ok());
    c.run(drop);
    for (int t = 0; t < 200 && c.client(0).busy(); t++) {
      c.tick_all();
      c.run(drop);
    }
    ASSERT_FALSE(c.client(0).busy()) << "op " << i << " did not complete";
  }
}
void run_puts(Cluster& c, int ops) { run_puts(c, ops, no_drop()); }

// Ticks and delivers until quiet for a while.
template <typename Drop>
void settle(Cluster& c, Drop drop, int ticks = 100) {
  for (int t = 0; t < ticks; t++) {
    c.tick_all();
    c.run(drop);
  }
}

// A checkpoint every K sequence numbers; 2f+1 matching CHECKPOINTs make it
// stable: h moves to it and the log below it is discarded.
TEST(Checkpoints, StableEveryKSequenceNumbersAndTheLogIsCollected) {
  Cluster c(checkpoint_config(), 1);
  run_puts(c, 10);
  for (ReplicaId i = 0; i < c.config().n; i++) {
    EXPECT_EQ(c.replica(i).last_executed(), 10u) << i;
    EXPECT_EQ(c.replica(i).low_watermark(), 8u) << i;
    EXPECT_EQ(c.replica(i).high_watermark(), 16u) << i;
    EXPECT_LE(c.replica(i).log_size(), 2u) << i;  // slots 9 and 10
    EXPECT_EQ(c.replica(i).counters().checkpoints_stable, 2u) << i;
    EXPECT_LE(c.replica(i).checkpoints_held(), 1u + 8 / 4) << i;
  }
}

// The window moves with the stable checkpoint: far more batches than L.
TEST(Checkpoints, TheWindowMovesSoARunCanExceedTheLogSize) {
  Cluster c(checkpoint_config(), 1);
  run_puts(c, 40);
  EXPECT_EQ(c.replica(0).last_executed(), 40u);
  EXPECT_EQ(c.replica(3).low_watermark(), 40u);
}

// A checkpoint is not stable on fewer than 2f+1 matching votes, and a
// lone claim above the window starts no transfer.
TEST(Checkpoints, FewerThanTwoFPlusOneMatchingVotesDoNotMakeItStable) {
  Cluster c(checkpoint_config(), 1);
  run_puts(c, 4);
  for (ReplicaId i = 0; i < c.config().n; i++) EXPECT_EQ(c.replica(i).low_watermark(), 4u);
  Checkpoint cp{8, Digest{}, 1, {}};
  cp.signature = c.crypto(1).sign(wire::auth_payload(cp));
  ASSERT_TRUE(c.deliver(2, cp));
  Checkpoint far{40, Digest{}, 1, {}};
  far.signature = c.crypto(1).sign(wire::auth_payload(far));
  ASSERT_TRUE(c.deliver(2, far));
  c.tick_all(50);
  EXPECT_EQ(c.replica(2).low_watermark(), 4u);
  EXPECT_FALSE(c.replica(2).transferring());
}

// Bounded memory: checkpoint claims far above the window from one replica
// neither grow the replica's state nor start a transfer.
TEST(Checkpoints, AFloodOfClaimsFarAboveTheWindowIsBounded) {
  Cluster c(checkpoint_config(), 1);
  for (Seq s = 4; s < 40000; s += 4) {
    Checkpoint cp{s * 1000, Digest{}, 1, {}};
    cp.signature = c.crypto(1).sign(wire::auth_payload(cp));
    ASSERT_TRUE(c.deliver(2, cp));
  }
  c.drain(2);
  EXPECT_FALSE(c.replica(2).transferring());
  EXPECT_EQ(c.replica(2).checkpoints_held(), 1u);  // the initial state only
  EXPECT_EQ(c.replica(2).log_size(), 0u);
}

// State transfer: a replica cut off for longer than the window cannot catch
// up from the log (it was collected); it fetches the stable checkpoint,
// then executes on from there, with the same state as the others.
TEST(StateTransfer, AReplicaCutOffForLongerThanTheWindowCatchesUp) {
  Cluster c(checkpoint_config(), 1);
  run_puts(c, 3);
  run_puts(c, 20, isolate(3));
  EXPECT_EQ(c.replica(3).last_executed(), 3u);
  EXPECT_GE(c.replica(0).low_watermark(), 20u);

  run_puts(c, 6);  // healed: replica 3 sees checkpoints beyond its window
  settle(c, no_drop());
  EXPECT_EQ(c.replica(3).counters().state_transfers_completed, 1u);
  ASSERT_EQ(c.installed(3).size(), 1u);
  EXPECT_GT(c.installed(3)[0].bytes_fetched, 0u);
  EXPECT_EQ(c.replica(3).last_executed(), c.replica(0).last_executed());
  for (int k = 0; k < 5; k++) {
    const Bytes key{'k', static_cast<uint8_t>('0' + k)};
    EXPECT_EQ(c.store(3).get(key), c.store(0).get(key)) << k;
  }
}

// Only partitions that differ move: after a large common state, a transfer
// for a few changed keys fetches a small fraction of it.
TEST(StateTransfer, OnlyThePartitionsThatDifferAreFetched) {
  Cluster c(checkpoint_config(), 1);
  for (int i = 0; i < 200; i++) {
    ASSERT_TRUE(c.client(0)
                    .submit(kv::encode_op(put("big" + std::to_string(i), std::string(1024, 'x'))))
                    .is_ok());
    c.run();
  }
  run_puts(c, 20, isolate(3));  // 20 small puts on 5 keys that 3 misses
  run_puts(c, 6);
  settle(c, no_drop());
  ASSERT_EQ(c.installed(3).size(), 1u);
  EXPECT_LT(c.installed(3)[0].bytes_fetched, 200u * 1024 / 10);
  EXPECT_EQ(c.replica(3).last_executed(), c.replica(0).last_executed());
}

// Exactly-once survives state transfer: the last-reply table comes with the
// state, so a retransmitted request gets the cached reply, not a re-execution.
TEST(StateTransfer, TheLastReplyTableComesWithTheState) {
  Cluster c(checkpoint_config(), 1);
  run_puts(c, 20, isolate(3));
  run_puts(c, 6);
  settle(c, no_drop());
  ASSERT_EQ(c.replica(3).counters().state_transfers_completed, 1u);
  const Timestamp last = 26;  // the client's last request
  ASSERT_TRUE(c.deliver(3, c.make_request(0, last, put("k0", "again"))));
  auto sends = c.drain(3);
  EXPECT_TRUE(sent<PrePrepare>(sends).empty());
  EXPECT_TRUE(sent<Request>(sends).empty());  // not forwarded: it executed
  auto replies = sent<Reply>(sends);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].timestamp, last);
}

// A faulty replica can slow a transfer but not corrupt it: replica 1 serves
// corrupted partitions and digests (authenticated with its own keys, so they
// pass the verifier); they fail the check against the proven root and the
// other replicas serve instead.
TEST(StateTransfer, BadDataFromAFaultyServerIsRejected) {
  Cluster c(checkpoint_config(), 1);
  run_puts(c, 20, isolate(3));
  auto corrupt = [&](const Envelope& e, const Message& m) -> Message {
    const auto* reply = std::get_if<FetchReply>(&m);
    if (reply == nullptr || e.from != Principal::replica(1)) return m;
    FetchReply bad = *reply;
    if (!bad.data.empty()) bad.data[bad.data.size() / 2] ^= 1;
    if (!bad.digests.empty()) bad.digests[0][0] ^= 1;
    bad.authenticator = make_authenticator(c.crypto(1), c.config().n, wire::auth_payload(bad));
    return bad;
  };
  for (int i = 0; i < 6; i++) {
    ASSERT_TRUE(c.client(0).submit(kv::encode_op(put("k", std::to_string(i)))).is_ok());
    c.run(no_drop(), corrupt);
  }
  for (int t = 0; t < 200; t++) {
    c.tick_all();
    c.run(no_drop(), corrupt);
  }
  EXPECT_EQ(c.replica(3).counters().state_transfers_completed, 1u);
  EXPECT_GT(c.replica(3).counters().fetch_replies_rejected, 0u);
  EXPECT_EQ(c.replica(3).last_executed(), c.replica(0).last_executed());
  EXPECT_EQ(c.store(3).get(Bytes{'k'}), c.store(0).get(Bytes{'k'}));
}

// Recovery: a replica that restarts without its state fetches it and stays
// silent (no PREPARE or COMMIT) until it executed past every sequence
// number it might have voted on before.
TEST(Recovery, ARestartedReplicaIsSilentUntilPastItsHorizon) {
  Cluster c(checkpoint_config(), 1);
  run_puts(c, 10);
  c.restart_empty(3);
  EXPECT_TRUE(c.replica(3).recovering());
  bool voted_while_recovering = false;
  auto watch = [&](const Envelope& e, bool, uint32_t) {
    if (e.from == Principal::replica(3) && c.replica(3).recovering() &&
        (std::holds_alternative<Prepare>(*e.message) ||
         std::holds_alternative<Commit>(*e.message))) {
      voted_while_recovering = true;
    }
    return false;
  };
  settle(c, watch, 20);
  run_puts(c, 30, watch);
  settle(c, watch);
  EXPECT_FALSE(voted_while_recovering);
  EXPECT_FALSE(c.replica(3).recovering());
  EXPECT_GE(c.replica(3).counters().state_transfers_completed, 1u);
  EXPECT_EQ(c.replica(3).last_executed(), c.replica(0).last_executed());
  EXPECT_EQ(c.store(3).get(Bytes{'k', '0'}), c.store(0).get(Bytes{'k', '0'}));
}


StatusMessage status_from(const Cluster& c, ReplicaId i, Seq executed, bool recovering = false,
                          uint64_t nonce = 0) {
  StatusMessage s;
  s.last_executed = executed;
  s.recovering = recovering;
  s.nonce = nonce;
  static uint64_t counter = 0;
  s.counter = ++counter;  // fresh: each one above the last
  s.sender = i;
  s.authenticator = make_authenticator(c.crypto(i), c.config().n, wire::auth_payload(s));
  return s;
}

// Regression (review of the recovery horizon): a faulty replica reporting
// last_executed = 2^64-1 must not wrap the horizon around and end a
// recovering replica's silence early.
TEST(Recovery, AHugeReportDoesNotWrapTheHorizon) {
  Cluster c(checkpoint_config(), 1);
  run_puts(c, 30);
  c.restart_empty(3);  // the harness's first restart: nonce 1, which the faulty replica echoes
  ASSERT_TRUE(c.deliver(3, status_from(c, 1, UINT64_MAX, false, 1)));
  c.drain(3);
  auto faulty_quiet = [](const Envelope& e, bool to_client, uint32_t id) {
    return e.from == Principal::replica(1) && !to_client && id == 3;
  };
  settle(c, faulty_quiet, 60);
  EXPECT_TRUE(c.replica(3).recovering()) << "left recovery at " << c.replica(3).last_executed();
}

// Regression (review of checkpoint claims): a faulty replica that fills its
// claim slots with made-up checkpoints far ahead must not push out its real
// signature, which a lagging replica needs for a proof when the faulty
// replica then goes silent (the other two correct replicas are only 2f).
TEST(StateTransfer, MadeUpClaimsDoNotPushOutARealSignature) {
  Cluster c(checkpoint_config(), 1);
  run_puts(c, 3);
  run_puts(c, 20, isolate(3));
  for (Seq s = 4000; s < 4016; s += 4) {
    Checkpoint cp{s, Digest{}, 1, {}};
    cp.signature = c.crypto(1).sign(wire::auth_payload(cp));
    ASSERT_TRUE(c.deliver(3, cp));
  }
  c.drain(3);
  auto silent1 = [](const Envelope& e, bool to_client, uint32_t id) {
    return e.from == Principal::replica(1) || (!to_client && id == 1);
  };
  settle(c, silent1, 300);
  EXPECT_EQ(c.replica(3).counters().state_transfers_completed, 1u);
  EXPECT_EQ(c.replica(3).last_executed(), c.replica(0).last_executed());
  run_puts(c, 3, silent1);  // 0, 2 and 3 are a quorum again
}

// Recovery reports must answer this incarnation's question: a STATUS with
// another nonce (one a peer sent before the crash, say) does not count.
TEST(Recovery, ReportsWithoutTheNonceDoNotCount) {
  Cluster c(checkpoint_config(), 1);
  run_puts(c, 12);
  c.restart_empty(3);  // nonce 1
  for (ReplicaId peer : {0u, 1u, 2u}) ASSERT_TRUE(c.deliver(3, status_from(c, peer, 0, false, 7)));
  // Were those counted, the horizon would be 0 + L = 8, already passed after
  // a transfer to checkpoint 12.
  auto only_3_asks = [](const Envelope& e, bool, uint32_t) {
    return std::holds_alternative<StatusMessage>(*e.message) && e.from != Principal::replica(3);
  };
  settle(c, only_3_asks, 40);
  EXPECT_TRUE(c.replica(3).recovering());
}

// Regression (review): STATUS answers are rate-limited from the very first
// tick, not only after it.
TEST(Retransmission, StatusAnswersAreRateLimitedBeforeTheFirstTick) {
  Cluster c(checkpoint_config(), 1);
  size_t answers = 0;
  for (int i = 0; i < 1000; i++) {
    ASSERT_TRUE(c.deliver(2, status_from(c, 1, 0, true)));
    answers += sent<StatusMessage>(c.drain(2)).size();
  }
  EXPECT_LE(answers, 1u);
}


// A partition larger than a chunk, whose fetch is overtaken by a newer stable
// checkpoint (in which it did not change): the transfer retargets and resumes
// the partition where it stopped instead of fetching it again from the start.
TEST(StateTransfer, ARetargetResumesAPartitionFetchedInChunks) {
  Cluster c(checkpoint_config(), 1);
  // 24 values of 60 KiB in one bucket: ~1.4 MiB, more than one chunk.
  std::vector<std::string> keys;
  for (int i = 0; keys.size() < 24; i++) {
    const std::string key = "big" + std::to_string(i);
    if (kv::Store::partition_of(as_bytes(key), kv::Store::default_partitions) == 7) keys.push_back(key);
  }
  auto put_all = [&](auto drop) {
    for (const std::string& key : keys) {
      ASSERT_TRUE(c.client(0).submit(kv::encode_op(put(key, std::string(60 * 1024, 'b')))).is_ok());
      c.run(drop);
      ASSERT_FALSE(c.client(0).busy());
    }
  };
  put_all(isolate(3));
  run_puts(c, 8, isolate(3));
  const size_t big = c.store(0).read_partition(std::nullopt, 7).size();
  ASSERT_GT(big, constants::fetch_chunk_max);

  // Heal, but hold back the big partition's later chunks: replica 3 has its
  // first chunk when the cluster moves on to a newer stable checkpoint.
  // (Only for the first target: once it retargets, the resumed fetch goes through.)
  std::optional<Seq> first_target;
  auto hold_later_chunks = [&](const Envelope& e, bool to_client, uint32_t id) {
    const auto* f = std::get_if<Fetch>(e.message.get());
    return !to_client && id != 3 && f != nullptr && f->level == 0 && f->offset > 0 &&
           (!first_target || f->checkpoint == *first_target);
  };
  for (int t = 0; t < 50 && !c.replica(3).transferring(); t++) {
    c.tick_all();
    c.run(hold_later_chunks);
  }
  ASSERT_TRUE(c.replica(3).transferring());
  first_target = c.replica(3).transfer_target();
  run_puts(c, 8, hold_later_chunks);
  EXPECT_EQ(c.replica(3).counters().state_transfers_completed, 1u);  // at the newer target
  EXPECT_GT(c.installed(3).at(0).seq, *first_target);

  settle(c, no_drop());
  EXPECT_EQ(c.replica(3).last_executed(), c.replica(0).last_executed());
  EXPECT_EQ(c.store(3).get(Bytes(keys[0].begin(), keys[0].end())),
            c.store(0).get(Bytes(keys[0].begin(), keys[0].end())));
  // The big partition's bytes crossed once, not once per target.
  EXPECT_LT(c.replica(3).counters().fetch_bytes_received, big + big / 2);
}
}  // namespace
}  // namespace pbft::testing

namespace pbft::testing {
namespace {

// Regression (found by the TCP integration test of a stopped backup): a
// replica that wakes up behind a fast cluster reads a backlog of old
// CHECKPOINTs first. Their claims fill its slots, all well supported, and
// it targets a checkpoint the others have already discarded. Newer claims,
// supported only by their sender when they arrive, used to be the ones
// evicted, so the target never moved on and the replica stayed behind
// forever. Claims below the highest proven one go first now.
TEST(StateTransfer, ABacklogOfOldClaimsDoesNotHideNewerCheckpoints) {
  Cluster c(checkpoint_config(), 1);
  run_puts(c, 3);
  // Replica 3 is stopped: what is sent to it waits (here: the CHECKPOINTs).
  std::vector<std::shared_ptr<const Message>> backlog;
  auto stopped = [&](const Envelope& e, bool to_client, uint32_t id) {
    if (e.from == Principal::replica(3)) return true;
    if (to_client || id != 3) return false;
    if (std::holds_alternative<Checkpoint>(*e.message)) backlog.push_back(e.message);
    return true;
  };
  run_puts(c, 20, stopped);
  // The others go on far beyond what the backlog mentions.
  run_puts(c, 20, isolate(3));
  ASSERT_GE(c.replica(0).low_watermark(), 40u);
  // It continues: the backlog first, then the live traffic.
  for (const auto& m : backlog) c.deliver(3, *m);
  c.drain(3);
  run_puts(c, 6);
  settle(c, no_drop(), 300);
  EXPECT_GE(c.replica(3).counters().state_transfers_completed, 1u);
  EXPECT_EQ(c.replica(3).last_executed(), c.replica(0).last_executed());
}

}  // namespace
}  // namespace pbft::testing
