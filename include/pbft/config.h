// Protocol parameters shared by every replica and client of one cluster.
#pragma once

#include <cstdint>

#include "pbft/constants.h"
#include "pbft/messages.h"
#include "pbft/status.h"

namespace pbft {

struct ProtocolConfig {
  uint32_t n = 4;  // replicas; must be 3f+1
  uint32_t f = 1;  // Byzantine faults tolerated

  // Batching (liveness policy): the primary puts at most this many requests
  // in one pre-prepare...
  uint32_t batch_size_max = 256;
  // ...and keeps at most this many sequence numbers pre-prepared but not
  // yet executed. With none in flight, whatever waits goes at once; with
  // some in flight, only a full batch starts another (so batches grow with
  // the load, which amortizes the per-batch signatures).
  uint64_t in_flight_max = 16;

  // Checkpoint interval K and log window L = H - h (in sequence numbers).
  uint64_t checkpoint_interval = 128;
  uint64_t log_window = 256;

  // Timers, in ticks of the host's clock.
  // A replica waiting for protocol messages asks peers to retransmit this often.
  uint64_t status_interval_ticks = 10;
  // View change (liveness policy, PBFT.md "View change"): a backup that
  // waits this long for a request to execute, or for a new view to be
  // installed, moves to the next view; the timeout doubles with each view
  // that fails in a row (up to view_change_timeout_ticks << view_change_backoff_max)
  // and returns to this value once a request executes.
  uint64_t view_change_timeout_ticks = 200;

  // How clients authenticate requests (see messages.h, RequestAuth).
  RequestAuth client_auth = RequestAuth::authenticator;

  uint32_t quorum() const { return 2 * f + 1; }        // 2f+1
  uint32_t weak_quorum() const { return f + 1; }       // f+1
  ReplicaId primary(View v) const { return static_cast<ReplicaId>(v % n); }

  // Every rule between the fields; the reason names the field.
  Status validate() const;

  // Upper bounds of the encoded sizes of a VIEW-CHANGE (with a prepared
  // certificate for every sequence number in the window) and of a NEW-VIEW
  // (2f+1 of those and O). validate() requires both to fit in a message.
  uint64_t view_change_size_max() const;
  uint64_t new_view_size_max() const;
};

}  // namespace pbft
