// The replicated state machine: what a user of the library implements.
// PBFT replicates any service that is deterministic: the same operations in
// the same order give the same results and the same state at every replica.
#pragma once

#include <span>
#include <vector>

#include "pbft/types.h"

namespace pbft {

// One request's operation as handed to the service.
struct Operation {
  ClientId client;
  Timestamp timestamp;
  ByteView operation;  // valid only for the duration of the execute call
};

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
};

}  // namespace pbft
