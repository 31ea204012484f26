#include "pbft/config.h"

#include <string>

#include "pbft/assert.h"

#include "pbft/wire.h"

namespace pbft {

static_assert(static_cast<uint64_t>(RequestAuth::authenticator) == 0 &&
                  static_cast<uint64_t>(RequestAuth::signature) == 1,
              "knob_choices::client_auth is indexed by RequestAuth");

// No default case: a protocol knob added to the table without a field here
// is a compiler warning (an error with PBFT_WERROR).
uint64_t knob_value(const ProtocolConfig& config, KnobId id) {
  switch (id) {
    case KnobId::client_auth: return static_cast<uint64_t>(config.client_auth);
    case KnobId::batch_size_max: return config.batch_size_max;
    case KnobId::in_flight_max: return config.in_flight_max;
    case KnobId::checkpoint_interval: return config.checkpoint_interval;
    case KnobId::log_window: return config.log_window;
    case KnobId::status_interval_ticks: return config.status_interval_ticks;
    case KnobId::view_change_timeout_ticks: return config.view_change_timeout_ticks;
    case KnobId::tick_ms:
    case KnobId::client_retransmit_ticks:
    case KnobId::log_level:
    case KnobId::durability:
    case KnobId::encryption:
    case KnobId::kv_partitions:
    case KnobId::kv_bytes_max:
    case KnobId::kv_client_bytes_max: break;
  }
  PBFT_ASSERT(false && "not a protocol knob");
  return 0;
}

void set_knob(ProtocolConfig& config, KnobId id, uint64_t value) {
  const Knob& k = knob(id);
  PBFT_ASSERT(k.group == KnobGroup::protocol && value >= k.min && value <= k.max);
  switch (id) {
    case KnobId::client_auth: config.client_auth = static_cast<RequestAuth>(value); return;
    case KnobId::batch_size_max: config.batch_size_max = static_cast<uint32_t>(value); return;
    case KnobId::in_flight_max: config.in_flight_max = value; return;
    case KnobId::checkpoint_interval: config.checkpoint_interval = value; return;
    case KnobId::log_window: config.log_window = value; return;
    case KnobId::status_interval_ticks: config.status_interval_ticks = value; return;
    case KnobId::view_change_timeout_ticks: config.view_change_timeout_ticks = value; return;
    case KnobId::tick_ms:
    case KnobId::client_retransmit_ticks:
    case KnobId::log_level:
    case KnobId::durability:
    case KnobId::encryption:
    case KnobId::kv_partitions:
    case KnobId::kv_bytes_max:
    case KnobId::kv_client_bytes_max: break;
  }
  PBFT_ASSERT(false && "not a protocol knob");
}

Status ProtocolConfig::validate() const {
  if (f < 1) return Status::error("f must be at least 1");
  if (n != 3 * f + 1) {
    return Status::error("n must be 3f+1: n=" + std::to_string(n) + ", f=" + std::to_string(f));
  }
  if (n > constants::replicas_max) {
    return Status::error("n must be at most " + std::to_string(constants::replicas_max));
  }
  if (batch_size_max < 1 || batch_size_max > constants::batch_requests_max) {
    return Status::error("batch_size_max must be in 1.." +
                         std::to_string(constants::batch_requests_max));
  }
  if (checkpoint_interval < 1) return Status::error("checkpoint_interval must be at least 1");
  if (log_window < checkpoint_interval || log_window > constants::log_window_max) {
    return Status::error("log_window must be in checkpoint_interval.." +
                         std::to_string(constants::log_window_max));
  }
  if (in_flight_max < 1 || in_flight_max > log_window) {
    return Status::error("in_flight_max must be in 1..log_window");
  }
  if (status_interval_ticks < 1) return Status::error("status_interval_ticks must be at least 1");
  if (view_change_timeout_ticks < status_interval_ticks) {
    return Status::error("view_change_timeout_ticks must be at least status_interval_ticks");
  }
  if (view_change_timeout_ticks > (UINT64_MAX >> constants::view_change_backoff_max)) {
    return Status::error("view_change_timeout_ticks is too large");
  }
  if (new_view_size_max() > constants::message_size_max) {
    return Status::error("log_window is too large for n: a NEW-VIEW could take " +
                         std::to_string(new_view_size_max()) + " bytes, more than the " +
                         std::to_string(constants::message_size_max) + " a message may have");
  }
  return Status::ok();
}

// The sizes come from the codec itself: an empty message, then what each
// piece adds. Nested messages are smaller than their encoding on their own
// (no header), so these are upper bounds.
uint64_t ProtocolConfig::view_change_size_max() const {
  ViewChange vc;
  const uint64_t base = wire::encode(vc).size();
  vc.checkpoint_proof.emplace_back();
  const uint64_t per_checkpoint = wire::encode(vc).size() - base;
  vc.checkpoint_proof.clear();
  PreparedCertificate cert;
  cert.prepares.resize(2 * static_cast<size_t>(f));
  vc.prepared.push_back(cert);
  const uint64_t per_certificate = wire::encode(vc).size() - base;
  return base + n * per_checkpoint + log_window * per_certificate;
}

uint64_t ProtocolConfig::new_view_size_max() const {
  NewView nv;
  const uint64_t base = wire::encode(nv).size();
  nv.pre_prepares.emplace_back();
  const uint64_t per_pre_prepare = wire::encode(nv).size() - base;
  return base + n * view_change_size_max() + log_window * per_pre_prepare;
}

}  // namespace pbft
