// What a replica must not forget: the records of the write-ahead rule, and
// the state a restarted replica resumes from (docs/design.md, "Durability").
//
// A replica never sends a message whose consequences it could forget
// (etcd raft's "persist before send"): a vote it forgot it sent, it could
// contradict after a restart, which is equivocation. So the core asks its
// host, through a Persist effect (replica.h), to make records durable
// before the effects that depend on them. A host stores the records
// (storage.h: the Journal over RocksDB, or over the simulator's model of a
// disk) and, when the replica starts again, reads them back into a
// PersistedState, from which Replica::create rebuilds the replica.
//
// Everything here is plain data: the core stays pure.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <variant>
#include <vector>

#include "pbft/messages.h"
#include "pbft/types.h"

namespace pbft {

// The view the replica is in, and whether it is changing views (it sent
// VIEW-CHANGE for `view` and has not installed its NEW-VIEW): after a
// restart it never acts in an earlier view.
struct ViewRecord {
  View view;
  bool changing;
};
// A protocol message this replica authored that binds it (binds_sender:
// PRE-PREPARE, PREPARE, COMMIT, CHECKPOINT, VIEW-CHANGE, NEW-VIEW). A
// primary's PRE-PREPARE carries its batch.
struct SentRecord {
  std::shared_ptr<const Message> message;
};
// The pre-prepare a replica votes for (or executes) at its sequence
// number, and a PRE-PREPARE carrying its batch (the same message, or one of
// another view with the same digest; null for the null request's batch).
// With the certificate below it lets a restarted replica execute what it
// prepared: every correct replica that sent a COMMIT can.
struct AcceptedRecord {
  std::shared_ptr<const Message> pre_prepare;
  std::shared_ptr<const Message> batch;
};
// The prepared certificate this replica has for a sequence number (the one
// of the latest view): what its VIEW-CHANGE must report. Recorded before
// its COMMIT leaves.
struct PreparedRecord {
  PreparedCertificate certificate;
};
// The batch at `seq` (digest `digest`, its AcceptedRecord), committed in
// `view`, executed: a restarted replica replays the executed batches above
// its checkpoint.
struct ExecutedRecord {
  Seq seq;
  View view;
  Digest digest;
};
// A new stable checkpoint: its proof, and the state's leaves (the
// service's partitions, then the reply table's) that changed since the
// last checkpoint recorded. What is recorded at or below `seq` is no longer
// needed and goes.
struct CheckpointRecord {
  Seq seq;
  Digest digest;
  std::vector<Checkpoint> proof;  // 2f+1 matching CHECKPOINTs (this replica's among them)
  std::vector<std::pair<uint64_t, std::shared_ptr<const Bytes>>> leaves;  // (leaf index, bytes)
};
using Record = std::variant<ViewRecord, SentRecord, AcceptedRecord, PreparedRecord,
                            ExecutedRecord, CheckpointRecord>;

// Whether a record must be durable before the effects after it (ViewRecord,
// SentRecord, AcceptedRecord, PreparedRecord: a send depends on each), or
// may be written without a sync (ExecutedRecord, CheckpointRecord: losing
// them costs a replay or a state transfer, never a contradiction; why is in
// docs/design.md).
bool needs_sync(const Record& record);

// What a replica persisted, read back for its restart. A store that never
// recorded anything reads back as the default: the initial state.
struct PersistedState {
  View view = 0;
  bool changing = false;

  // The last stable checkpoint recorded (0: the initial state), its proof,
  // and the leaves that differ from the initial state there.
  Seq stable_seq = 0;
  Digest stable_digest{};
  std::vector<Checkpoint> stable_proof;
  std::map<uint64_t, std::shared_ptr<const Bytes>> leaves;

  // What it recorded for each sequence number above stable_seq.
  struct Slot {
    std::map<View, std::shared_ptr<const Message>> pre_prepares;  // sent or accepted, by view
    std::map<Digest, std::shared_ptr<const Message>> batches;     // PRE-PREPAREs carrying batches
    std::map<View, std::shared_ptr<const Message>> prepares;      // its own PREPAREs
    std::map<View, std::shared_ptr<const Message>> commits;       // its own COMMITs
    std::optional<PreparedCertificate> certificate;               // of the latest view
    std::optional<Digest> executed;
    View executed_view = 0;  // the view in which it committed
    std::shared_ptr<const Message> checkpoint;  // its own CHECKPOINT for this seq
  };
  std::map<Seq, Slot> slots;

  // The last VIEW-CHANGE and NEW-VIEW it sent (null: none).
  std::shared_ptr<const Message> view_change;
  std::shared_ptr<const Message> new_view;

  bool empty() const { return view == 0 && !changing && stable_seq == 0 && slots.empty(); }
};

}  // namespace pbft
