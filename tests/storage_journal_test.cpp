// The journal: the core's write-ahead records on a Storage and their
// reading back (include/pbft/storage.h, Journal; src/storage/journal.cpp).
//
// What is claimed, and checked here, over the memory model and RocksDB:
// - every kind of record reads back as written (load gives the
//   PersistedState the records describe), across a reopen of the store;
// - one Persist is one batch, synced when it says so; an empty one writes
//   nothing;
// - a batch's bytes are written once, however many records name it, also
//   after a load (which remembers what the store holds) and never skipped
//   after a failed write;
// - a CheckpointRecord erases what was recorded at or below its sequence
//   number, and load ignores what comes back for those;
// - a store is tied to one replica of one cluster: any other, an empty
//   store, or an unknown format is refused with a reason that says which;
// - a value that does not decode, or decodes to a message of another kind
//   or position than its key says, fails load naming the key;
// - a crash that keeps any prefix of the unsynced batches loads as exactly
//   the state of that prefix of Persists.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <string>

#include "pbft/storage.h"
#include "pbft/wire.h"

namespace pbft::storage {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using MessagePtr = std::shared_ptr<const Message>;

constexpr ReplicaId self = 1;

// ------------------------------------------------------------ messages
// Built directly: the journal stores what the core hands it and checks no
// signature, so arbitrary tags will do.

Digest digest_of(uint8_t tag) {
  Digest d{};
  d.fill(tag);
  return d;
}

template <typename T>
MessagePtr shared(T message) {
  return std::make_shared<const Message>(std::move(message));
}

Request request(ClientId client, Timestamp t, size_t size) {
  Request r;
  r.client = client;
  r.timestamp = t;
  r.operation = Bytes(size, static_cast<uint8_t>(t));
  r.auth = RequestAuth::signature;
  r.signature.fill(static_cast<uint8_t>(client));
  return r;
}

// A pre-prepare of `view` at `seq`, with a batch of `requests` requests
// of `size` bytes (none: the null request, or a copy without its batch).
MessagePtr pre_prepare(View view, Seq seq, uint8_t digest, size_t requests = 2, size_t size = 100) {
  PrePrepare pp;
  pp.view = view;
  pp.seq = seq;
  pp.digest = digest_of(digest);
  pp.sender = static_cast<ReplicaId>(view % 4);
  for (size_t i = 0; i < requests; i++) pp.batch.push_back(request(7, seq * 10 + i, size));
  pp.signature.fill(3);
  return shared(std::move(pp));
}

MessagePtr prepare(View view, Seq seq, uint8_t digest, ReplicaId sender = self) {
  Prepare p;
  p.view = view;
  p.seq = seq;
  p.digest = digest_of(digest);
  p.sender = sender;
  p.signature.fill(4);
  return shared(p);
}

MessagePtr commit(View view, Seq seq, uint8_t digest) {
  Commit c;
  c.view = view;
  c.seq = seq;
  c.digest = digest_of(digest);
  c.sender = self;
  c.authenticator.assign(4, Mac{});
  return shared(c);
}

Checkpoint checkpoint(Seq seq, uint8_t digest, ReplicaId sender = self) {
  Checkpoint c;
  c.seq = seq;
  c.state_digest = digest_of(digest);
  c.sender = sender;
  c.signature.fill(5);
  return c;
}

PreparedCertificate certificate(View view, Seq seq, uint8_t digest) {
  PreparedCertificate cert;
  cert.pre_prepare = std::get<PrePrepare>(*pre_prepare(view, seq, digest, 0));
  for (ReplicaId r : {2u, 3u})
    cert.prepares.push_back(std::get<Prepare>(*prepare(view, seq, digest, r)));
  return cert;
}

MessagePtr view_change(View new_view) {
  ViewChange vc;
  vc.new_view = new_view;
  vc.stable_seq = 4;
  for (ReplicaId r : {0u, 1u, 2u}) vc.checkpoint_proof.push_back(checkpoint(4, 9, r));
  vc.prepared.push_back(certificate(3, 6, 6));
  vc.sender = self;
  vc.signature.fill(6);
  return shared(vc);
}

MessagePtr new_view(View view) {
  NewView nv;
  nv.view = view;
  nv.view_changes.push_back(std::get<ViewChange>(*view_change(view)));
  nv.pre_prepares.push_back(std::get<PrePrepare>(*pre_prepare(view, 6, 6, 0)));
  nv.sender = static_cast<ReplicaId>(view % 4);
  nv.signature.fill(8);
  return shared(nv);
}

CheckpointRecord checkpoint_record(Seq seq, uint8_t digest) {
  CheckpointRecord record{seq, digest_of(digest), {}, {}};
  for (ReplicaId r : {0u, 1u, 3u}) record.proof.push_back(checkpoint(seq, digest, r));
  record.leaves.emplace_back(0, std::make_shared<const Bytes>(Bytes(64, digest)));
  record.leaves.emplace_back(1000, std::make_shared<const Bytes>(Bytes(3, 1)));
  return record;
}

Persist persist(std::vector<Record> records, bool sync = true) {
  return Persist{std::move(records), sync};
}

// ----------------------------------------------------- state comparison

bool same(const MessagePtr& a, const MessagePtr& b) {
  if (a == nullptr || b == nullptr) return a == b;
  return *a == *b;
}

template <typename K>
void expect_same(const std::map<K, MessagePtr>& actual, const std::map<K, MessagePtr>& expected,
                 const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  for (const auto& [key, message] : expected) {
    ASSERT_EQ(actual.count(key), 1u) << what;
    EXPECT_TRUE(same(actual.at(key), message)) << what;
  }
}

void expect_same(const PersistedState& actual, const PersistedState& expected) {
  EXPECT_EQ(actual.view, expected.view);
  EXPECT_EQ(actual.changing, expected.changing);
  EXPECT_EQ(actual.stable_seq, expected.stable_seq);
  EXPECT_EQ(actual.stable_digest, expected.stable_digest);
  EXPECT_EQ(actual.stable_proof, expected.stable_proof);
  ASSERT_EQ(actual.leaves.size(), expected.leaves.size());
  for (const auto& [leaf, bytes] : expected.leaves) {
    ASSERT_EQ(actual.leaves.count(leaf), 1u) << "leaf " << leaf;
    EXPECT_EQ(*actual.leaves.at(leaf), *bytes) << "leaf " << leaf;
  }
  ASSERT_EQ(actual.slots.size(), expected.slots.size());
  for (const auto& [seq, slot] : expected.slots) {
    ASSERT_EQ(actual.slots.count(seq), 1u) << "seq " << seq;
    const PersistedState::Slot& got = actual.slots.at(seq);
    const std::string at = "seq " + std::to_string(seq);
    expect_same(got.pre_prepares, slot.pre_prepares, at + " pre-prepares");
    expect_same(got.batches, slot.batches, at + " batches");
    expect_same(got.prepares, slot.prepares, at + " prepares");
    expect_same(got.commits, slot.commits, at + " commits");
    EXPECT_EQ(got.certificate, slot.certificate) << at;
    EXPECT_EQ(got.executed, slot.executed) << at;
    EXPECT_EQ(got.executed_view, slot.executed_view) << at;
    EXPECT_TRUE(same(got.checkpoint, slot.checkpoint)) << at;
  }
  EXPECT_TRUE(same(actual.view_change, expected.view_change));
  EXPECT_TRUE(same(actual.new_view, expected.new_view));
}

// ---------------------------------------------------------- the stores

Bytes b(std::string_view s) {
  const ByteView v = as_bytes(s);
  return Bytes(v.begin(), v.end());
}

Bytes slot_key(Seq seq, char tag, std::optional<uint64_t> view = std::nullopt) {
  Bytes key{'s'};
  for (int shift = 56; shift >= 0; shift -= 8) key.push_back(static_cast<uint8_t>(seq >> shift));
  key.push_back(static_cast<uint8_t>(tag));
  if (view) {
    for (int shift = 56; shift >= 0; shift -= 8) {
      key.push_back(static_cast<uint8_t>(*view >> shift));
    }
  }
  return key;
}

Status put(Storage& storage, Bytes key, Bytes value) {
  WriteBatch batch;
  batch.put(std::move(key), std::move(value));
  return storage.write(batch, true);
}

// The journal over either store; reopen() is a restart of the process (a
// new store object and journal over what the old one left).
class StorageJournalTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (rocks()) {
      const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
      std::string name = info->name();
      std::replace(name.begin(), name.end(), '/', '_');
      dir_ = fs::canonical("/proc/self/exe").parent_path() / "storage_journal_test.d" / name;
      fs::remove_all(dir_);
      fs::create_directories(dir_.parent_path());
    }
    reopen();
  }
  void TearDown() override {
    journal_.reset();
    storage_.reset();
    if (rocks() && !HasFailure()) fs::remove_all(dir_);
  }

  bool rocks() const { return GetParam() == "rocksdb"; }

  void reopen() {
    journal_.reset();
    if (!rocks()) {
      if (storage_ == nullptr) storage_ = std::make_unique<MemoryStorage>();
    } else {
      storage_.reset();
      Result<std::unique_ptr<Storage>> opened = open_rocksdb(dir_, {.create_if_missing = true});
      ASSERT_TRUE(opened.is_ok()) << opened.reason();
      storage_ = std::move(opened).value();
    }
    journal_ = std::make_unique<Journal>(*storage_);
  }

  PersistedState load() {
    Result<PersistedState> state = journal_->load();
    EXPECT_TRUE(state.is_ok()) << state.reason();
    return state ? std::move(state).value() : PersistedState{};
  }

  void append(const Persist& p) {
    const Status s = journal_->append(p);
    ASSERT_TRUE(s.is_ok()) << s.reason();
  }

  // Every key the store holds, in order (printable enough for failures).
  std::vector<Bytes> keys() const {
    std::vector<Bytes> out;
    EXPECT_TRUE(
        storage_->scan({}, [&](ByteView k, ByteView) { out.emplace_back(k.begin(), k.end()); })
            .is_ok());
    return out;
  }

  fs::path dir_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<Journal> journal_;
};

INSTANTIATE_TEST_SUITE_P(Stores, StorageJournalTest, ::testing::Values("memory", "rocksdb"),
                         [](const auto& param_info) { return param_info.param; });

// ------------------------------------------------------------ round trip

TEST_P(StorageJournalTest, AnEmptyStoreLoadsTheInitialState) {
  EXPECT_TRUE(journal_->empty());
  const PersistedState state = load();
  EXPECT_TRUE(state.empty());
  expect_same(state, PersistedState{});
}

TEST_P(StorageJournalTest, EveryRecordKindReadsBackAsWritten) {
  const MessagePtr primary_pp = pre_prepare(5, 9, 9);      // sent as the primary of view 5
  const MessagePtr accepted_pp = pre_prepare(3, 6, 6);     // accepted, carries its batch
  const MessagePtr old_pp = pre_prepare(3, 7, 7);          // view 3's, with the batch
  const MessagePtr new_view_pp = pre_prepare(4, 7, 7, 0);  // view 4's, from a NEW-VIEW: no batch
  const MessagePtr null_pp = pre_prepare(4, 8, 8, 0);      // the null request
  const MessagePtr own_prepare = prepare(3, 6, 6);
  const MessagePtr own_commit = commit(3, 6, 6);
  const MessagePtr own_checkpoint = shared(checkpoint(8, 8));
  const MessagePtr vc = view_change(5);
  const MessagePtr nv = new_view(5);
  const CheckpointRecord stable = checkpoint_record(4, 4);

  append(persist({
      ViewRecord{5, true},
      stable,
      AcceptedRecord{accepted_pp, accepted_pp},
      SentRecord{own_prepare},
      PreparedRecord{certificate(2, 6, 1)},
      PreparedRecord{certificate(3, 6, 6)},  // a later view's replaces it
      SentRecord{own_commit},
      ExecutedRecord{6, 0, digest_of(6)},
      AcceptedRecord{new_view_pp, old_pp},
      AcceptedRecord{null_pp, nullptr},
      SentRecord{own_checkpoint},
      SentRecord{vc},
      SentRecord{nv},
      SentRecord{primary_pp},
  }));
  append(persist({ViewRecord{5, false}}));

  PersistedState expected;
  expected.view = 5;
  expected.changing = false;
  expected.stable_seq = 4;
  expected.stable_digest = digest_of(4);
  expected.stable_proof = stable.proof;
  for (const auto& [leaf, bytes] : stable.leaves) expected.leaves[leaf] = bytes;
  PersistedState::Slot& s6 = expected.slots[6];
  s6.pre_prepares[3] = accepted_pp;
  s6.batches[digest_of(6)] = accepted_pp;
  s6.prepares[3] = own_prepare;
  s6.commits[3] = own_commit;
  s6.certificate = certificate(3, 6, 6);
  s6.executed = digest_of(6);
  PersistedState::Slot& s7 = expected.slots[7];
  s7.pre_prepares[4] = new_view_pp;
  s7.batches[digest_of(7)] = old_pp;
  PersistedState::Slot& s8 = expected.slots[8];
  s8.pre_prepares[4] = null_pp;
  s8.checkpoint = own_checkpoint;
  PersistedState::Slot& s9 = expected.slots[9];
  s9.pre_prepares[5] = primary_pp;
  s9.batches[digest_of(9)] = primary_pp;
  expected.view_change = vc;
  expected.new_view = nv;

  expect_same(load(), expected);
  reopen();  // a restart: what was written is what a new process reads
  expect_same(load(), expected);
}

TEST_P(StorageJournalTest, TheLastViewChangeAndNewViewReplaceTheEarlierOnes) {
  append(persist({SentRecord{view_change(1)}, SentRecord{new_view(1)}}));
  append(persist({SentRecord{view_change(2)}, SentRecord{new_view(2)}}));
  const PersistedState state = load();
  EXPECT_TRUE(same(state.view_change, view_change(2)));
  EXPECT_TRUE(same(state.new_view, new_view(2)));
}

// --------------------------------------------------------------- batches

TEST_P(StorageJournalTest, OnePersistIsOneBatchSyncedWhenItSays) {
  append(persist({ViewRecord{1, false}, SentRecord{prepare(1, 1, 1)}}, true));
  append(persist({ExecutedRecord{1, 0, digest_of(1)}}, false));
  append(persist({}, true));  // nothing to write, nothing written
  EXPECT_EQ(journal_->batches_written(), 2u);
  EXPECT_EQ(journal_->syncs(), 1u);
  if (auto* memory = dynamic_cast<MemoryStorage*>(storage_.get())) {
    EXPECT_EQ(memory->syncs(), 1u);
    EXPECT_EQ(memory->in_flight(), 1u);
    EXPECT_EQ(memory->bytes_written(), journal_->bytes_written());
  }
}

TEST_P(StorageJournalTest, EncodeIsAppendWithoutTheWrite) {
  const WriteBatch batch =
      journal_->encode(persist({ViewRecord{2, true}, SentRecord{commit(2, 3, 3)}}));
  EXPECT_EQ(batch.ops().size(), 2u);
  EXPECT_TRUE(keys().empty());
  EXPECT_EQ(journal_->batches_written(), 0u);
}

TEST_P(StorageJournalTest, ABatchIsWrittenOnceHoweverManyRecordsNameIt) {
  const MessagePtr pp = pre_prepare(0, 3, 3, 8, 1000);  // 8 KB of requests
  append(persist({AcceptedRecord{pp, pp}}));
  const uint64_t first = journal_->bytes_written();
  EXPECT_GT(first, 8000u);

  // The same pre-prepare again, sent and accepted: nothing new to write.
  const WriteBatch again = journal_->encode(persist({SentRecord{pp}, AcceptedRecord{pp, pp}}));
  EXPECT_TRUE(again.empty());

  // A later view's pre-prepare for the same batch: its own key, not the batch.
  append(persist({AcceptedRecord{pre_prepare(1, 3, 3, 0), pp}}));
  EXPECT_LT(journal_->bytes_written() - first, 1000u);

  // Nor after a restart: load remembers what the store holds.
  reopen();
  load();
  const uint64_t before = journal_->bytes_written();
  append(persist({AcceptedRecord{pre_prepare(2, 3, 3, 0), pp}}));
  EXPECT_LT(journal_->bytes_written() - before, 1000u);

  const PersistedState state = load();
  ASSERT_EQ(state.slots.count(3), 1u);
  EXPECT_EQ(state.slots.at(3).pre_prepares.size(), 3u);
  ASSERT_EQ(state.slots.at(3).batches.count(digest_of(3)), 1u);
  EXPECT_TRUE(same(state.slots.at(3).batches.at(digest_of(3)), pp));
}

// A synced Persist whose records were all written before still syncs: the
// earlier batch may not be durable yet, and what follows depends on it.
TEST_P(StorageJournalTest, ASyncedPersistOfRecordsWrittenBeforeStillSyncs) {
  const MessagePtr pp = pre_prepare(0, 3, 3);
  append(persist({AcceptedRecord{pp, pp}}, false));
  append(persist({AcceptedRecord{pp, pp}}, true));
  EXPECT_EQ(journal_->syncs(), 1u);
  if (auto* memory = dynamic_cast<MemoryStorage*>(storage_.get())) {
    EXPECT_EQ(memory->in_flight(), 0u);
    memory->crash(0);
    EXPECT_EQ(load().slots.count(3), 1u);
  }
}

// Failures are injected in the memory model.
TEST(StorageJournal, AFailedAppendDoesNotMakeLaterRecordsSkipItsBatch) {
  MemoryStorage memory;
  Journal journal(memory);
  const MessagePtr pp = pre_prepare(0, 3, 3);
  memory.fail_writes("Input/output error");
  const Status failed = journal.append(persist({AcceptedRecord{pp, pp}}));
  ASSERT_FALSE(failed.is_ok());
  EXPECT_EQ(failed.reason(), "Input/output error");
  EXPECT_EQ(journal.batches_written(), 0u);
  memory.fail_writes("");
  ASSERT_TRUE(journal.append(persist({AcceptedRecord{pp, pp}})).is_ok());
  const Result<PersistedState> state = journal.load();
  ASSERT_TRUE(state.is_ok()) << state.reason();
  ASSERT_EQ(state->slots.count(3), 1u);
  EXPECT_EQ(state->slots.at(3).batches.count(digest_of(3)), 1u);
}

// ------------------------------------------------------------ checkpoints

TEST_P(StorageJournalTest, ACheckpointErasesTheRecordsAtOrBelowIt) {
  for (Seq seq = 1; seq <= 6; seq++) {
    const MessagePtr pp = pre_prepare(0, seq, static_cast<uint8_t>(seq));
    append(persist({AcceptedRecord{pp, pp}, SentRecord{prepare(0, seq, static_cast<uint8_t>(seq))},
                    ExecutedRecord{seq, 0, digest_of(static_cast<uint8_t>(seq))}}));
  }
  append(persist({checkpoint_record(4, 4)}, false));
  for (const Bytes& key : keys()) {
    if (key[0] != 's') continue;
    Seq seq = 0;
    for (size_t i = 1; i <= 8; i++) seq = (seq << 8) | key[i];
    EXPECT_GT(seq, 4u) << "a record of seq " << seq << " outlived the checkpoint";
  }
  PersistedState state = load();
  EXPECT_EQ(state.stable_seq, 4u);
  EXPECT_EQ(state.slots.size(), 2u);
  EXPECT_EQ(state.slots.count(5) + state.slots.count(6), 2u);

  // What the journal noted as written at or below the checkpoint is
  // forgotten too: a record naming it writes it again, and load ignores it.
  const MessagePtr old = pre_prepare(0, 3, 3);
  EXPECT_FALSE(journal_->encode(persist({AcceptedRecord{old, old}})).empty());
  append(persist({AcceptedRecord{old, old}}));
  state = load();
  EXPECT_EQ(state.slots.count(3), 0u);

  // A later checkpoint replaces the stable one; leaves accumulate.
  CheckpointRecord later = checkpoint_record(6, 6);
  later.leaves = {{5, std::make_shared<const Bytes>(Bytes{5})}};
  append(persist({later}));
  state = load();
  EXPECT_EQ(state.stable_seq, 6u);
  EXPECT_EQ(state.stable_digest, digest_of(6));
  EXPECT_EQ(state.stable_proof, later.proof);
  EXPECT_TRUE(state.slots.empty());
  EXPECT_EQ(state.leaves.size(), 3u);  // 0 and 1000 from the first, 5 from this one
}

// ---------------------------------------------------------------- identity

TEST_P(StorageJournalTest, AStoreBelongsToOneReplicaOfOneCluster) {
  const Identity identity{digest_of(0xc1), self};
  const Status none = journal_->check_identity(identity);
  ASSERT_FALSE(none.is_ok());
  EXPECT_THAT(none.reason(), HasSubstr("holds no replica state"));
  EXPECT_THAT(none.reason(), HasSubstr(storage_->describe()));

  ASSERT_TRUE(journal_->initialize(identity).is_ok());
  EXPECT_FALSE(journal_->empty());
  EXPECT_EQ(journal_->syncs(), 1u);
  EXPECT_TRUE(journal_->check_identity(identity).is_ok());
  EXPECT_TRUE(load().empty());  // an initialized store is the initial state

  const Status other_replica = journal_->check_identity({identity.cluster, 2});
  ASSERT_FALSE(other_replica.is_ok());
  EXPECT_THAT(other_replica.reason(), HasSubstr("holds the state of replica 1, not of replica 2"));
  const Status other_cluster = journal_->check_identity({digest_of(0xc2), self});
  ASSERT_FALSE(other_cluster.is_ok());
  EXPECT_THAT(other_cluster.reason(), HasSubstr("another cluster"));

  const Status twice = journal_->initialize(identity);
  ASSERT_FALSE(twice.is_ok());
  EXPECT_THAT(twice.reason(), HasSubstr("already holds replica state"));

  reopen();
  EXPECT_TRUE(journal_->check_identity(identity).is_ok());
}

TEST_P(StorageJournalTest, AnotherFormatVersionIsRefused) {
  Bytes value(digest_size, 0xc1);
  for (uint8_t byte : {1, 0, 0, 0, 2, 0, 0, 0}) value.push_back(byte);  // replica 1, version 2
  ASSERT_TRUE(put(*storage_, b("i"), value).is_ok());
  const Status s = journal_->check_identity({digest_of(0xc1), self});
  ASSERT_FALSE(s.is_ok());
  EXPECT_THAT(s.reason(), HasSubstr("format version 2"));

  ASSERT_TRUE(put(*storage_, b("i"), Bytes(5, 0)).is_ok());
  EXPECT_THAT(journal_->check_identity({digest_of(0xc1), self}).reason(),
              HasSubstr("record i is not an identity"));
}

TEST_P(StorageJournalTest, RecordsWithoutAnIdentityAreCorrupt) {
  append(persist({ViewRecord{1, false}}));
  EXPECT_FALSE(journal_->empty());
  const Status s = journal_->check_identity({digest_of(0xc1), self});
  ASSERT_FALSE(s.is_ok());
  EXPECT_THAT(s.reason(), HasSubstr("corrupt"));
  EXPECT_FALSE(journal_->initialize({digest_of(0xc1), self}).is_ok());
}

// -------------------------------------------------------------- corruption

struct Damage {
  const char* name;
  Bytes key;
  Bytes value;
  const char* printable_key;
  const char* problem;
};

TEST_P(StorageJournalTest, AValueThatDoesNotDecodeFailsLoadNamingItsKey) {
  const Damage damages[] = {
      {"garbage", slot_key(42, 'a', 3), Bytes{1, 2, 3}, "s/000000000000002a/a/0000000000000003",
       "frame"},
      {"a prepare where a pre-prepare belongs", slot_key(42, 'a', 3),
       wire::encode(*prepare(3, 42, 1)), "s/000000000000002a/a/0000000000000003",
       "holds a prepare message where a pre-prepare belongs"},
      {"another view's pre-prepare", slot_key(42, 'a', 3), wire::encode(*pre_prepare(2, 42, 1)),
       "s/000000000000002a/a/0000000000000003", "in view 2"},
      {"another seq's commit", slot_key(42, 'm', 3), wire::encode(*commit(3, 41, 1)),
       "s/000000000000002a/m/0000000000000003", "sequence number 41"},
      {"a truncated certificate", slot_key(42, 'q'), Bytes{0xff, 0, 0, 0}, "s/000000000000002a/q",
       "pre-prepare: frame of 0 bytes"},
      {"a short digest", slot_key(42, 'x'), Bytes(31, 0), "s/000000000000002a/x", "not a digest"},
      {"a bad view flag", b("v"), Bytes{1, 0, 0, 0, 0, 0, 0, 0, 2}, "record v", "not a view"},
      {"a checkpoint with trailing bytes", b("c"), Bytes(45, 0), "record c",
       "not a stable checkpoint record"},
      {"a view-change that is a checkpoint", b("w"), wire::encode(Message(checkpoint(4, 4))),
       "record w", "holds a checkpoint message where a view-change belongs"},
      {"an unknown key", b("zebra"), Bytes{1}, "0x7a65627261", "not a key the journal writes"},
      {"an unknown slot tag", slot_key(1, 'z'), Bytes{1}, "s/0000000000000001/z",
       "not a key the journal writes"},
  };
  for (const Damage& damage : damages) {
    SCOPED_TRACE(damage.name);
    append(persist({ViewRecord{3, false}, SentRecord{prepare(3, 42, 1)}}));
    ASSERT_TRUE(put(*storage_, damage.key, damage.value).is_ok());
    const Result<PersistedState> state = journal_->load();
    ASSERT_FALSE(state.is_ok());
    EXPECT_THAT(state.reason(), HasSubstr("the data directory is corrupt"));
    EXPECT_THAT(state.reason(), HasSubstr(damage.printable_key));
    EXPECT_THAT(state.reason(), HasSubstr(damage.problem));
    EXPECT_THAT(state.reason(), HasSubstr(storage_->describe()));
    // Undo, for the next damage.
    WriteBatch undo;
    undo.erase(damage.key);
    ASSERT_TRUE(storage_->write(undo, true).is_ok());
  }
}

// ------------------------------------------------------------------ crashes

// A crash keeps some prefix of the batches written since the last sync:
// load then gives exactly the state of that prefix of Persists, whatever
// its length, checkpoints and all.
// Crashes are modeled by the memory store (the RocksDB tests cut its log).
TEST(StorageJournal, ACrashLoadsTheStateOfAPrefixOfThePersists) {
  std::vector<Persist> persists;
  for (Seq seq = 1; seq <= 8; seq++) {
    const uint8_t d = static_cast<uint8_t>(seq);
    const MessagePtr pp = pre_prepare(seq / 3, seq, d);
    persists.push_back(persist({ViewRecord{seq / 3, seq % 2 == 0}, AcceptedRecord{pp, pp},
                                SentRecord{prepare(seq / 3, seq, d)}}));
    persists.push_back(persist(
        {PreparedRecord{certificate(seq / 3, seq, d)}, SentRecord{commit(seq / 3, seq, d)}}));
    persists.push_back(persist({ExecutedRecord{seq, 0, digest_of(d)}}, false));
    if (seq % 4 == 0) persists.push_back(persist({checkpoint_record(seq, d)}, false));
  }
  // All but the first few unsynced, so that the crash has a long stream of
  // in-flight batches to cut.
  for (size_t i = 0; i < persists.size(); i++) persists[i].sync = i < 3;

  for (size_t keep = 0; keep + 3 <= persists.size(); keep++) {
    SCOPED_TRACE("keep " + std::to_string(keep));
    MemoryStorage crashed;
    Journal writer(crashed);
    for (const Persist& p : persists) ASSERT_TRUE(writer.append(p).is_ok());
    ASSERT_EQ(crashed.in_flight(), persists.size() - 3);
    crashed.crash(keep);
    Result<PersistedState> after = Journal(crashed).load();
    ASSERT_TRUE(after.is_ok()) << after.reason();

    MemoryStorage reference;
    Journal prefix(reference);
    for (size_t i = 0; i < 3 + keep; i++) ASSERT_TRUE(prefix.append(persists[i]).is_ok());
    Result<PersistedState> expected = prefix.load();
    ASSERT_TRUE(expected.is_ok()) << expected.reason();
    expect_same(*after, *expected);
    if (HasFailure()) return;
  }
}

}  // namespace
}  // namespace pbft::storage
