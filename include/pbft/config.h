// Protocol parameters shared by every replica and client of one cluster.
// The defaults of the knobs among them (every field but n and f) come from
// the knob table, include/pbft/knobs.h.
#pragma once

#include <cstdint>

#include "pbft/constants.h"
#include "pbft/knobs.h"
#include "pbft/messages.h"
#include "pbft/status.h"

namespace pbft {

struct ProtocolConfig {
  uint32_t n = 4;  // replicas; must be 3f+1
  uint32_t f = 1;  // Byzantine faults tolerated

  // Batching (liveness policy): the primary puts at most this many requests
  // in one pre-prepare...
  uint32_t batch_size_max = static_cast<uint32_t>(knob_default(KnobId::batch_size_max));
  // ...and keeps at most this many sequence numbers pre-prepared but not
  // yet executed. With none in flight, whatever waits goes at once; with
  // some in flight, only a full batch starts another (so batches grow with
  // the load, which amortizes the per-batch signatures).
  uint64_t in_flight_max = knob_default(KnobId::in_flight_max);

  // Checkpoint interval K and log window L = H - h (in sequence numbers).
  uint64_t checkpoint_interval = knob_default(KnobId::checkpoint_interval);
  uint64_t log_window = knob_default(KnobId::log_window);

  // Timers, in ticks of the host's clock.
  // A replica waiting for protocol messages asks peers to retransmit this often.
  uint64_t status_interval_ticks = knob_default(KnobId::status_interval_ticks);
  // View change (liveness policy, PBFT.md "View change"): a backup that
  // waits this long for a request to execute, or for a new view to be
  // installed, moves to the next view; the timeout doubles with each view
  // that fails in a row (up to view_change_timeout_ticks << view_change_backoff_max)
  // and returns to this value once a request executes.
  uint64_t view_change_timeout_ticks = knob_default(KnobId::view_change_timeout_ticks);

  // How clients authenticate requests (see messages.h, RequestAuth): signed
  // by default, which closes the big-MAC attack (knobs.h says why).
  RequestAuth client_auth = static_cast<RequestAuth>(knob_default(KnobId::client_auth));

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

// A protocol knob's value in `config` as the knob table counts it (a choice
// as its index), and setting it. Requires knob(id).group == protocol.
uint64_t knob_value(const ProtocolConfig& config, KnobId id);
void set_knob(ProtocolConfig& config, KnobId id, uint64_t value);

}  // namespace pbft
