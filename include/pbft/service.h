// The replicated state machine: what a user of the library implements.
// PBFT replicates any service that is deterministic: the same operations in
// the same order give the same results and the same state at every replica.
#pragma once

#include <optional>
#include <span>
#include <vector>

#include "pbft/status.h"
#include "pbft/types.h"

namespace pbft {

// One request's operation as handed to the service.
struct Operation {
  ClientId client;
  Timestamp timestamp;
  ByteView operation;  // valid only for the duration of the execute call
};

// The service's state is a fixed number of partitions, each with a
// canonical encoding (equal contents give equal bytes at every replica). The
// replica keeps a tree of digests over them whose root is the checkpoint
// digest (PBFT.md, "Checkpoints", "State transfer"): a checkpoint rehashes
// only the partitions that changed since the previous one, and a replica
// that fell behind fetches only the partitions whose digests differ.
// PartitionedState (partitioned_state.h) provides the bookkeeping.
//
// All calls come from the replica's thread.
class Service {
 public:
  virtual ~Service() = default;

  // Executes a committed batch in order. results is cleared by the caller;
  // the service appends exactly one result per operation (each at most
  // constants::result_size_max bytes). Must be deterministic and must not
  // fail: a malformed operation yields an error result, not an exception.
  // seq is the batch's sequence number.
  virtual void execute(Seq seq, std::span<const Operation> operations,
                       std::vector<Bytes>& results) = 0;

  // The number of partitions: fixed for the service's life, and the same at
  // every replica of a cluster. At least 1.
  virtual uint64_t partition_count() const = 0;

  // Appends the partitions changed (by execute or install_partition) since
  // the last call.
  virtual void take_dirty_partitions(std::vector<uint64_t>& out) = 0;

  // Freezes the current state as snapshot `name` (a checkpoint's sequence
  // number). Should be cheap (copy-on-write): it runs at every checkpoint.
  virtual void snapshot(Seq name) = 0;
  // Forgets the snapshots named below `name`.
  virtual void release_snapshots_below(Seq name) = 0;

  // The canonical encoding of partition `index` in snapshot `name`, or in
  // the current state when name is nullopt. At most
  // constants::partition_size_max bytes. The snapshot must exist.
  virtual Bytes read_partition(std::optional<Seq> name, uint64_t index) const = 0;

  // Replaces partition `index` of the current state with the one `bytes`
  // encodes (state transfer; the bytes matched the proven digest). Fails,
  // changing nothing, if they do not decode.
  virtual Status install_partition(uint64_t index, ByteView bytes) = 0;
};

}  // namespace pbft
