// What the simulated clients (and pbft bench's key-value workload) do:
// random key-value operations over a small
// key set, so that clients contend on keys, with values unique per
// operation ("c3.17" is client 3's 17th; an append writes "+c3.17"), so
// that the linearizability checker can tell every write apart.
#pragma once

#include <cstdint>

#include "pbft/history.h"
#include "pbft/kv.h"
#include "pbft/status.h"
#include "src/workload/random.h"

namespace pbft::workload {

struct PlannedOperation {
  kv::Op op;
  // The history entry with client, op, key and (for put and append) value
  // filled in; call and return times and the outcome are the caller's.
  history::Entry entry;
};

// Draws client `client`'s operation number `index` (from 1) on keys k0..k{keys-1}:
// about 30% get, 30% put, 25% append, 15% delete.
PlannedOperation plan_operation(Random& random, ClientId client, uint32_t index, uint32_t keys);

// Completes entry from the result the client accepted: a get's value (none
// when the key was absent), status ok. Fails if the result does not decode
// or its code is not one this operation can produce.
Status record_result(history::Entry& entry, ByteView result);

}  // namespace pbft::workload
