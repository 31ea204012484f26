// Scenario tests of a restart from the disk (docs/design.md, "Durability";
// src/core/restore.cpp): a replica that crashed comes back with what it
// recorded and never contradicts what it sent before; acknowledged writes
// and exactly-once survive a restart of every replica.

#include <gtest/gtest.h>

#include "core_harness.h"

namespace pbft::testing {
namespace {

// Runs one operation of client 0 to completion under `drop`.
template <typename Drop>
Bytes run_op(Cluster& c, const kv::Op& op, Drop drop) {
  Result<Timestamp> t = c.client(0).submit(kv::encode_op(op));
  EXPECT_TRUE(t.is_ok());
  c.run(drop);
  for (int tick = 0; tick < 400 && c.client(0).busy(); tick++) {
    c.tick_all();
    c.run(drop);
  }
  EXPECT_FALSE(c.client(0).busy()) << "the operation did not complete";
  return c.completions(0).empty() ? Bytes{} : c.completions(0).back().result;
}

kv::Op append(std::string key, std::string value) {
  return {kv::OpType::append, Bytes(key.begin(), key.end()), Bytes(value.begin(), value.end())};
}

Bytes value_of(const std::string& v) {
  return kv::encode_result({kv::Code::ok, Bytes(v.begin(), v.end())});
}

// The service state, partition by partition.
std::vector<Bytes> partitions(kv::Store& store) {
  std::vector<Bytes> out;
  for (uint64_t p = 0; p < store.partition_count(); p++) {
    out.push_back(store.read_partition(std::nullopt, p));
  }
  return out;
}

TEST(Restart, AReplicaResumesItsStateViewAndCheckpointAndServes) {
  Cluster c(checkpoint_config());
  for (int i = 0; i < 10; i++) run_op(c, put("k" + std::to_string(i % 3), std::to_string(i)), no_drop());
  const Seq executed = c.replica(1).last_executed();
  const Seq stable = c.replica(1).low_watermark();
  ASSERT_GE(stable, 4u);
  c.restart_from_disk(1);
  EXPECT_EQ(c.replica(1).low_watermark(), stable);
  EXPECT_EQ(c.replica(1).last_executed(), executed) << "the batches above the checkpoint replay";
  EXPECT_EQ(c.replica(1).view(), 0u);
  EXPECT_FALSE(c.replica(1).recovering());
  EXPECT_EQ(partitions(c.store(1)), partitions(c.store(0)));
  // It votes again: with replica 3 cut off, no quorum forms without it.
  EXPECT_EQ(run_op(c, get("k1"), isolate(3)), value_of("7"));
  EXPECT_EQ(c.replica(1).last_executed(), executed + 1);
}

// Exactly-once holds across a restart of every replica: the reply table
// comes back with the state, so a request sent again is answered from it
// and not executed a second time.
TEST(Restart, ARequestSentAgainAfterEveryReplicaRestartedIsNotExecutedTwice) {
  Cluster c(checkpoint_config());
  for (int i = 0; i < 5; i++) run_op(c, put("other", std::to_string(i)), no_drop());
  const Request request = c.make_request(1, 1000, append("k", "x"));
  for (ReplicaId r = 0; r < 4; r++) ASSERT_TRUE(c.deliver(r, request));
  c.run();
  for (ReplicaId r = 0; r < 4; r++) c.restart_from_disk(r);
  for (ReplicaId r = 0; r < 4; r++) ASSERT_TRUE(c.deliver(r, request));
  c.run();
  EXPECT_EQ(run_op(c, get("k"), no_drop()), value_of("x"));
}

// A backup that prepared a digest at (v, s) and restarted never prepares
// another one there: an equivocating primary's second pre-prepare is refused.
TEST(Restart, ABackupNeverPreparesAnotherDigestAfterARestart) {
  Cluster c(checkpoint_config());
  const PrePrepare first = c.make_pre_prepare(0, 0, 1, {c.make_request(0, 1, put("k", "a"))});
  ASSERT_TRUE(c.deliver(1, first));
  ASSERT_EQ(sent<Prepare>(c.drain(1)).size(), 1u);
  c.restart_from_disk(1);
  (void)c.drain(1);
  const PrePrepare second = c.make_pre_prepare(0, 0, 1, {c.make_request(0, 1, put("k", "b"))});
  ASSERT_TRUE(c.deliver(1, second));
  EXPECT_TRUE(sent<Prepare>(c.drain(1)).empty());
  EXPECT_EQ(c.replica(1).counters().dropped(DropReason::pre_prepare_equivocation), 1u);
}

// A primary that restarted assigns the next sequence number after every one
// it assigned before, even those that never executed.
TEST(Restart, APrimaryNeverAssignsASequenceNumberTwice) {
  ProtocolConfig config = checkpoint_config();
  config.in_flight_max = 4;  // room for a third batch in flight
  Cluster c(config);
  // Its pre-prepares reach nobody: nothing executes.
  auto from_primary = [](const Envelope& e, bool, uint32_t) {
    return e.from == Principal::replica(0);
  };
  for (Timestamp t = 1; t <= 2; t++) {
    ASSERT_TRUE(c.deliver(0, c.make_request(0, t, put("k", std::to_string(t)))));
    c.run(from_primary);
  }
  ASSERT_EQ(c.replica(0).last_executed(), 0u);
  c.restart_from_disk(0);
  (void)c.drain(0);
  ASSERT_TRUE(c.deliver(0, c.make_request(1, 1, put("j", "1"))));
  std::vector<PrePrepare> pps = sent<PrePrepare>(c.drain(0));
  ASSERT_EQ(pps.size(), 1u);
  EXPECT_EQ(pps[0].seq, 3u);
}

// A replica that restarted while changing views is still changing to the
// same view (it never votes in the old one again) and reports, in the
// VIEW-CHANGE it sends again, the certificate it had.
TEST(Restart, AReplicaChangingViewsComesBackChangingAndReportsItsCertificates) {
  Cluster c(with_view_change_timeout(checkpoint_config(), 20));
  // s1 prepares everywhere, but no commit arrives: nothing executes.
  auto no_commits = [](const Envelope& e, bool, uint32_t) {
    return std::holds_alternative<Commit>(*e.message);
  };
  ASSERT_TRUE(c.client(0).submit(kv::encode_op(put("k", "v"))).is_ok());
  c.run(no_commits);
  ASSERT_EQ(c.replica(1).last_executed(), 0u);
  // The primary goes silent; the backups' timers run out.
  auto primary_down = [&](const Envelope& e, bool to_client, uint32_t id) {
    return no_commits(e, to_client, id) || e.from == Principal::replica(0) ||
           (!to_client && id == 0) || std::holds_alternative<ViewChange>(*e.message);
  };
  ASSERT_TRUE(c.tick_until([&] { return c.replica(1).view_changing(); }, primary_down));
  const View changing_to = c.replica(1).view();
  c.restart_from_disk(1);
  EXPECT_EQ(c.replica(1).view(), changing_to);
  EXPECT_TRUE(c.replica(1).view_changing());
  // A peer changing views asks; the restarted replica answers with its
  // VIEW-CHANGE, whose P holds the certificate for s1.
  StatusMessage status;
  status.view = changing_to;
  status.view_changing = true;
  status.sender = 2;
  status.counter = 1;
  status.authenticator = make_authenticator(c.crypto(2), c.config().n, wire::auth_payload(status));
  ASSERT_TRUE(c.deliver(1, status));
  std::vector<ViewChange> vcs = sent<ViewChange>(c.drain(1));
  ASSERT_EQ(vcs.size(), 1u);
  EXPECT_EQ(vcs[0].new_view, changing_to);
  ASSERT_EQ(vcs[0].prepared.size(), 1u);
  EXPECT_EQ(vcs[0].prepared[0].pre_prepare.seq, 1u);
}

// Every replica committed s1 (each sent its COMMIT) but the commits were
// lost and nobody executed; all restart from their disks, the commits are
// sent again on request (STATUS) and the operation completes.
TEST(Restart, ABatchEveryReplicaCommittedExecutesAfterEveryReplicaRestarted) {
  Cluster c(checkpoint_config());
  auto no_commits = [](const Envelope& e, bool, uint32_t) {
    return std::holds_alternative<Commit>(*e.message);
  };
  ASSERT_TRUE(c.client(0).submit(kv::encode_op(put("k", "v"))).is_ok());
  c.run(no_commits);
  for (ReplicaId r = 0; r < 4; r++) ASSERT_EQ(c.replica(r).last_executed(), 0u);
  for (ReplicaId r = 0; r < 4; r++) c.restart_from_disk(r);
  ASSERT_TRUE(c.tick_until([&] { return !c.client(0).busy(); }, no_drop()));
  for (ReplicaId r = 0; r < 4; r++) EXPECT_EQ(c.replica(r).last_executed(), 1u);
}

// A state that does not hash to its recorded checkpoint (a damaged leaf) is
// refused: the replica does not start from it.
TEST(Restart, AStateThatDoesNotMatchItsCheckpointIsRefused) {
  Cluster c(checkpoint_config());
  for (int i = 0; i < 6; i++) run_op(c, put("k", std::to_string(i)), no_drop());
  ASSERT_GE(c.replica(1).low_watermark(), 4u);
  // Rewrite every leaf the disk holds ("l" + leaf: the journal's layout).
  storage::WriteBatch damage;
  for (const auto& [key, value] : c.disk(1).durable()) {
    if (!key.empty() && key[0] == 'l') {
      Bytes changed = value;
      changed.push_back(0);
      damage.put(key, changed);
    }
  }
  ASSERT_FALSE(damage.empty());
  ASSERT_TRUE(c.disk(1).write(damage, true).is_ok());
  storage::Journal journal(c.disk(1));
  Result<PersistedState> persisted = journal.load();
  ASSERT_TRUE(persisted.is_ok());
  kv::Store store;
  ReplicaOptions options;
  options.restore = std::make_shared<const PersistedState>(std::move(persisted).value());
  auto r = Replica::create(c.config(), 1, c.crypto(1), store, options);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().reason().find("does not"), std::string::npos) << r.status().reason();
}

}  // namespace
}  // namespace pbft::testing
