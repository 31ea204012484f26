// The replica core's state and handlers (private to src/core). The public
// face is include/pbft/replica.h. The handlers are split by protocol part:
//   replica.cpp         dispatch, requests, the normal case, execution, STATUS
//   request_queue.h     pending requests and the batching policy (liveness only)
//   checkpoint.cpp      checkpoints, the state tree, garbage collection
//   state_transfer.cpp  fetching and serving checkpoints, recovery
//   view_change.cpp     view changes (the liveness timer is view_timer.h)
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <unordered_map>
#include <vector>

#include "pbft/partitioned_state.h"
#include "pbft/replica.h"
#include "primary_monitor.h"
#include "request_queue.h"
#include "state_tree.h"
#include "view_timer.h"

namespace pbft {

// Everything the log holds for one sequence number in the current view.
struct Slot {
  // The primary's PRE-PREPARE, and the message that holds it (shared so that
  // it can be relayed to a lagging peer without a copy); null while unknown.
  // Normally it carries its batch; one that a NEW-VIEW assigned (from O) may
  // not.
  const PrePrepare* pre_prepare() const { return pre_prepare_; }
  const std::shared_ptr<const Message>& pre_prepare_message() const { return pre_prepare_message_; }
  // The batch whose digest is pre_prepare()->digest, and a PRE-PREPARE (of
  // any view) that carries it; null while unknown (the slot cannot execute).
  // The null request's batch is empty, always known, and in no message.
  const std::vector<Request>* batch() const { return batch_; }
  const std::shared_ptr<const Message>& batch_message() const { return batch_message_; }

  // Each pair (message, pointer into it) is set only through these, so the
  // pointer always points into the message the slot holds. Each `message`
  // holds a PrePrepare. set_pre_prepare leaves the batch as it is (a
  // PRE-PREPARE from O carries none).
  void set_pre_prepare(std::shared_ptr<const Message> message);
  // The batch a PRE-PREPARE (of any view) carries: the caller has checked
  // that its digest is the slot's.
  void set_batch(std::shared_ptr<const Message> message);
  void set_null_batch();
  // Forgets the PRE-PREPARE and its batch (one refused after all).
  void clear_pre_prepare();

  // PREPAREs from backups, the first one from each sender (a replica that
  // prepares two digests for one slot is faulty; its second is ignored).
  std::map<ReplicaId, Prepare> prepares;
  // PREPAREs that arrived once the slot was prepared, not checked (hosts
  // skip their signatures: Replica::wants), one per sender. Never counted;
  // checked and relayed only when a lagging peer asks for the slot (or
  // checked when a second one from the same sender arrives).
  std::map<ReplicaId, Prepare> unchecked_prepares;
  // COMMIT digests, the first one from each sender (its own included).
  std::map<ReplicaId, Digest> commits;
  std::shared_ptr<const Message> own_prepare;  // what this replica sent, for retransmission
  std::shared_ptr<const Message> own_commit;
  // The host left the batch's requests unchecked (leaves_batch_unchecked):
  // no prepare of its own until the others' certificate vouches for the
  // batch or it checks the batch itself (check_unchecked_batches).
  bool batch_unchecked = false;
  uint64_t unchecked_since_tick = 0;
  // An AcceptedRecord names the current pre-prepare and batch (reset when
  // either changes): a vote or an execution records them once.
  bool accepted_recorded = false;
  // The tick this replica first heard of the sequence number: a slot younger
  // than a status interval is not retransmitted (retransmit_slots).
  uint64_t created_tick = 0;
  bool prepared = false;   // prepared(m, v, s, i) holds
  bool committed = false;  // committed-local(m, v, s, i) holds
  // The prepared certificate of the latest earlier view in which this
  // replica prepared this sequence number (for VIEW-CHANGE's P), and a
  // PRE-PREPARE carrying its batch if this replica has it.
  std::optional<PreparedCertificate> earlier;
  std::shared_ptr<const Message> earlier_batch;

 private:
  std::shared_ptr<const Message> pre_prepare_message_;
  const PrePrepare* pre_prepare_ = nullptr;  // points into pre_prepare_message_
  std::shared_ptr<const Message> batch_message_;
  const std::vector<Request>* batch_ = nullptr;  // into batch_message_, or the null batch
};

// Checkpoint votes for one checkpoint sequence number in the window.
struct CheckpointVotes {
  std::map<ReplicaId, Checkpoint> received;  // the first CHECKPOINT from each replica
};

// A checkpoint this replica took (or installed by state transfer), kept
// while it may still be stable or be fetched by others: its digest tree.
struct OwnCheckpoint {
  Digest digest{};
  StateTree tree;
  std::shared_ptr<const Message> message;  // this replica's CHECKPOINT for it
};

// The last reply to one client: exactly-once semantics and re-sends. Part of
// the checkpointed state (only timestamp and result: what every correct
// replica agrees on).
struct LastReply {
  Timestamp timestamp = 0;
  Bytes result;
};
using ReplyPartition = std::map<ClientId, LastReply>;

// A state transfer in progress (PBFT.md "State transfer"): the replica
// fetches the proven checkpoint top-down by digests, only what differs from
// its own state, checking every piece against the proven root.
struct Transfer {
  struct Node {
    uint32_t level;
    uint64_t index;
    Digest digest;  // what the proven tree says this node is
  };
  struct InFlight {
    Node node;
    ReplicaId server;
    uint64_t sent_tick;
    uint64_t offset;  // leaves: the next byte wanted
  };
  Seq target = 0;
  Digest root{};
  std::vector<Checkpoint> proof;          // 2f+1 matching CHECKPOINTs for target
  std::deque<Node> queue;                 // nodes still to fetch
  std::map<std::pair<uint32_t, uint64_t>, InFlight> in_flight;
  // Partitions being fetched in several chunks: the bytes so far and the
  // size the first chunk announced, reserved in assembly_bytes.
  struct Assembly {
    Bytes bytes;
    uint64_t total_size = 0;
    Digest digest{};  // the leaf digest the bytes must hash to
  };
  std::map<uint64_t, Assembly> assemblies;
  // Assemblies begun for an earlier target: when the new target's leaf has
  // the same digest, the bytes so far are the same and fetching resumes
  // where it was (a large partition may take longer to fetch than the
  // cluster takes to make the next checkpoint stable).
  std::map<uint64_t, Assembly> carried;
  size_t assembly_bytes = 0;  // reserved: the total sizes of assemblies and carried
  std::set<ReplicaId> suspects;           // sent bad data or were slow for this target
  uint32_t next_server = 0;               // round robin over the proof's signers
  uint64_t bytes_fetched = 0;
};

class ReplicaState {
 public:
  ReplicaState(const ProtocolConfig& config, ReplicaId self, const Crypto& crypto,
               Service& service, const ReplicaOptions& options);

  // Dispatcher: validates the envelope, then hands over to on_<message>.
  // owned, when given, holds `message` (the replica keeps it instead of a copy).
  // batch_checked: false for a pre-prepare whose requests the host left
  // unchecked (leaves_batch_unchecked).
  // request_digests: Verified::request_digests() (computed here when absent).
  // view_change_contents_checked: Verified::view_change_contents_checked().
  void step(const Message& message, std::shared_ptr<const Message> owned = nullptr,
            bool batch_checked = true, std::span<const Digest> request_digests = {},
            bool view_change_contents_checked = true);
  void tick();

  // Handlers, one per message type (Castro and Liskov, section 4).
  void on_request(const Request& request, const Digest& digest);
  void on_pre_prepare(const std::shared_ptr<const Message>& message, const PrePrepare& pp,
                      bool batch_checked = true, std::span<const Digest> request_digests = {});
  bool leaves_batch_unchecked(const PrePrepare& pp) const;
  // How far back a vote counts as recent, and the shortest pause after a
  // late certificate: a turn of the backups and twice the batches in flight.
  Seq unchecked_batch_horizon() const { return config_.n - 1 + 2 * config_.in_flight_max; }
  void check_unchecked_batches();
  bool wants(const Message& message) const;
  void keep_unchecked(Prepare&& prepare);
  // A prepare kept unchecked is the signature of its sender (done late).
  bool signed_by_its_sender(const Prepare& prepare) const;
  void check_unchecked_prepares(Slot& s, ReplicaId peer);
  void on_prepare(const Prepare& prepare);
  void on_commit(const Commit& commit);
  void on_checkpoint(const Checkpoint& checkpoint);
  void on_status(const StatusMessage& status);
  void on_fetch(const Fetch& fetch);
  void on_fetch_reply(const FetchReply& reply);
  void on_view_change(const ViewChange& view_change, bool contents_checked = true);
  void on_new_view(const std::shared_ptr<const Message>& message, const NewView& new_view);
  void on_status_timeout();
  void on_fetch_timeout();

  // Observers.
  ReplicaId primary() const { return config_.primary(view_); }
  bool is_primary() const { return primary() == self_; }
  Seq high_watermark() const { return low_watermark_ + config_.log_window; }
  bool in_window(Seq s) const { return s > low_watermark_ && s <= high_watermark(); }
  // A replica that restarted without its state votes (sends PRE-PREPARE,
  // PREPARE or COMMIT) only after it executed past every sequence number it
  // might have voted on before (see state_transfer.cpp).
  bool silent() const { return recovering_; }
  // 2f+1 (2f under the quorum_2f mutant).
  uint32_t quorum() const { return PBFT_MUTANT(quorum_2f) ? 2 * config_.f : config_.quorum(); }

  Effects effects;
  ReplicaCounters counters;

  const ProtocolConfig config_;
  const ReplicaId self_;
  const Crypto& crypto_;
  Service& service_;
  const mutant::Id mutant_;  // ReplicaOptions::mutant (PBFT_MUTANT)

  View view_ = 0;                // the current view (while changing: the one being installed)
  bool view_changing_ = false;   // sent VIEW-CHANGE for view_, not yet installed its NEW-VIEW
  Seq low_watermark_ = 0;        // h: the last stable checkpoint
  Seq last_executed_ = 0;        // every batch up to here has executed, in order
  Seq last_assigned_ = 0;        // primary: the last sequence number it assigned
  std::map<Seq, Slot> log_;      // slots in (h, H]

  // Requests waiting to be ordered (primary) or watched (backup): the newest
  // from each client, in arrival order, and the batching policy.
  RequestQueue pending_;
  // Primary: the highest timestamp per client in a pre-prepared batch that has
  // not executed yet, so a retransmitted request is not ordered twice.
  std::unordered_map<ClientId, Timestamp> ordered_;
  // Requests a client sent again (to all replicas: a retransmission) before
  // this replica executed them, by client: their first reply goes in full,
  // since the client may be waiting on a replier that sends no result.
  // Erased when the client's request executes; one entry per client at most.
  std::unordered_map<ClientId, Timestamp> resent_;
  // When this replica last re-sent a client a reply from its last-reply
  // table (cached or stale), in ticks: at most one per status interval, so
  // that a client replaying executed requests (or a faulty replica
  // forwarding them) costs a lookup, not a reply each. One entry per client
  // with a last reply at most.
  // (Keyed by the last reply's timestamp too: once a newer request of the
  // client executes, its reply may be re-sent at once.)
  struct ReplyResent {
    Timestamp last = 0;
    uint64_t tick = 0;
  };
  std::unordered_map<ClientId, ReplyResent> reply_resent_;

  // The last-reply table, partitioned by client id (leaves of the state
  // tree after the service's partitions).
  PartitionedState<ReplyPartition> replies_;

  // The digest tree of the current state as of its last update, and the
  // checkpoints this replica holds: the stable one at h and newer ones.
  StateTree working_tree_;
  std::map<Seq, OwnCheckpoint> own_checkpoints_;
  // The tree of the last checkpoint recorded (CheckpointRecord): the next
  // record carries the leaves whose digests differ from it.
  StateTree recorded_tree_;
  // Votes for checkpoints in (h, H], and the proof of the stable one at h:
  // 2f+1 matching CHECKPOINTs (empty while h is 0).
  std::map<Seq, CheckpointVotes> checkpoint_votes_;
  std::vector<Checkpoint> stable_proof_;
  // CHECKPOINTs above what this replica executed, even beyond the window, a
  // few per sender: 2f+1 matching ones prove a stable checkpoint it lacks.
  // Keyed by (seq, digest): a faulty replica may claim several digests.
  std::map<ReplicaId, std::map<std::pair<Seq, Digest>, Checkpoint>> claims_;
  std::optional<Transfer> transfer_;

  // Recovery after a restart without state.
  bool recovering_ = false;
  uint64_t recovery_nonce_ = 0;
  std::map<ReplicaId, Seq> recovery_reports_;  // peers' last executed, from their STATUS
  std::optional<Seq> recovery_horizon_;        // silent until last_executed_ reaches it

  // The highest sequence number each replica has shown in a valid message,
  // even outside the window: when f+1 replicas are past last_executed_, at
  // least one correct replica is, and this one is behind.
  std::map<ReplicaId, Seq> highest_seen_;
  // The highest sequence number of a checked PREPARE from each replica (in
  // the view of the time): who is voting, for leaves_batch_unchecked.
  std::map<ReplicaId, Seq> last_prepare_from_;


  uint64_t ticks_ = 0;
  uint64_t last_progress_tick_ = 0;   // when a batch last executed (or the wait began)
  uint64_t last_status_sent_tick_ = 0;
  std::map<ReplicaId, uint64_t> last_status_answered_tick_;
  // Serving budget used per peer in the current tick (rate limit).
  struct ServeBudget {
    uint32_t fetches = 0;
    size_t bytes = 0;
  };
  std::map<ReplicaId, ServeBudget> fetches_answered_;
  // Freshness of STATUS and FETCH (messages.h). This replica's counter,
  // raised on each it sends (from ReplicaOptions::freshness_base), and per
  // peer the counter of the last STATUS taken and the FETCH window: the
  // highest counter seen and a bit per counter below it (bit k: highest - k
  // was seen).
  uint64_t freshness_counter_ = 0;
  uint64_t next_freshness_counter() { return ++freshness_counter_; }
  std::map<ReplicaId, uint64_t> status_counters_;
  struct FetchCounters {
    uint64_t highest = 0;
    uint64_t window = 0;
  };
  std::map<ReplicaId, FetchCounters> fetch_counters_;
  void note_fetch_counter(const Fetch& fetch);
  // The last partition encoded to serve a fetch, when it spans several
  // chunks: a fetcher asks for them one after another, and encoding the
  // whole partition for each chunk would cost quadratic time.
  struct ServeCache {
    Seq checkpoint = 0;
    uint64_t leaf = 0;
    Bytes bytes;
  };
  std::optional<ServeCache> serve_cache_;

  // View change (view_change.cpp). The highest valid VIEW-CHANGE from each
  // replica for a view above the current one (or for the view being
  // installed), this replica's own among them; the NEW-VIEW that installed
  // the current view (none for view 0), for peers that missed it.
  ViewTimer view_timer_;
  PrimaryMonitor primary_monitor_;
  std::map<ReplicaId, std::shared_ptr<const Message>> view_changes_;
  // Senders whose held VIEW-CHANGE came with its embedded signatures
  // unchecked (Checks::view_change_contents): checked when this replica,
  // as the new primary, needs them (check_held_view_changes).
  std::set<ReplicaId> view_change_contents_unchecked_;
  std::shared_ptr<const Message> new_view_message_;
  bool executed_in_view_ = false;  // a request executed since the current view was installed
  // Since when this replica takes part in the current view (installed, or
  // caught up by state transfer or recovery): requests waiting longer than
  // that are not the current primary's fault.
  uint64_t view_working_since_tick_ = 0;
  Digest null_digest_{};  // D(the null request): the digest of the empty batch
  Verifier verifier_;  // checks a batch left unchecked by the host, when needed
  // No batch is left unchecked below skipping_resumes_at_: a late
  // certificate moves it skipping_pause_ ahead, and the pause doubles with
  // each late one (up to skipping_pause_max horizons) and halves back with
  // each certificate on time.
  Seq skipping_resumes_at_ = 0;
  Seq skipping_pause_ = 0;
  static constexpr Seq skipping_pause_max = 64;

 private:
  // Sets m's sender and its tag (the signing seam: pbft::authenticate).
  template <typename T>
  void authenticate(T& m) const {
    pbft::authenticate(m, crypto_, config_.n);
  }
  void send(Destination to, Message m);
  void send_shared(Destination to, std::shared_ptr<const Message> m);
  // The write-ahead rule (replica.h, Persist): a record joins the Persist
  // at the head of the pending effects.
  void persist(Record record);
  void persist_accepted(Slot& s);
  // Multicasts a message this replica authored that binds it, after its record.
  void send_binding(std::shared_ptr<const Message> m);
  // Enters view v (changing: sent VIEW-CHANGE, not yet installed), recorded.
  void set_view(View v, bool changing);
  Slot& slot(Seq s) {
    auto [it, created] = log_.try_emplace(s);
    if (created) it->second.created_tick = ticks_;
    return it->second;
  }

  // Normal case (replica.cpp).
  void maybe_send_pre_prepare();
  void send_prepare(Seq s, Slot& slot);
  void send_commit(Seq s, Slot& slot);
  void check_prepared(Seq s, Slot& slot);
  void check_committed(Slot& slot);
  void execute_committed();
  void execute(Seq s, Slot& slot, std::optional<View> committed_in = std::nullopt);
  // Holds the request (or the client's newer one); the entry, or null when
  // the limits refuse it (counted).
  RequestQueue::Entry* add_pending(const Request& request, const Digest& digest);
  const LastReply* last_reply(ClientId client) const;
  // A full reply carries the result, a digest reply only D(result).
  enum class ReplyForm : uint8_t { full, digest };
  void send_reply(ClientId client, const LastReply& last, ReplyForm form = ReplyForm::full);
  void send_stale_reply(const Request& request, Timestamp executed);
  // The form of the first reply to a request this replica executes: the
  // full result from the request's replier (and for results no larger than
  // a digest, and for a request the client has re-sent), the digest from
  // the others. Replies re-sent from the last-reply table are always full.
  ReplyForm reply_form(const Request& request, const Bytes& result) const;
  bool waiting() const;
  void retransmit_slots(const StatusMessage& status);
  void prepares_for_peer_commits(const StatusMessage& status);
  void relay_prepares(Slot& s, ReplicaId peer, const Digest* digest);
  void saw(ReplicaId sender, Seq s);
  bool behind() const;

  // Checkpoints (checkpoint.cpp).
  uint64_t leaf_count() const { return service_.partition_count() + constants::reply_partitions; }
  Bytes read_leaf(std::optional<Seq> snapshot, uint64_t leaf) const;
  Digest leaf_digest(uint64_t leaf, ByteView bytes) const;
  Status install_leaf(uint64_t leaf, ByteView bytes);
  void update_working_tree(std::optional<Seq> snapshot);
  void take_checkpoint(Seq s);
  void check_stable(Seq s);
  void make_stable(Seq s, const Digest& d);
  // Records the stable checkpoint at s (which this replica holds): its
  // proof and the leaves changed since the last one recorded.
  void record_checkpoint(Seq s);
  void discard_below(Seq s);
  void record_claim(const Checkpoint& checkpoint);
  std::optional<std::pair<Seq, Digest>> proven_claim() const;

  // State transfer and recovery (state_transfer.cpp).
  void maybe_start_transfer();
  void start_transfer(Seq target, const Digest& root);
  void pump_transfer();
  void send_fetch(Transfer::Node node, uint64_t offset,
                  std::optional<ReplicaId> same_server = std::nullopt);
  void send_fetch_to(ReplicaId server, Transfer::Node node, uint64_t offset);
  void vote_on_logged_slots();
  void finish_transfer();
  void check_recovered();

 public:
  // Restart from what the replica persisted (ReplicaOptions::restore,
  // restore.cpp). Fails when the records contradict each other or the
  // state does not match its checkpoint's digest.
  Status restore(const PersistedState& persisted);

 private:
  void restore_slot(Seq seq, const PersistedState::Slot& persisted);

  // View change (view_change.cpp).
  void on_view_timer();
  void start_view_change(View v);
  void maybe_join_higher_view();
  void maybe_send_new_view();
  Status check_view_change(const ViewChange& vc) const;
  bool view_change_oversized(const ViewChange& vc) const;
  void check_held_view_changes();
  struct NewViewPlan;
  NewViewPlan plan_new_view(const std::vector<const ViewChange*>& view_changes) const;
  void install_new_view(const std::shared_ptr<const Message>& message, const NewViewPlan& plan);
  std::optional<PreparedCertificate> certificate_of(const Slot& s) const;
  bool adopt_batch(Slot& s, const std::shared_ptr<const Message>& message, const PrePrepare& pp);
  // VIEW-CHANGEs held for view v; for v or a later view.
  uint32_t view_changes_for(View v) const;
  uint32_t view_changes_from(View v) const;
  bool answer_view_status(const StatusMessage& status);

 public:
  // A request at or below its client's last executed timestamp: the cached
  // reply (equal) or a stale one (below), unless the client had one re-sent
  // within the status interval (counted: reply_rate_limited). Needs no
  // authentication of the request: the reply goes to the client it names,
  // and says what that client's last request got. True when the request
  // was such a one (answered or not).
  bool answer_executed(const Request& request);
  // Screening (Replica::screen): the rules that need no cryptography,
  // applied before a message's authentication is checked. Each returns why
  // the message is refused, or nothing; a refusal holds from then on.
  std::optional<DropReason> refuse(const Message& message) const;
  std::optional<DropReason> refuse_view_change(const ViewChange& vc) const;
  std::optional<DropReason> refuse_new_view(const NewView& nv, NewViewPlan* plan = nullptr) const;
  std::optional<DropReason> refuse_status(const StatusMessage& status) const;
  std::optional<DropReason> refuse_fetch(const Fetch& fetch) const;
  bool needs_view_change_contents(const ViewChange& vc) const;
  // What the verifier should check of a message that passed: a pre-prepare's
  // requests (all, none, or all but the executed ones), a VIEW-CHANGE's
  // contents.
  Checks checks_for(const Message& message) const;
};

}  // namespace pbft
