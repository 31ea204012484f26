// The replica core's state and handlers (private to src/core). The public
// face is include/pbft/replica.h.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "pbft/replica.h"

namespace pbft {

// Everything the log holds for one sequence number in the current view.
struct Slot {
  // The primary's PRE-PREPARE with its batch (shared so that it can be
  // relayed to a lagging peer without a copy).
  std::shared_ptr<const Message> pre_prepare_message;
  const PrePrepare* pre_prepare = nullptr;  // points into pre_prepare_message
  // PREPAREs from backups, the first one from each sender (a replica that
  // prepares two digests for one slot is faulty; its second is ignored).
  std::map<ReplicaId, Prepare> prepares;
  // COMMIT digests, the first one from each sender (its own included).
  std::map<ReplicaId, Digest> commits;
  std::shared_ptr<const Message> own_prepare;  // what this replica sent, for retransmission
  std::shared_ptr<const Message> own_commit;
  bool prepared = false;   // prepared(m, v, s, i) holds
  bool committed = false;  // committed-local(m, v, s, i) holds
};

// The last reply sent to a client: exactly-once semantics and re-sends.
struct LastReply {
  Timestamp timestamp = 0;
  std::shared_ptr<const Message> reply;
};

class ReplicaState {
 public:
  ReplicaState(const ProtocolConfig& config, ReplicaId self, const Crypto& crypto,
               Service& service);

  // Dispatcher: validates the envelope, then hands over to on_<message>.
  void step(const Message& message);
  void tick();

  // Handlers, one per message type (Castro and Liskov, section 4).
  void on_request(const Request& request);
  void on_pre_prepare(const std::shared_ptr<const Message>& message, const PrePrepare& pp);
  void on_prepare(const Prepare& prepare);
  void on_commit(const Commit& commit);
  void on_status(const StatusMessage& status);
  void on_status_timeout();

  // Observers.
  ReplicaId primary() const { return config_.primary(view_); }
  bool is_primary() const { return primary() == self_; }
  Seq high_watermark() const { return low_watermark_ + config_.log_window; }
  bool in_window(Seq s) const { return s > low_watermark_ && s <= high_watermark(); }

  Effects effects;
  ReplicaCounters counters;

  const ProtocolConfig config_;
  const ReplicaId self_;
  const Crypto& crypto_;
  Service& service_;

  View view_ = 0;                // the current view
  bool view_changing_ = false;   // set while changing views (view-change issue)
  Seq low_watermark_ = 0;        // h: the last stable checkpoint (0 until checkpoints)
  Seq last_executed_ = 0;        // every batch up to here has executed, in order
  Seq last_assigned_ = 0;        // primary: the last sequence number it assigned
  std::map<Seq, Slot> log_;      // slots in (h, H]

  // Requests waiting to be ordered (primary) or watched (backup): the newest
  // from each client, in arrival order. pending_order_ may hold stale
  // entries (the client's request executed or was batched since); an entry
  // is live when its arrival number matches the pending request's.
  struct PendingRequest {
    Request request;
    uint64_t arrival;
  };
  std::map<ClientId, PendingRequest> pending_;
  std::deque<std::pair<ClientId, uint64_t>> pending_order_;
  size_t pending_bytes_ = 0;
  uint64_t arrivals_ = 0;
  // Primary: the highest timestamp per client in a pre-prepared batch that has
  // not executed yet, so a retransmitted request is not ordered twice.
  std::unordered_map<ClientId, Timestamp> ordered_;

  std::unordered_map<ClientId, LastReply> last_replies_;

  uint64_t ticks_ = 0;
  uint64_t last_progress_tick_ = 0;   // when a batch last executed (or the wait began)
  uint64_t last_status_sent_tick_ = 0;
  std::map<ReplicaId, uint64_t> last_status_answered_tick_;

 private:
  void send(Destination to, Message m);
  void send_shared(Destination to, std::shared_ptr<const Message> m);
  Slot& slot(Seq s) { return log_[s]; }

  void maybe_send_pre_prepare();
  void check_prepared(Seq s, Slot& slot);
  void check_committed(Seq s, Slot& slot);
  void execute_committed();
  void execute(Seq s, Slot& slot);
  void add_pending(const Request& request);
  void remove_pending(ClientId client, Timestamp executed);
  bool waiting() const;
  bool pending_order_live(const std::pair<ClientId, uint64_t>& entry) const;
};

}  // namespace pbft
