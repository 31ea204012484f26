// Each checker is shown to fail: it is fed a planted violation (the kind of
// Executed stream or history a broken core would produce) and must name
// itself and the evidence; the same stream without the violation passes.
#include <gtest/gtest.h>

#include "sim/checkers.h"
#include "sim/options.h"
#include "tests/sim_test_util.h"

namespace pbft::sim {
namespace {

using test::digest_of;

Executed batch(Seq seq, uint8_t digest_byte, std::vector<ExecutedRequest> requests = {},
               View view = 0) {
  return Executed{seq, view, digest_of(digest_byte), std::move(requests)};
}

ExecutedRequest fresh(ClientId client, Timestamp t) { return {client, t, true}; }
ExecutedRequest stale(ClientId client, Timestamp t) { return {client, t, false}; }

TEST(AgreementChecker, AcceptsTheSameBatchAtEveryReplica) {
  AgreementChecker checker;
  for (ReplicaId r = 0; r < 4; r++) {
    checker.observe(r, batch(1, 0xaa));
    checker.observe(r, batch(2, 0xbb, {}, r < 2 ? 0 : 1));  // views may differ
  }
  EXPECT_FALSE(checker.failure());
  EXPECT_EQ(checker.decided(), 2u);
}

TEST(AgreementChecker, CatchesConflictingBatchesAtOneSeq) {
  AgreementChecker checker;
  checker.observe(0, batch(1, 0xaa));
  checker.observe(1, batch(1, 0xaa));
  checker.observe(2, batch(1, 0xcc, {}, 1));
  ASSERT_TRUE(checker.failure());
  EXPECT_EQ(checker.failure()->checker, "agreement");
  EXPECT_NE(checker.failure()->details.find("seq 1"), std::string::npos);
  EXPECT_NE(checker.failure()->details.find("replica 0"), std::string::npos);
  EXPECT_NE(checker.failure()->details.find("replica 2"), std::string::npos);
}

TEST(ExactlyOnceChecker, AcceptsIncreasingTimestampsAndStaleRepeats) {
  ExactlyOnceChecker checker(4);
  checker.observe(0, batch(1, 1, {fresh(1, 1), fresh(2, 1)}));
  checker.observe(0, batch(2, 2, {fresh(1, 2), stale(2, 1)}));  // a retransmission, skipped
  checker.observe(1, batch(1, 1, {fresh(1, 1), fresh(2, 1)}));  // other replicas count apart
  EXPECT_FALSE(checker.failure());
}

TEST(ExactlyOnceChecker, CatchesADoubleExecution) {
  ExactlyOnceChecker checker(4);
  checker.observe(3, batch(1, 1, {fresh(7, 5)}));
  checker.observe(3, batch(2, 2, {fresh(7, 5)}));
  ASSERT_TRUE(checker.failure());
  EXPECT_EQ(checker.failure()->checker, "exactly-once");
  EXPECT_NE(checker.failure()->details.find("replica 3 executed the same request twice"),
            std::string::npos);
  EXPECT_NE(checker.failure()->details.find("client 7 timestamp 5"), std::string::npos);
}

TEST(ExactlyOnceChecker, CatchesAnOldRequestAfterANewerOne) {
  ExactlyOnceChecker checker(4);
  checker.observe(0, batch(1, 1, {fresh(2, 9)}));
  checker.observe(0, batch(2, 2, {fresh(2, 4)}));
  ASSERT_TRUE(checker.failure());
  EXPECT_NE(checker.failure()->details.find("old request after a newer one"),
            std::string::npos);
}

TEST(ExecutionOrderChecker, AcceptsConsecutiveSeqs) {
  ExecutionOrderChecker checker(2);
  for (Seq s = 1; s <= 10; s++) checker.observe(1, batch(s, 0));
  EXPECT_FALSE(checker.failure());
  EXPECT_EQ(checker.last_executed(1), 10u);
  EXPECT_EQ(checker.last_executed(0), 0u);
}

TEST(ExecutionOrderChecker, CatchesAGap) {
  ExecutionOrderChecker checker(2);
  checker.observe(0, batch(1, 0));
  checker.observe(0, batch(3, 0));
  ASSERT_TRUE(checker.failure());
  EXPECT_EQ(checker.failure()->checker, "execution-order");
  EXPECT_EQ(checker.failure()->details, "replica 0 skipped to seq 3 after executing seq 1");
}

TEST(ExecutionOrderChecker, CatchesARepeat) {
  ExecutionOrderChecker checker(2);
  checker.observe(1, batch(1, 0));
  checker.observe(1, batch(2, 0));
  checker.observe(1, batch(2, 0));
  ASSERT_TRUE(checker.failure());
  EXPECT_EQ(checker.failure()->details, "replica 1 re-executed seq 2 after executing seq 2");
}

StateInstalled install(Seq seq, uint8_t digest_byte) {
  return StateInstalled{seq, digest_of(digest_byte), 100};
}

TEST(AgreementChecker, RemembersTheAnnouncedCheckpointDigest) {
  AgreementChecker checker;
  EXPECT_FALSE(checker.checkpoint_digest(8));
  checker.observe_checkpoint(0, 8, digest_of(0x11));
  checker.observe_checkpoint(1, 8, digest_of(0x11));
  EXPECT_FALSE(checker.failure());
  EXPECT_EQ(checker.checkpoint_digest(8), digest_of(0x11));
}

TEST(AgreementChecker, CatchesDivergentCheckpointStates) {
  AgreementChecker checker;
  checker.observe_checkpoint(0, 16, digest_of(0x11));
  checker.observe_checkpoint(2, 16, digest_of(0x22));
  ASSERT_TRUE(checker.failure());
  EXPECT_EQ(checker.failure()->checker, "agreement");
  EXPECT_NE(checker.failure()->details.find("checkpoint 16: replica 0 announced state"),
            std::string::npos);
  EXPECT_NE(checker.failure()->details.find("replica 2"), std::string::npos);
}

TEST(ExecutionOrderChecker, AcceptsAJumpByStateTransfer) {
  ExecutionOrderChecker checker(2);
  checker.observe(1, batch(1, 0));
  checker.observe(1, batch(2, 0));
  checker.observe_install(1, install(16, 0x11), digest_of(0x11));
  checker.observe(1, batch(17, 0));
  EXPECT_FALSE(checker.failure());
  EXPECT_EQ(checker.last_executed(1), 17u);
}

TEST(ExecutionOrderChecker, CatchesAnInstallThatGoesBack) {
  ExecutionOrderChecker checker(2);
  for (Seq s = 1; s <= 9; s++) checker.observe(0, batch(s, 0));
  checker.observe_install(0, install(8, 0x11), digest_of(0x11));
  ASSERT_TRUE(checker.failure());
  EXPECT_EQ(checker.failure()->details, "replica 0 installed checkpoint 8 after executing seq 9");
}

TEST(ExecutionOrderChecker, CatchesAnInstalledStateNobodyHad) {
  ExecutionOrderChecker wrong(2);
  wrong.observe_install(1, install(8, 0x33), digest_of(0x11));
  ASSERT_TRUE(wrong.failure());
  EXPECT_NE(wrong.failure()->details.find("but the replicas announced state"), std::string::npos);

  ExecutionOrderChecker unannounced(2);
  unannounced.observe_install(1, install(8, 0x33), std::nullopt);
  ASSERT_TRUE(unannounced.failure());
  EXPECT_NE(unannounced.failure()->details.find("which no replica announced"), std::string::npos);
}

TEST(ExecutionOrderChecker, AWipeStartsTheReplicaOver) {
  ExecutionOrderChecker checker(2);
  for (Seq s = 1; s <= 5; s++) checker.observe(1, batch(s, 0));
  checker.observe_wipe(1);
  checker.observe(1, batch(1, 0));  // executing from the empty state again
  EXPECT_FALSE(checker.failure());
  checker.observe(1, batch(3, 0));
  ASSERT_TRUE(checker.failure());
  EXPECT_EQ(checker.failure()->details, "replica 1 skipped to seq 3 after executing seq 1");
}

TEST(ExactlyOnceChecker, AnInstallBringsTheInstalledStatesRecord) {
  ExactlyOnceChecker checker(4);
  checker.observe(0, batch(1, 1, {fresh(7, 5)}));
  checker.observe(0, batch(2, 2, {fresh(8, 1)}));
  // Replica 3 never executed seqs 1 and 2: it installs the state after 2,
  // in which client 7's request 5 has run. Running it again is a violation.
  checker.observe_install(3, 2);
  EXPECT_FALSE(checker.failure());
  checker.observe(3, batch(3, 3, {stale(7, 5), fresh(8, 2)}));
  EXPECT_FALSE(checker.failure());
  checker.observe(3, batch(4, 4, {fresh(7, 5)}));
  ASSERT_TRUE(checker.failure());
  EXPECT_NE(checker.failure()->details.find("replica 3 executed the same request twice: client "
                                            "7 timestamp 5 at seq 4, after timestamp 5 at seq 1"),
            std::string::npos);
}

TEST(ExactlyOnceChecker, AWipeEmptiesTheRecordAndAnInstallRefillsIt) {
  ExactlyOnceChecker checker(4);
  checker.observe(0, batch(1, 1, {fresh(7, 5)}));
  checker.observe(2, batch(1, 1, {fresh(7, 5)}));
  checker.observe_wipe(2);
  // The wiped replica's state is empty: executing seq 1 again is no violation.
  checker.observe(2, batch(1, 1, {fresh(7, 5)}));
  EXPECT_FALSE(checker.failure());
  // But after a wipe and an install of the state after seq 1, request 5 is
  // part of the state again.
  checker.observe_wipe(2);
  checker.observe_install(2, 1);
  checker.observe(2, batch(2, 2, {fresh(7, 5)}));
  ASSERT_TRUE(checker.failure());
  EXPECT_EQ(checker.failure()->checker, "exactly-once");
}

TEST(ExactlyOnceChecker, CatchesAStateThatNobodyExecuted) {
  ExactlyOnceChecker checker(4);
  checker.observe(0, batch(1, 1, {fresh(7, 5)}));
  checker.observe_install(1, 8);
  ASSERT_TRUE(checker.failure());
  EXPECT_EQ(checker.failure()->details,
            "replica 1 installed checkpoint 8, but no replica executed seq 2");
}

Message prepare_message(ReplicaId sender, Seq seq, uint8_t digest_byte) {
  Prepare p;
  p.view = 0;
  p.seq = seq;
  p.digest = digest_of(digest_byte);
  p.sender = sender;
  return p;
}

TEST(RecoverySilenceChecker, LetsARecoveringReplicaFetchButNotVote) {
  RecoverySilenceChecker checker;
  checker.observe_send(2, true, StatusMessage{0, 0, 0, true, false, 2, {}});
  checker.observe_send(2, true, Fetch{8, 0, 3, 0, 2, {}});
  checker.observe_send(2, true, Checkpoint{8, digest_of(1), 2, {}});
  EXPECT_FALSE(checker.failure());
  checker.observe_send(2, true, prepare_message(2, 9, 0xaa));
  ASSERT_TRUE(checker.failure());
  EXPECT_EQ(checker.failure()->checker, "recovery-silence");
  EXPECT_EQ(checker.failure()->details, "replica 2 sent prepare v0 s9 while recovering");
}

TEST(RecoverySilenceChecker, CatchesAVoteThatContradictsOneFromBeforeAWipe) {
  RecoverySilenceChecker checker;
  checker.observe_send(1, false, prepare_message(1, 5, 0xaa));
  checker.observe_send(1, false, prepare_message(1, 5, 0xaa));  // a retransmission
  // A relayed prepare of replica 3 is replica 3's vote, not replica 1's.
  checker.observe_send(1, false, prepare_message(3, 5, 0xbb));
  EXPECT_FALSE(checker.failure());
  checker.observe_send(1, false, prepare_message(1, 5, 0xcc));
  ASSERT_TRUE(checker.failure());
  EXPECT_NE(checker.failure()->details.find("replica 1 sent prepare v0 s5 for batch"),
            std::string::npos);
}

TEST(CatchUp, AcceptsFailedReplicasThatReachedTheStableCheckpoint) {
  std::vector<ReplicaEnd> ends = {
      {0, {}, true, 80, 80},
      {1, {NodeFault::wipe}, false, 80, 72},
      {2, {}, false, 12, 8},  // the badstate replica: no mark, no duty
      {3, {}, true, 76, 72},
  };
  EXPECT_FALSE(check_catch_up(ends));
}

TEST(CatchUp, CatchesAReplicaLeftBehind) {
  std::vector<ReplicaEnd> ends = {
      {0, {}, true, 80, 80},
      {1, {NodeFault::crash, NodeFault::lag}, false, 48, 48},
      {2, {}, true, 80, 72},
  };
  const std::optional<Failure> failure = check_catch_up(ends);
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->checker, "catch-up");
  EXPECT_EQ(failure->details,
            "replica 1 (crash, lag) executed up to seq 48, below the stable checkpoint 80 of the "
            "replicas that stayed correct");
}

TEST(BoundedMemoryChecker, CatchesAMessageStorm) {
  BoundedMemoryChecker checker(32, 100);
  checker.observe_network(BoundedMemoryChecker::network_queued_max);
  EXPECT_FALSE(checker.failure());
  checker.observe_network(BoundedMemoryChecker::network_queued_max + 1);
  ASSERT_TRUE(checker.failure());
  EXPECT_EQ(checker.failure()->checker, checker_name::bounded_memory);
  EXPECT_NE(checker.failure()->details.find("message storm"), std::string::npos);
}

TEST(BoundedMemoryChecker, AcceptsALogWithinTheWindow) {
  BoundedMemoryChecker checker(32, 100);
  checker.observe(0, 32, 100);
  EXPECT_FALSE(checker.failure());
}

TEST(BoundedMemoryChecker, CatchesALogBeyondTheWindow) {
  BoundedMemoryChecker checker(32, 100);
  checker.observe(2, 33, 0);
  ASSERT_TRUE(checker.failure());
  EXPECT_EQ(checker.failure()->checker, "bounded-memory");
  EXPECT_EQ(checker.failure()->details,
            "replica 2 holds 33 sequence numbers in its log, more than the log window of 32");
}

TEST(BoundedMemoryChecker, CatchesTooManyPendingRequests) {
  BoundedMemoryChecker checker(32, 100);
  checker.observe(1, 0, 101);
  ASSERT_TRUE(checker.failure());
  EXPECT_EQ(checker.failure()->details, "replica 1 holds 101 pending requests, more than 100");
}

history::Entry op(ClientId client, history::OpKind kind, std::optional<std::string> value,
                  uint64_t call, std::optional<uint64_t> ret) {
  history::Entry e;
  e.client = client;
  e.op = kind;
  e.key = "k0";
  e.value = std::move(value);
  e.call_ns = call;
  e.return_ns = ret;
  e.status = ret ? history::Outcome::ok : history::Outcome::unknown;
  return e;
}

TEST(Linearizability, AcceptsAConcurrentHistoryWithAnOrder) {
  using history::OpKind;
  const std::vector<history::Entry> entries = {
      op(0, OpKind::put, "c0.1", 0, 10),
      op(1, OpKind::put, "c1.1", 5, 15),    // concurrent with c0.1
      op(2, OpKind::get, "c0.1", 12, 20),   // c1.1 then c0.1 is an order
      op(3, OpKind::append, "+c3.1", 30, std::nullopt),  // may or may not have happened
  };
  EXPECT_FALSE(check_linearizability(entries, 1'000'000));
}

TEST(Linearizability, CatchesAStaleRead) {
  using history::OpKind;
  const std::vector<history::Entry> entries = {
      op(0, OpKind::put, "c0.1", 0, 10),
      op(0, OpKind::put, "c0.2", 20, 30),
      op(1, OpKind::get, "c0.1", 40, 50),  // c0.2 completed before this read began
  };
  const std::optional<Failure> failure = check_linearizability(entries, 1'000'000);
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->checker, "linearizability");
  EXPECT_FALSE(failure->details.empty());
}

TEST(Linearizability, AnExhaustedSearchBudgetIsAFailure) {
  using history::OpKind;
  std::vector<history::Entry> entries;
  for (ClientId c = 0; c < 6; c++) {
    entries.push_back(op(c, OpKind::append, "+c" + std::to_string(c), c, 100 + c));
  }
  entries.push_back(op(6, OpKind::get, "+c5+c4+c3+c2+c1+c0", 200, 210));
  ASSERT_FALSE(check_linearizability(entries, 10'000'000));
  entries.back().value = "+c0+c1+c2+c3+c4+c5";
  ASSERT_FALSE(check_linearizability(entries, 10'000'000));
  const std::optional<Failure> failure = check_linearizability(entries, 1);
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->checker, "linearizability");
  EXPECT_NE(failure->details.find("did not finish"), std::string::npos);
}

TEST(Liveness, AcceptsClientsThatFinishedInTime) {
  const std::vector<ClientProgress> clients = {
      {0, 20, 20, 5 * ns_per_s, std::nullopt},
      {1, 20, 20, 1 * ns_per_s, std::nullopt},
  };
  EXPECT_FALSE(check_liveness(clients, 2 * ns_per_s, 10 * ns_per_s));
}

TEST(Liveness, CatchesAnIncompleteClient) {
  const std::vector<ClientProgress> clients = {
      {0, 20, 20, 5 * ns_per_s, std::nullopt},
      {1, 13, 20, 3 * ns_per_s, 3 * ns_per_s + 500 * ns_per_ms},
  };
  const std::optional<Failure> failure = check_liveness(clients, 2 * ns_per_s, 10 * ns_per_s);
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->checker, "liveness");
  EXPECT_EQ(failure->details,
            "client 1 completed 13 of 20 requests; the bound is 10.000 s after the fault phase "
            "ended at 2.000 s; request 14 was outstanding since 3.500 s");
}

TEST(Liveness, CatchesAClientThatFinishedTooLate) {
  const std::vector<ClientProgress> clients = {{4, 20, 20, 12 * ns_per_s + 1, std::nullopt}};
  const std::optional<Failure> failure = check_liveness(clients, 2 * ns_per_s, 10 * ns_per_s);
  ASSERT_TRUE(failure);
  EXPECT_NE(failure->details.find("client 4 completed its last request at 12.000 s"),
            std::string::npos);
}

// ---------------------------------------------------------------- write-ahead

std::shared_ptr<const Message> prepare_by(ReplicaId sender, View v, Seq s, uint8_t d) {
  return std::make_shared<const Message>(Prepare{v, s, digest_of(d), sender, {}});
}
Effect persisted(std::shared_ptr<const Message> m) { return Persist{{SentRecord{std::move(m)}}}; }
Effect sent(std::shared_ptr<const Message> m) {
  return Send{Destination::all_replicas(), std::move(m)};
}

TEST(WriteAheadChecker, AcceptsASendAfterItsRecord) {
  WriteAheadChecker checker;
  auto p = prepare_by(1, 0, 1, 0xaa);
  checker.observe(1, Effects{{persisted(p), sent(p)}});
  checker.observe(1, Effects{{sent(p)}});  // a retransmission: recorded before
  EXPECT_FALSE(checker.failure());
}

TEST(WriteAheadChecker, CatchesASendBeforeItsRecord) {
  WriteAheadChecker checker;
  auto p = prepare_by(1, 0, 1, 0xaa);
  checker.observe(1, Effects{{sent(p), persisted(p)}});
  ASSERT_TRUE(checker.failure());
  EXPECT_EQ(checker.failure()->checker, checker_name::write_ahead);
  EXPECT_NE(checker.failure()->details.find("prepare v0 s1"), std::string::npos);
}

TEST(WriteAheadChecker, ARecordCoversOnlyItsOwnMessage) {
  WriteAheadChecker checker;
  checker.observe(1, Effects{{persisted(prepare_by(1, 0, 1, 0xaa)),
                              sent(prepare_by(1, 0, 1, 0xbb))}});  // another digest
  EXPECT_TRUE(checker.failure());
}

TEST(WriteAheadChecker, CatchesAVoteInAViewAboveTheRecordedOne) {
  WriteAheadChecker checker;
  auto p = prepare_by(1, 2, 1, 0xaa);
  checker.observe(1, Effects{{persisted(p), sent(p)}});
  ASSERT_TRUE(checker.failure());
  EXPECT_NE(checker.failure()->details.find("recorded view 0"), std::string::npos);

  WriteAheadChecker ok;
  ok.observe(1, Effects{{Persist{{ViewRecord{2, false}, SentRecord{p}}}, sent(p)}});
  EXPECT_FALSE(ok.failure());
}

TEST(WriteAheadChecker, RelaysAndUnboundMessagesNeedNoRecord) {
  WriteAheadChecker checker;
  checker.observe(1, Effects{{sent(prepare_by(2, 0, 1, 0xaa))}});  // replica 2's prepare
  StatusMessage status;
  status.sender = 1;
  checker.observe(1, Effects{{sent(std::make_shared<const Message>(status))}});
  EXPECT_FALSE(checker.failure());
}

TEST(WriteAheadChecker, ANewViewCoversThePrePreparesOfItsO) {
  WriteAheadChecker checker;
  NewView nv;
  nv.view = 1;
  nv.sender = 1;
  nv.pre_prepares.push_back(PrePrepare{1, 5, digest_of(0xaa), 1, {}, {}});
  auto nv_message = std::make_shared<const Message>(nv);
  auto pp = std::make_shared<const Message>(PrePrepare{1, 5, digest_of(0xaa), 1, {}, {}});
  checker.observe(1, Effects{{Persist{{ViewRecord{1, false}, SentRecord{nv_message}}},
                              sent(nv_message), sent(pp)}});
  EXPECT_FALSE(checker.failure());
}

TEST(WriteAheadChecker, AWipedReplicaHasNoRecords) {
  WriteAheadChecker checker;
  auto p = prepare_by(1, 0, 1, 0xaa);
  checker.observe(1, Effects{{persisted(p)}});
  checker.forget(1);
  checker.observe(1, Effects{{sent(p)}});
  EXPECT_TRUE(checker.failure());
}

}  // namespace
}  // namespace pbft::sim
