// Scenario tests of the normal case, one per rule of PBFT.md "Normal case"
// (Castro and Liskov, OSDI 1999, section 4.2). Each test scripts which
// messages are delivered, dropped or forged, then asserts on the effects.

#include <gtest/gtest.h>

#include <algorithm>

#include "core_harness.h"

namespace pbft::testing {
namespace {

// Replica 0 is the primary of view 0; 1..3 are backups (n = 4, f = 1).
constexpr ReplicaId primary = 0;

TEST(NormalCase, PrimaryAssignsNextSequenceNumberAndMulticastsPrePrepare) {
  Cluster c;
  ASSERT_TRUE(c.deliver(primary, c.make_request(0, 1, put("k", "v"))));
  auto sends = c.drain(primary);
  auto pps = sent<PrePrepare>(sends);
  ASSERT_EQ(pps.size(), 1u);
  EXPECT_EQ(pps[0].view, 0u);
  EXPECT_EQ(pps[0].seq, 1u);
  EXPECT_EQ(pps[0].batch.size(), 1u);
  EXPECT_EQ(pps[0].digest, batch_digest(c.crypto(primary), pps[0].batch));
  EXPECT_EQ(sends[0].to.kind, Destination::Kind::all_replicas);
}

TEST(NormalCase, BackupAcceptsValidPrePrepareAndMulticastsPrepare) {
  Cluster c;
  auto pp = c.make_pre_prepare(primary, 0, 1, {c.make_request(0, 1, put("k", "v"))});
  ASSERT_TRUE(c.deliver(1, pp));
  auto prepares = sent<Prepare>(c.drain(1));
  ASSERT_EQ(prepares.size(), 1u);
  EXPECT_EQ(prepares[0].seq, 1u);
  EXPECT_EQ(prepares[0].digest, pp.digest);
  EXPECT_EQ(prepares[0].sender, 1u);
}

// Rule: the pre-prepare is authentic (signed by the primary of its view).
// The write-ahead rule (replica.h, Persist): the records of one input come
// as one Persist at the head of its effects, before every send, and cover
// the binding messages it sends (a COMMIT with its prepared certificate),
// synced; an execution is recorded without a sync (a reply binds nobody).
TEST(WriteAhead, OneInputsRecordsComeAsOnePersistAtTheHead) {
  Cluster c;
  auto pp = c.make_pre_prepare(primary, 0, 1, {c.make_request(0, 1, put("k", "v"))});
  ASSERT_TRUE(c.deliver(1, pp));
  (void)c.drain(1);
  // Replica 1 gets the two prepares it needs, then the commits: it sends
  // its COMMIT, executes and replies, all on the last commit's input.
  ASSERT_TRUE(c.deliver(1, c.make_prepare(2, 0, 1, pp.digest)));
  Effects prepared = c.replica(1).take_effects();
  ASSERT_FALSE(prepared.list.empty());
  ASSERT_TRUE(std::holds_alternative<Persist>(prepared.list.front()));
  const Persist& persist = std::get<Persist>(prepared.list.front());
  EXPECT_TRUE(persist.sync);
  ASSERT_EQ(persist.records.size(), 2u);
  ASSERT_TRUE(std::holds_alternative<PreparedRecord>(persist.records[0]));
  EXPECT_EQ(std::get<PreparedRecord>(persist.records[0]).certificate.pre_prepare.digest, pp.digest);
  EXPECT_EQ(std::get<PreparedRecord>(persist.records[0]).certificate.prepares.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<Commit>(*std::get<SentRecord>(persist.records[1]).message));
  EXPECT_EQ(prepared.all<Persist>().size(), 1u);
  EXPECT_EQ(sent<Commit>(prepared.all<Send>()).size(), 1u);

  ASSERT_TRUE(c.deliver(1, c.make_commit(2, 0, 1, pp.digest)));
  ASSERT_TRUE(c.deliver(1, c.make_commit(3, 0, 1, pp.digest)));
  Effects executed = c.replica(1).take_effects();
  EXPECT_EQ(executed.all<Executed>().size(), 1u);
  EXPECT_EQ(sent<Reply>(executed.all<Send>()).size(), 1u);
  const std::vector<Persist> persists = executed.all<Persist>();
  ASSERT_EQ(persists.size(), 1u);
  const Persist& execution = persists[0];
  EXPECT_FALSE(execution.sync) << "a reply binds nobody";
  ASSERT_EQ(execution.records.size(), 1u);
  EXPECT_EQ(std::get<ExecutedRecord>(execution.records[0]).seq, 1u);
}

TEST(PrePrepareRules, ForgedSignatureIsRejectedByTheVerifier) {
  Cluster c;
  auto pp = c.make_pre_prepare(primary, 0, 1, {c.make_request(0, 1, put("k", "v"))});
  pp.signature[0] ^= 1;
  EXPECT_FALSE(c.deliver(1, pp));
  EXPECT_TRUE(c.drain(1).empty());
}

TEST(PrePrepareRules, PrePrepareFromABackupIsRejected) {
  Cluster c;
  // Correctly signed by replica 2, but 2 is not the primary of view 0.
  auto pp = c.make_pre_prepare(2, 0, 1, {c.make_request(0, 1, put("k", "v"))});
  ASSERT_TRUE(c.deliver(1, pp));
  EXPECT_TRUE(sent<Prepare>(c.drain(1)).empty());
  EXPECT_EQ(c.replica(1).counters().dropped(DropReason::pre_prepare_not_primary), 1u);
  EXPECT_EQ(c.replica(1).counters().dropped_total(), 1u);
}

// Rule: the backup is in view v.
TEST(PrePrepareRules, PrePrepareForAnotherViewIsIgnored) {
  Cluster c;
  // Replica 1 is the primary of view 1; the backups are still in view 0.
  auto pp = c.make_pre_prepare(1, 1, 1, {c.make_request(0, 1, put("k", "v"))});
  ASSERT_TRUE(c.deliver(2, pp));
  EXPECT_TRUE(sent<Prepare>(c.drain(2)).empty());
  EXPECT_EQ(c.replica(2).counters().dropped(DropReason::pre_prepare_wrong_view), 1u);
  EXPECT_EQ(c.replica(2).counters().dropped_total(), 1u);
}

// Rule: no other pre-prepare was accepted for (v, s) with another digest.
TEST(PrePrepareRules, EquivocatingSecondPrePrepareForTheSameSlotIsRejected) {
  Cluster c;
  auto first = c.make_pre_prepare(primary, 0, 1, {c.make_request(0, 1, put("k", "a"))});
  auto second = c.make_pre_prepare(primary, 0, 1, {c.make_request(1, 1, put("k", "b"))});
  ASSERT_TRUE(c.deliver(1, first));
  EXPECT_EQ(sent<Prepare>(c.drain(1)).size(), 1u);
  ASSERT_TRUE(c.deliver(1, second));
  EXPECT_TRUE(sent<Prepare>(c.drain(1)).empty());
  EXPECT_EQ(c.replica(1).counters().dropped(DropReason::pre_prepare_equivocation), 1u);
  EXPECT_EQ(c.replica(1).counters().dropped_total(), 1u);
}

// Rule: h < s <= H.
TEST(PrePrepareRules, SequenceNumbersOutsideTheWatermarksAreIgnored) {
  Cluster c;
  const Seq high = c.replica(1).high_watermark();
  EXPECT_EQ(high, c.config().log_window);
  auto zero = c.make_pre_prepare(primary, 0, 0, {c.make_request(0, 1, put("k", "a"))});
  auto above = c.make_pre_prepare(primary, 0, high + 1, {c.make_request(0, 2, put("k", "b"))});
  auto at = c.make_pre_prepare(primary, 0, high, {c.make_request(0, 3, put("k", "c"))});
  ASSERT_TRUE(c.deliver(1, zero));
  ASSERT_TRUE(c.deliver(1, above));
  EXPECT_TRUE(sent<Prepare>(c.drain(1)).empty());
  EXPECT_EQ(c.replica(1).counters().dropped(DropReason::pre_prepare_outside_window), 2u);
  EXPECT_EQ(c.replica(1).counters().dropped_total(), 2u);
  ASSERT_TRUE(c.deliver(1, at));
  EXPECT_EQ(sent<Prepare>(c.drain(1)).size(), 1u);
}

// Rule: the digest matches the batch.
TEST(PrePrepareRules, DigestThatDoesNotMatchTheBatchIsRejected) {
  Cluster c;
  auto pp = c.make_pre_prepare(primary, 0, 1, {c.make_request(0, 1, put("k", "v"))});
  // The primary signs (v, s, d) for one batch and ships another.
  pp.batch = {c.make_request(1, 1, put("k", "other"))};
  // The signature covers (v, s, d) only, and the batch is not the one it
  // signed: the verifier hashes the batch and refuses it before checking
  // any request (the core's own check, pre_prepare_bad_digest, stays for
  // other paths: a batch adopted for a NEW-VIEW slot).
  EXPECT_FALSE(c.deliver(1, pp));
  EXPECT_TRUE(sent<Prepare>(c.drain(1)).empty());
  EXPECT_EQ(c.replica(1).counters().dropped_total(), 0u);
}

// Rule: every request in the batch is authentic. The "big MAC" attack
// (Aardvark): a request whose MAC is valid for the primary but not for a
// backup; the backup must not accept the batch.
TEST(PrePrepareRules, BatchWithARequestInauthenticForThisBackupIsRejected) {
  Cluster c;
  Request r = c.make_request(0, 1, put("k", "v"));
  r.authenticator[1][0] ^= 1;  // corrupt only replica 1's MAC
  auto pp = c.make_pre_prepare(primary, 0, 1, {r});
  EXPECT_FALSE(c.deliver(1, pp));
  EXPECT_TRUE(c.deliver(2, pp));  // replica 2's MAC is intact
}

// prepared(m, v, s, i): pre-prepare plus 2f prepares from distinct backups
// that match it; only then does i multicast COMMIT.
TEST(Prepared, NeedsTwoFMatchingPreparesFromDistinctBackups) {
  Cluster c;
  auto pp = c.make_pre_prepare(primary, 0, 1, {c.make_request(0, 1, put("k", "v"))});
  ASSERT_TRUE(c.deliver(1, pp));
  c.drain(1);  // replica 1's own prepare counts as one of the 2f

  Digest wrong = pp.digest;
  wrong[0] ^= 1;
  ASSERT_TRUE(c.deliver(1, c.make_prepare(2, 0, 1, wrong)));      // another digest
  ASSERT_TRUE(c.deliver(1, c.make_prepare(primary, 0, 1, pp.digest)));  // the primary
  EXPECT_TRUE(sent<Commit>(c.drain(1)).empty());

  ASSERT_TRUE(c.deliver(1, c.make_prepare(3, 0, 1, pp.digest)));
  auto commits = sent<Commit>(c.drain(1));
  ASSERT_EQ(commits.size(), 1u);
  EXPECT_EQ(commits[0].digest, pp.digest);
}

TEST(Prepared, ADuplicatePrepareFromOneBackupCountsOnce) {
  Cluster c(small_config(2));  // n = 7: 2f = 4 prepares needed
  auto pp = c.make_pre_prepare(primary, 0, 1, {c.make_request(0, 1, put("k", "v"))});
  ASSERT_TRUE(c.deliver(1, pp));
  c.drain(1);
  for (int i = 0; i < 3; i++) ASSERT_TRUE(c.deliver(1, c.make_prepare(2, 0, 1, pp.digest)));
  ASSERT_TRUE(c.deliver(1, c.make_prepare(3, 0, 1, pp.digest)));
  EXPECT_TRUE(sent<Commit>(c.drain(1)).empty());  // 1, 2, 3: three distinct
  ASSERT_TRUE(c.deliver(1, c.make_prepare(4, 0, 1, pp.digest)));
  EXPECT_EQ(sent<Commit>(c.drain(1)).size(), 1u);
}

TEST(Prepared, PreparesBeforeThePrePrepareAreKeptAndCount) {
  Cluster c;
  auto pp = c.make_pre_prepare(primary, 0, 1, {c.make_request(0, 1, put("k", "v"))});
  ASSERT_TRUE(c.deliver(1, c.make_prepare(2, 0, 1, pp.digest)));
  EXPECT_TRUE(c.drain(1).empty());
  ASSERT_TRUE(c.deliver(1, pp));
  auto sends = c.drain(1);
  EXPECT_EQ(sent<Prepare>(sends).size(), 1u);
  EXPECT_EQ(sent<Commit>(sends).size(), 1u);  // own prepare + replica 2's = 2f
}

// Replica::wants: hosts skip the signature (MAC) of a vote that can no
// longer change anything, and hand prepares to keep_unchecked instead.
TEST(Votes, APrepareForAPreparedSlotAndACommitForACommittedOneAreNotWanted) {
  Cluster c;
  auto pp = c.make_pre_prepare(primary, 0, 1, {c.make_request(0, 1, put("k", "v"))});
  const Message late_prepare = c.make_prepare(3, 0, 1, pp.digest);
  const Message late_commit = c.make_commit(3, 0, 1, pp.digest);
  EXPECT_TRUE(c.replica(1).wants(late_prepare));  // no slot yet
  ASSERT_TRUE(c.deliver(1, pp));
  c.drain(1);
  EXPECT_TRUE(c.replica(1).wants(late_prepare));  // pre-prepared only
  ASSERT_TRUE(c.deliver(1, c.make_prepare(2, 0, 1, pp.digest)));
  c.drain(1);  // prepared: its commit is out
  // Replica 3 has not voted lately: its late prepare is still checked, to
  // learn that it votes (leaves_batch_unchecked); once counted, the next
  // late one within half a horizon is not wanted.
  EXPECT_TRUE(c.replica(1).wants(late_prepare));
  ASSERT_TRUE(c.deliver(1, late_prepare));
  c.drain(1);
  EXPECT_FALSE(c.replica(1).wants(late_prepare));
  EXPECT_TRUE(c.replica(1).wants(Message{c.make_prepare(3, 0, 2, pp.digest)}));  // another slot
  EXPECT_TRUE(c.replica(1).wants(Message{c.make_prepare(3, 1, 1, pp.digest)}));  // another view
  EXPECT_TRUE(c.replica(1).wants(late_commit));
  ASSERT_TRUE(c.deliver(1, c.make_commit(2, 0, 1, pp.digest)));
  ASSERT_TRUE(c.deliver(1, c.make_commit(primary, 0, 1, pp.digest)));
  c.drain(1);
  EXPECT_EQ(c.replica(1).last_executed(), 1u);
  EXPECT_FALSE(c.replica(1).wants(late_commit));
  EXPECT_TRUE(c.replica(1).wants(Message{c.make_checkpoint(3, 16, Digest{})}));  // not a vote
}

// Replica 1 (a backup) prepares sequence number 1 with replica 2's prepare.
PrePrepare prepare_slot_one_at_backup_one(Cluster& c) {
  auto pp = c.make_pre_prepare(primary, 0, 1, {c.make_request(0, 1, put("k", "v"))});
  EXPECT_TRUE(c.deliver(1, pp));
  EXPECT_TRUE(c.deliver(1, c.make_prepare(2, 0, 1, pp.digest)));
  c.drain(1);
  return pp;
}

// The senders of the prepares replica `from` relays for its slots when
// `lagging` says (STATUS) it executed nothing yet, in order. The slots are
// a status interval old by then (younger ones are not retransmitted).
std::vector<ReplicaId> prepares_relayed(Cluster& c, ReplicaId from, ReplicaId lagging) {
  for (uint64_t t = 0; t < c.config().status_interval_ticks; t++) c.replica(from).tick();
  c.drain(from);  // its own STATUS
  EXPECT_TRUE(c.deliver(from, c.make_status(lagging, 0, false, 0, 0)));
  std::vector<ReplicaId> senders;
  for (const Prepare& p : sent<Prepare>(c.drain(from))) senders.push_back(p.sender);
  std::sort(senders.begin(), senders.end());
  return senders;
}

// STATUS re-sends what a peer has waited a status interval for, not what is
// still on its way: a slot younger than that stays out of the answer (a
// replica's idle STATUS re-sent the whole pipeline, full batches, to it).
TEST(Retransmission, OnlySlotsAStatusIntervalOldAreResent) {
  Cluster c;
  auto pp = prepare_slot_one_at_backup_one(c);
  ASSERT_TRUE(c.deliver(1, c.make_status(2, 0, false, 0, 0)));
  auto young = c.drain(1);
  EXPECT_TRUE(sent<PrePrepare>(young).empty());
  EXPECT_TRUE(sent<Prepare>(young).empty());
  for (uint64_t t = 0; t < c.config().status_interval_ticks; t++) c.replica(1).tick();
  c.drain(1);
  ASSERT_TRUE(c.deliver(1, c.make_status(2, 0, false, 0, 0)));
  auto old = c.drain(1);
  ASSERT_EQ(sent<PrePrepare>(old).size(), 1u);
  EXPECT_EQ(sent<PrePrepare>(old)[0].digest, pp.digest);
  EXPECT_FALSE(sent<Prepare>(old).empty());
}

// A prepare kept unchecked is never counted, but a peer that lags gets it
// (checked first): its sender may be down by then, and a replica that
// recovers silently needs 2f prepares from others.
TEST(Votes, APrepareKeptUncheckedIsCheckedThenRelayedToAPeerThatLags) {
  Cluster c;
  auto pp = prepare_slot_one_at_backup_one(c);
  c.replica(1).keep_unchecked(Message{c.make_prepare(3, 0, 1, pp.digest)});
  EXPECT_EQ(prepares_relayed(c, 1, primary), (std::vector<ReplicaId>{1, 2, 3}));
  EXPECT_EQ(c.replica(1).counters().unchecked_prepares_forged, 0u);
}

TEST(Votes, AForgedPrepareKeptUncheckedIsNeverRelayed) {
  Cluster c;
  auto pp = prepare_slot_one_at_backup_one(c);
  Prepare forged = c.make_prepare(3, 0, 1, pp.digest);
  forged.signature[0] ^= 1;
  c.replica(1).keep_unchecked(Message{forged});
  c.replica(1).keep_unchecked(Message{c.make_prepare(primary, 0, 1, pp.digest)});  // not a backup
  // Replica 2 lags: it gets the prepares of everyone but itself.
  EXPECT_EQ(prepares_relayed(c, 1, 2), (std::vector<ReplicaId>{1}));
  EXPECT_EQ(c.replica(1).counters().unchecked_prepares_forged, 1u);
}

// Anyone may send bytes in a replica's name: a forgery that arrives first
// must not shut out the real prepare.
TEST(Votes, AForgedPrepareKeptUncheckedGivesWayToTheRealOne) {
  Cluster c;
  auto pp = prepare_slot_one_at_backup_one(c);
  Prepare forged = c.make_prepare(3, 0, 1, pp.digest);
  forged.signature[0] ^= 1;
  c.replica(1).keep_unchecked(Message{forged});
  c.replica(1).keep_unchecked(Message{c.make_prepare(3, 0, 1, pp.digest)});
  c.replica(1).keep_unchecked(Message{forged});  // too late: the real one is held, checked
  EXPECT_EQ(prepares_relayed(c, 1, 2), (std::vector<ReplicaId>{1, 3}));
  EXPECT_EQ(c.replica(1).counters().unchecked_prepares_forged, 1u);
}

// Kept prepares never count: a slot that is not prepared keeps none.
TEST(Votes, APrepareKeptUncheckedNeverCountsTowardsPrepared) {
  Cluster c;
  auto pp = c.make_pre_prepare(primary, 0, 1, {c.make_request(0, 1, put("k", "v"))});
  ASSERT_TRUE(c.deliver(1, pp));
  c.drain(1);
  c.replica(1).keep_unchecked(Message{c.make_prepare(2, 0, 1, pp.digest)});
  c.replica(1).keep_unchecked(Message{c.make_prepare(3, 0, 1, pp.digest)});
  EXPECT_TRUE(sent<Commit>(c.drain(1)).empty());
  EXPECT_EQ(prepares_relayed(c, 1, 2), (std::vector<ReplicaId>{1}));  // its own only
}

// Signed requests: f backups per sequence number (at n = 4 one, see
// skipper()) may leave a batch's requests to the others' prepared
// certificate while the backups the certificate needs vote.
ProtocolConfig signed_config() {
  ProtocolConfig config = small_config();
  config.client_auth = RequestAuth::signature;
  return config;
}

// The backup that leaves sequence number s's batch unchecked in view 0
// (n = 4: backups 1, 2, 3 take turns).
ReplicaId skipper(Seq s) { return static_cast<ReplicaId>(1 + s % 3); }

// Runs a few requests through the whole cluster, so every backup has voted.
void warm_up(Cluster& c, int requests = 3) {
  for (int i = 0; i < requests; i++) {
    c.client(0).submit(kv::encode_op(put("w", std::to_string(i))));
    c.run();
  }
}

TEST(BatchChecks, ABackupLeavesABatchUncheckedOnlyInItsTurnAndWhileTheOthersVote) {
  Cluster c(signed_config());
  auto pp = c.make_pre_prepare(primary, 0, 1, {c.make_request(1, 1, put("k", "v"))});
  EXPECT_FALSE(c.replica(skipper(1)).leaves_batch_unchecked(pp));  // nobody voted yet
  warm_up(c);
  const Seq next = c.replica(1).last_executed() + 1;
  pp = c.make_pre_prepare(primary, 0, next, {c.make_request(1, 1, put("k", "v"))});
  for (ReplicaId r = 0; r < 4; r++) {
    EXPECT_EQ(c.replica(r).leaves_batch_unchecked(pp), r == skipper(next)) << "replica " << r;
  }
  EXPECT_FALSE(c.replica(skipper(next)).leaves_batch_unchecked(
      Message{c.make_pre_prepare(primary, 0, next, {})}));  // nothing to check

  Cluster macs;  // MAC'd requests are cheap to check: everyone checks
  warm_up(macs);
  const Seq mac_next = macs.replica(1).last_executed() + 1;
  auto mac_pp = macs.make_pre_prepare(primary, 0, mac_next, {macs.make_request(1, 1, put("k", "v"))});
  for (ReplicaId r = 0; r < 4; r++) EXPECT_FALSE(macs.replica(r).leaves_batch_unchecked(mac_pp));
}

TEST(BatchChecks, TheBackupThatLeftTheBatchSendsNoPrepareAndCommitsOnTheOthersCertificate) {
  Cluster c(signed_config());
  warm_up(c);
  const Seq next = c.replica(1).last_executed() + 1;
  const ReplicaId lazy = skipper(next);
  std::vector<Seq> prepared_by_lazy;
  c.client(0).submit(kv::encode_op(put("k", "v")));
  c.run([&](const Envelope& e, bool, uint32_t) {
    if (e.from == Principal::replica(lazy)) {
      if (const auto* p = std::get_if<Prepare>(e.message.get())) prepared_by_lazy.push_back(p->seq);
    }
    return false;
  });
  EXPECT_TRUE(std::find(prepared_by_lazy.begin(), prepared_by_lazy.end(), next) ==
              prepared_by_lazy.end());
  for (ReplicaId r = 0; r < 4; r++) EXPECT_EQ(c.replica(r).last_executed(), next) << r;
  EXPECT_EQ(to_string(*c.store(lazy).get(Bytes{'k'})), "v");
}

TEST(BatchChecks, WithSevenReplicasTwoBackupsTakeEachTurnAndAllExecute) {
  ProtocolConfig config = small_config(2);
  config.client_auth = RequestAuth::signature;
  Cluster c(config);
  warm_up(c, 7);
  for (int round = 0; round < 6; round++) {  // a whole rotation
    const Seq next = c.replica(1).last_executed() + 1;
    auto pp = c.make_pre_prepare(primary, 0, next, {c.make_request(1, 1, put("k", "v"))});
    int leaving = 0;
    for (ReplicaId r = 0; r < 7; r++) leaving += c.replica(r).leaves_batch_unchecked(pp) ? 1 : 0;
    EXPECT_EQ(leaving, 2) << "seq " << next;
    c.client(0).submit(kv::encode_op(put("k", std::to_string(round))));
    c.run();
    for (ReplicaId r = 0; r < 7; r++) EXPECT_EQ(c.replica(r).last_executed(), next) << r;
  }
}

TEST(BatchChecks, ABackupChecksTheBatchItselfWhenTheCertificateIsLate) {
  Cluster c(signed_config());
  warm_up(c);
  const Seq next = c.replica(1).last_executed() + 1;
  const ReplicaId lazy = skipper(next);
  auto pp = c.make_pre_prepare(primary, 0, next, {c.make_request(1, 1, put("k", "v"))});
  ASSERT_TRUE(c.deliver(lazy, pp));
  EXPECT_TRUE(sent<Prepare>(c.drain(lazy)).empty());
  std::vector<Prepare> prepares;
  for (uint64_t t = 0; t < c.config().status_interval_ticks && prepares.empty(); t++) {
    c.replica(lazy).tick();
    prepares = sent<Prepare>(c.drain(lazy));
  }
  ASSERT_EQ(prepares.size(), 1u);
  EXPECT_EQ(prepares[0].seq, next);
  EXPECT_EQ(prepares[0].digest, pp.digest);
  // A late certificate pauses the skipping for a while: a backup that votes
  // only now and then cannot make every turn wait.
  const Seq again = next + 3;  // the same backup's next turn
  ASSERT_EQ(skipper(again), lazy);
  EXPECT_FALSE(c.replica(lazy).leaves_batch_unchecked(
      Message{c.make_pre_prepare(primary, 0, again, {c.make_request(1, 2, put("k", "w"))})}));
}

TEST(BatchChecks, AForgedRequestInABatchLeftUncheckedIsFoundWhenTheCertificateIsLate) {
  Cluster c(signed_config());
  warm_up(c);
  const Seq next = c.replica(1).last_executed() + 1;
  const ReplicaId lazy = skipper(next);
  Request forged = c.make_request(1, 1, put("k", "stolen"));
  forged.signature[0] ^= 1;
  auto pp = c.make_pre_prepare(primary, 0, next, {forged});  // a faulty primary's batch
  ASSERT_TRUE(c.deliver(lazy, pp));
  for (ReplicaId r = 1; r < 4; r++) {
    if (r != lazy) {
      EXPECT_FALSE(c.deliver(r, pp)) << "replica " << r << " checks it at once";
    }
  }
  const uint64_t rejected = c.replica(lazy).counters().dropped(DropReason::pre_prepare_bad_request);
  for (uint64_t t = 0; t < 2 * c.config().status_interval_ticks; t++) {
    c.replica(lazy).tick();
    EXPECT_TRUE(sent<Prepare>(c.drain(lazy)).empty());
  }
  EXPECT_EQ(c.replica(lazy).counters().dropped(DropReason::pre_prepare_bad_request), rejected + 1);
}

// committed-local: prepared and 2f+1 matching commits (its own counts); then
// the batch executes and each client gets its reply.
TEST(Committed, ExecutesAfterTwoFPlusOneMatchingCommits) {
  Cluster c;
  auto pp = c.make_pre_prepare(primary, 0, 1, {c.make_request(0, 1, put("k", "v"))});
  ASSERT_TRUE(c.deliver(1, pp));
  ASSERT_TRUE(c.deliver(1, c.make_prepare(2, 0, 1, pp.digest)));
  c.drain(1);  // prepared: commit sent (1 of 3)
  ASSERT_TRUE(c.deliver(1, c.make_commit(2, 0, 1, pp.digest)));
  EXPECT_TRUE(c.drain(1).empty());
  EXPECT_EQ(c.replica(1).last_executed(), 0u);
  ASSERT_TRUE(c.deliver(1, c.make_commit(3, 0, 1, pp.digest)));
  auto replies = sent<Reply>(c.drain(1));
  EXPECT_EQ(c.replica(1).last_executed(), 1u);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].client, 0u);
  EXPECT_EQ(replies[0].timestamp, 1u);
  EXPECT_EQ(kv::decode_result(replies[0].result)->code, kv::Code::ok);
  ASSERT_EQ(c.executed(1).size(), 1u);
  EXPECT_EQ(c.executed(1)[0].batch_digest, pp.digest);
}

TEST(Committed, CommitsWithAnotherDigestDoNotCount) {
  Cluster c;
  auto pp = c.make_pre_prepare(primary, 0, 1, {c.make_request(0, 1, put("k", "v"))});
  ASSERT_TRUE(c.deliver(1, pp));
  ASSERT_TRUE(c.deliver(1, c.make_prepare(2, 0, 1, pp.digest)));
  Digest wrong = pp.digest;
  wrong[5] ^= 1;
  ASSERT_TRUE(c.deliver(1, c.make_commit(2, 0, 1, wrong)));
  ASSERT_TRUE(c.deliver(1, c.make_commit(3, 0, 1, wrong)));
  c.drain(1);
  EXPECT_EQ(c.replica(1).last_executed(), 0u);
}

TEST(Committed, ForgedCommitMacIsRejected) {
  Cluster c;
  auto commit = c.make_commit(2, 0, 1, Digest{});
  commit.authenticator[1][3] ^= 0x40;
  EXPECT_FALSE(c.deliver(1, commit));
  commit = c.make_commit(2, 0, 1, Digest{});
  commit.sender = 3;  // claims to be someone else
  EXPECT_FALSE(c.deliver(1, commit));
}

// Execute: batch s runs once committed-local and every batch below s has run.
TEST(Execution, BatchesExecuteInSequenceOrder) {
  Cluster c;
  auto pp1 = c.make_pre_prepare(primary, 0, 1, {c.make_request(0, 1, put("k", "1"))});
  auto pp2 = c.make_pre_prepare(primary, 0, 2, {c.make_request(1, 1, put("k", "2"))});
  auto commit_all = [&](const PrePrepare& pp) {
    ASSERT_TRUE(c.deliver(1, pp));
    ASSERT_TRUE(c.deliver(1, c.make_prepare(2, 0, pp.seq, pp.digest)));
    ASSERT_TRUE(c.deliver(1, c.make_commit(2, 0, pp.seq, pp.digest)));
    ASSERT_TRUE(c.deliver(1, c.make_commit(3, 0, pp.seq, pp.digest)));
  };
  commit_all(pp2);
  c.drain(1);
  EXPECT_EQ(c.replica(1).last_executed(), 0u);  // 2 waits for 1
  commit_all(pp1);
  c.drain(1);
  EXPECT_EQ(c.replica(1).last_executed(), 2u);
  ASSERT_EQ(c.executed(1).size(), 2u);
  EXPECT_EQ(c.executed(1)[0].seq, 1u);
  EXPECT_EQ(c.executed(1)[1].seq, 2u);
  EXPECT_EQ(to_string(*c.store(1).get(Bytes{'k'})), "2");
}

// Exactly-once: a request whose t is not above the client's last executed t
// does not execute again, even when a (faulty) primary orders it twice.
TEST(ExactlyOnce, ARequestOrderedTwiceExecutesOnce) {
  Cluster c;
  kv::Op append{kv::OpType::append, Bytes{'k'}, Bytes{'x'}};
  Request r = c.make_request(0, 1, append);
  for (Seq s = 1; s <= 2; s++) {
    auto pp = c.make_pre_prepare(primary, 0, s, {r});
    ASSERT_TRUE(c.deliver(1, pp));
    ASSERT_TRUE(c.deliver(1, c.make_prepare(2, 0, s, pp.digest)));
    ASSERT_TRUE(c.deliver(1, c.make_commit(2, 0, s, pp.digest)));
    ASSERT_TRUE(c.deliver(1, c.make_commit(3, 0, s, pp.digest)));
  }
  c.drain(1);
  EXPECT_EQ(c.replica(1).last_executed(), 2u);
  EXPECT_EQ(to_string(*c.store(1).get(Bytes{'k'})), "x");
  ASSERT_EQ(c.executed(1).size(), 2u);
  EXPECT_TRUE(c.executed(1)[0].requests[0].fresh);
  EXPECT_FALSE(c.executed(1)[1].requests[0].fresh);
}

TEST(ExactlyOnce, RetransmittedRequestGetsTheCachedReply) {
  Cluster c;
  c.client(0).submit(kv::encode_op(put("k", "v")));
  c.run();
  ASSERT_EQ(c.completions(0).size(), 1u);
  const Request again = c.make_request(0, 1, put("k", "v"));
  for (ReplicaId i = 0; i < c.config().n; i++) {
    ASSERT_TRUE(c.deliver(i, again));
    auto replies = sent<Reply>(c.drain(i));
    ASSERT_EQ(replies.size(), 1u) << "replica " << i;
    EXPECT_EQ(replies[0].timestamp, 1u);
    EXPECT_TRUE(sent<PrePrepare>(c.drain(i)).empty());
  }
  c.in_flight().clear();
  // An older timestamp is not executed: it gets a stale reply, which says
  // so (and which timestamp was executed last).
  c.client(0).submit(kv::encode_op(put("k", "w")));
  c.run();
  ASSERT_TRUE(c.deliver(0, c.make_request(0, 1, put("k", "v"))));
  auto replies = sent<Reply>(c.drain(0));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_TRUE(replies[0].stale);
  EXPECT_EQ(replies[0].timestamp, 1u);
  EXPECT_EQ(replies[0].executed_timestamp, 2u);
}

// Runs the cluster until quiet and returns the reply each replica sent a
// client meanwhile (each sends one).
std::map<ReplicaId, Reply> run_recording_replies(Cluster& c) {
  std::map<ReplicaId, Reply> replies;
  c.run([&](const Envelope& env, bool to_client, uint32_t) {
    if (const auto* reply = std::get_if<Reply>(env.message.get()); reply && to_client) {
      EXPECT_FALSE(replies.contains(reply->sender)) << "one reply from each";
      replies[reply->sender] = *reply;
    }
    return false;
  });
  return replies;
}

// Client `client`'s request (t, op) naming `replier`.
Request request_naming(const Cluster& c, ClientId client, Timestamp t, const kv::Op& op,
                       ReplicaId replier) {
  Request r = c.make_request(client, t, op);
  r.replier = replier;
  authenticate(r, c.client_crypto(client), c.config().n);
  return r;
}

// Digest replies: the replier a request names sends the result, the other
// replicas its digest; a result no larger than a digest goes in full from
// all; a re-sent request gets the full result from each (the replier may be
// the faulty one).
TEST(Replies, TheRequestsReplierSendsTheResultAndTheOthersItsDigest) {
  Cluster c;
  const std::string value(100, 'v');
  c.client(0).submit(kv::encode_op(put("k", value)));
  c.run();
  ASSERT_EQ(c.completions(0).size(), 1u);

  const Request read = request_naming(c, 1, 1, get("k"), 2);
  ASSERT_TRUE(c.deliver(primary, read));
  std::map<ReplicaId, Reply> replies = run_recording_replies(c);
  ASSERT_EQ(replies.size(), c.config().n);
  const Reply& full = replies.at(2);
  ASSERT_TRUE(full.full);
  EXPECT_GT(full.result.size(), digest_size);
  for (const auto& [sender, reply] : replies) {
    if (sender == 2) continue;
    EXPECT_FALSE(reply.full) << "replica " << sender;
    EXPECT_TRUE(reply.result.empty()) << "replica " << sender;
    EXPECT_EQ(reply.result_digest, c.crypto(2).digest(full.result)) << "replica " << sender;
  }

  // Re-sent: every replica answers with the full result.
  for (ReplicaId i = 0; i < c.config().n; i++) {
    ASSERT_TRUE(c.deliver(i, read));
    auto resent = sent<Reply>(c.drain(i));
    ASSERT_EQ(resent.size(), 1u) << "replica " << i;
    EXPECT_TRUE(resent[0].full) << "replica " << i;
    EXPECT_EQ(resent[0].result, full.result) << "replica " << i;
  }
  c.in_flight().clear();

  // A small result (a put's) goes in full from every replica.
  const Request write = request_naming(c, 1, 2, put("k", "w"), 2);
  ASSERT_TRUE(c.deliver(primary, write));
  replies = run_recording_replies(c);
  ASSERT_EQ(replies.size(), c.config().n);
  for (const auto& [sender, reply] : replies) {
    EXPECT_LE(reply.result.size(), digest_size);
    EXPECT_TRUE(reply.full) << "replica " << sender;
  }
}

// A request the client re-sent before a replica executed it gets a full
// first reply from that replica: the client may be waiting on a replier
// that sends nothing. And a request naming every replica gets full replies.
TEST(Replies, ARequestReSentBeforeItExecutesAndOneNamingEveryReplicaGetFullReplies) {
  Cluster c;
  c.client(0).submit(kv::encode_op(put("k", std::string(100, 'v'))));
  c.run();
  ASSERT_EQ(c.completions(0).size(), 1u);
  const Request read = request_naming(c, 1, 1, get("k"), 2);
  ASSERT_TRUE(c.deliver(primary, read));  // batched: its pre-prepare is in flight
  ASSERT_TRUE(c.deliver(primary, read));  // the client's retransmission, to all
  ASSERT_TRUE(c.deliver(1, read));
  std::map<ReplicaId, Reply> replies = run_recording_replies(c);
  ASSERT_EQ(replies.size(), c.config().n);
  EXPECT_TRUE(replies.at(primary).full);
  EXPECT_TRUE(replies.at(1).full);
  EXPECT_TRUE(replies.at(2).full) << "the replier";
  EXPECT_FALSE(replies.at(3).full) << "never got the re-sent copy";

  Request everyone = c.make_request(1, 2, get("k"));
  ASSERT_EQ(everyone.replier, every_replica);
  ASSERT_TRUE(c.deliver(primary, everyone));
  replies = run_recording_replies(c);
  ASSERT_EQ(replies.size(), c.config().n);
  for (const auto& [sender, reply] : replies) {
    EXPECT_TRUE(reply.full) << "replica " << sender;
    EXPECT_GT(reply.result.size(), digest_size);
  }
}

TEST(Replies, ARequestNamingNoReplicaAsReplierIsRefused) {
  Cluster c;
  EXPECT_FALSE(c.deliver(primary, request_naming(c, 0, 1, put("k", "v"), c.config().n)));
  EXPECT_TRUE(c.deliver(primary, request_naming(c, 0, 1, put("k", "v"), every_replica)));
}

// Client step 3: a backup that gets a request relays it to the primary.
TEST(Requests, BackupForwardsARequestToThePrimary) {
  Cluster c;
  Request r = c.make_request(0, 1, put("k", "v"));
  ASSERT_TRUE(c.deliver(2, r));
  auto sends = c.drain(2);
  ASSERT_EQ(sends.size(), 1u);
  EXPECT_EQ(sends[0].to.kind, Destination::Kind::replica);
  EXPECT_EQ(sends[0].to.id, primary);
  EXPECT_EQ(std::get<Request>(*sends[0].message), r);
  EXPECT_EQ(c.replica(2).pending_requests(), 1u);
}

// Copies of a request (retransmissions, peers' relays, network duplicates)
// are relayed at most once per status interval: two replicas that disagree
// on the primary must not bounce a request between them, multiplied by
// every duplicate (simulator seed 7123 of --faults all grew without bound).
TEST(Requests, BackupRelaysCopiesOfARequestAtMostOncePerStatusInterval) {
  Cluster c;
  Request r = c.make_request(0, 1, put("k", "v"));
  ASSERT_TRUE(c.deliver(2, r));
  EXPECT_EQ(sent<Request>(c.drain(2)).size(), 1u);
  for (int copy = 0; copy < 10; copy++) ASSERT_TRUE(c.deliver(2, r));
  EXPECT_TRUE(sent<Request>(c.drain(2)).empty()) << "copies within the interval are not relayed";
  for (uint64_t t = 0; t < c.config().status_interval_ticks; t++) c.replica(2).tick();
  c.drain(2);
  ASSERT_TRUE(c.deliver(2, r));
  EXPECT_EQ(sent<Request>(c.drain(2)).size(), 1u) << "a copy after the interval is relayed again";
  Request newer = c.make_request(0, 2, put("k", "w"));
  ASSERT_TRUE(c.deliver(2, newer));
  auto relayed = sent<Request>(c.drain(2));
  ASSERT_EQ(relayed.size(), 1u) << "the client's next request is new: relayed at once";
  EXPECT_EQ(relayed[0].timestamp, 2u);
}

// Lets the first batch (client 0's put a = 0, seq 1) commit at the primary,
// which frees a window of one; returns the pre-prepares the primary sends next.
std::vector<PrePrepare> commit_first_batch_at_primary(Cluster& c) {
  auto pp = c.make_pre_prepare(primary, 0, 1, {c.make_request(0, 1, put("a", "0"))});
  for (ReplicaId b : {1u, 2u}) EXPECT_TRUE(c.deliver(primary, c.make_prepare(b, 0, 1, pp.digest)));
  for (ReplicaId b : {1u, 2u}) EXPECT_TRUE(c.deliver(primary, c.make_commit(b, 0, 1, pp.digest)));
  return sent<PrePrepare>(c.drain(primary));
}

// Batching: at most in_flight_max sequence numbers in flight; requests that
// arrive meanwhile form the next batch, of at most batch_size_max requests.
TEST(Batching, RequestsArrivingWhileTheWindowIsFullFormTheNextBatch) {
  ProtocolConfig config = small_config();
  config.in_flight_max = 1;
  config.batch_size_max = 3;
  Cluster c(config, 6);
  ASSERT_TRUE(c.deliver(primary, c.make_request(0, 1, put("a", "0"))));
  EXPECT_EQ(sent<PrePrepare>(c.drain(primary)).size(), 1u);
  for (ClientId id = 1; id < 6; id++) {
    ASSERT_TRUE(c.deliver(primary, c.make_request(id, 1, put("a", std::to_string(id)))));
  }
  EXPECT_TRUE(sent<PrePrepare>(c.drain(primary)).empty());
  EXPECT_EQ(c.replica(primary).pending_requests(), 5u);
  c.in_flight().clear();

  // Let seq 1 commit at the primary: the next batch takes 3, then 2.
  auto pps = commit_first_batch_at_primary(c);
  ASSERT_EQ(pps.size(), 1u);
  EXPECT_EQ(pps[0].seq, 2u);
  EXPECT_EQ(pps[0].batch.size(), 3u);
  EXPECT_EQ(c.replica(primary).pending_requests(), 2u);
}

// The primary builds a batch's digest from the digests its verifier
// computed for the requests (Verified::request_digests): a client's newer
// request that replaces its pending one brings its own digest along.
TEST(Batching, ABatchDigestCoversThePendingRequestsAsTheyAreWhenBatched) {
  ProtocolConfig config = small_config();
  config.in_flight_max = 1;
  Cluster c(config, 3);
  ASSERT_TRUE(c.deliver(primary, c.make_request(0, 1, put("a", "0"))));
  EXPECT_EQ(sent<PrePrepare>(c.drain(primary)).size(), 1u);
  ASSERT_TRUE(c.deliver(primary, c.make_request(1, 1, put("b", "1"))));
  ASSERT_TRUE(c.deliver(primary, c.make_request(2, 1, put("c", "1"))));
  ASSERT_TRUE(c.deliver(primary, c.make_request(1, 2, put("b", "2"))));  // replaces t = 1
  EXPECT_EQ(c.replica(primary).pending_requests(), 2u);
  c.in_flight().clear();

  auto pps = commit_first_batch_at_primary(c);
  ASSERT_EQ(pps.size(), 1u);
  ASSERT_EQ(pps[0].batch.size(), 2u);
  EXPECT_EQ(pps[0].batch[0].timestamp, 2u) << "client 1's newer request, in its place";
  EXPECT_EQ(pps[0].digest, batch_digest(c.crypto(primary), pps[0].batch));
  // And the backups accept it.
  for (ReplicaId b : {1u, 2u, 3u}) EXPECT_TRUE(c.deliver(b, pps[0]));
  EXPECT_EQ(sent<Prepare>(c.drain(1)).size(), 1u);
}

// Under load the batches grow instead of multiplying: with a batch in
// flight, a partial batch waits for it, and only a full one starts another.
TEST(Batching, WithABatchInFlightOnlyAFullBatchStartsAnother) {
  ProtocolConfig config = small_config();
  config.in_flight_max = 4;
  config.batch_size_max = 3;
  Cluster c(config, 7);
  ASSERT_TRUE(c.deliver(primary, c.make_request(0, 1, put("a", "0"))));
  EXPECT_EQ(sent<PrePrepare>(c.drain(primary)).size(), 1u) << "nothing in flight: it goes at once";
  for (ClientId id = 1; id < 3; id++) {
    ASSERT_TRUE(c.deliver(primary, c.make_request(id, 1, put("a", std::to_string(id)))));
  }
  EXPECT_TRUE(sent<PrePrepare>(c.drain(primary)).empty()) << "two requests are not a full batch";
  ASSERT_TRUE(c.deliver(primary, c.make_request(3, 1, put("a", "3"))));
  auto pps = sent<PrePrepare>(c.drain(primary));
  ASSERT_EQ(pps.size(), 1u) << "a full batch starts a second one in flight";
  EXPECT_EQ(pps[0].seq, 2u);
  EXPECT_EQ(pps[0].batch.size(), 3u);
  EXPECT_EQ(c.replica(primary).pending_requests(), 0u);
}

TEST(Batching, ThePrimaryStopsAssigningAtTheHighWatermark) {
  ProtocolConfig config = small_config();
  config.in_flight_max = config.log_window;
  config.batch_size_max = 1;
  const uint32_t requests = static_cast<uint32_t>(config.log_window) + 3;
  Cluster c(config, requests);
  for (ClientId id = 0; id < requests; id++) {
    ASSERT_TRUE(c.deliver(primary, c.make_request(id, 1, put("a", "b"))));
  }
  auto pps = sent<PrePrepare>(c.drain(primary));
  ASSERT_EQ(pps.size(), config.log_window);
  EXPECT_EQ(pps.back().seq, c.replica(primary).high_watermark());
  EXPECT_EQ(c.replica(primary).pending_requests(), 3u);
}

// Whole-cluster runs with perfect delivery.
TEST(Cluster, ClientsCompleteAndAllReplicasExecuteTheSameBatches) {
  // Until checkpoints move the low watermark, a run must fit in the window.
  ProtocolConfig config = small_config();
  config.log_window = 64;
  Cluster c(config, 2);
  for (int round = 0; round < 20; round++) {
    for (ClientId id = 0; id < 2; id++) {
      ASSERT_TRUE(c.client(id).submit(kv::encode_op(put("k" + std::to_string(id),
                                                        std::to_string(round))))
                      .is_ok());
    }
    c.run();
    for (ClientId id = 0; id < 2; id++) {
      ASSERT_EQ(c.completions(id).size(), static_cast<size_t>(round + 1));
      EXPECT_FALSE(c.client(id).busy());
    }
  }
  for (ReplicaId i = 1; i < c.config().n; i++) {
    ASSERT_EQ(c.executed(i).size(), c.executed(0).size());
    for (size_t k = 0; k < c.executed(0).size(); k++) {
      EXPECT_EQ(c.executed(i)[k].batch_digest, c.executed(0)[k].batch_digest);
    }
    EXPECT_EQ(c.store(i).get(Bytes{'k', '1'}), c.store(0).get(Bytes{'k', '1'}));
  }
}

// Retransmission (Castro's thesis 5.2): a replica that missed every message
// for a slot catches up through STATUS once it notices it is behind.
TEST(Retransmission, ABackupThatMissedASlotCatchesUpThroughStatus) {
  Cluster c;
  c.client(0).submit(kv::encode_op(put("k", "1")));
  c.run([](const Envelope&, bool to_client, uint32_t id) { return !to_client && id == 3; });
  EXPECT_EQ(c.replica(3).last_executed(), 0u);
  ASSERT_EQ(c.completions(0).size(), 1u);

  // The next request's pre-prepare reaches replica 3: it now has a slot it
  // cannot execute, waits a status interval, then asks.
  c.client(0).submit(kv::encode_op(put("k", "2")));
  c.run();
  EXPECT_EQ(c.replica(3).last_executed(), 0u);
  for (int t = 0; t < 2 * static_cast<int>(c.config().status_interval_ticks); t++) {
    c.tick_all();
    c.run();
  }
  EXPECT_EQ(c.replica(3).last_executed(), 2u);
  EXPECT_EQ(to_string(*c.store(3).get(Bytes{'k'})), "2");
  EXPECT_GT(c.replica(0).counters().retransmissions, 0u);
}

// Bounded memory: a backup holds at most one pending request per client and
// at most pending_requests_max in all.
TEST(Bounds, PendingRequestsAreBoundedPerClientAndInTotal) {
  const uint32_t clients = static_cast<uint32_t>(constants::pending_requests_max) + 100;
  Cluster c(small_config(), clients);
  for (Timestamp t = 1; t <= 50; t++) ASSERT_TRUE(c.deliver(1, c.make_request(0, t, get("k"))));
  EXPECT_EQ(c.replica(1).pending_requests(), 1u);
  for (ClientId id = 1; id < clients; id++) {
    ASSERT_TRUE(c.deliver(1, c.make_request(id, 1, get("k"))));
  }
  EXPECT_EQ(c.replica(1).pending_requests(), constants::pending_requests_max);
  EXPECT_GE(c.replica(1).counters().dropped(DropReason::request_superseded) +
                c.replica(1).counters().dropped(DropReason::request_pending_full),
            100u);
}

// Bounded memory: a flood of valid-looking protocol messages for every
// sequence number, inside and far outside the window, leaves at most
// log_window slots in the log.
TEST(Bounds, TheLogHoldsOnlySlotsInsideTheWindow) {
  Cluster c;
  const Seq window = c.config().log_window;
  for (Seq s = 1; s <= 20 * window; s++) {
    ASSERT_TRUE(c.deliver(1, c.make_prepare(2, 0, s, Digest{})));
    ASSERT_TRUE(c.deliver(1, c.make_commit(3, 0, s, Digest{})));
  }
  ASSERT_TRUE(c.deliver(1, c.make_prepare(2, 0, ~Seq{0}, Digest{})));
  EXPECT_EQ(c.replica(1).log_size(), window);
  c.drain(1);
}

}  // namespace
}  // namespace pbft::testing
