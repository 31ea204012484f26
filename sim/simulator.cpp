#include "sim/simulator.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <memory>
#include <utility>
#include <variant>

#include "pbft/assert.h"
#include "pbft/client.h"
#include "pbft/constants.h"
#include "pbft/crypto.h"
#include "pbft/kv.h"
#include "pbft/replica.h"
#include "pbft/storage.h"
#include "pbft/verifier.h"
#include "pbft/wire.h"
#include "sim/badstate.h"
#include "sim/byzantine.h"
#include "sim/conductor.h"
#include "sim/event_queue.h"
#include "sim/network.h"
#include "sim/trace_hash.h"
#include "src/workload/random.h"
#include "src/workload/workload.h"

namespace pbft::sim {

const char* to_string(CheckerOutcome::State state) {
  switch (state) {
    case CheckerOutcome::State::ok: return "ok";
    case CheckerOutcome::State::failed: return "FAILED";
    case CheckerOutcome::State::skipped: return "skipped";
  }
  return "unknown";
}

namespace {

// The events of the agenda.
struct Delivery {
  NodeIndex from;
  NodeIndex to;
  std::shared_ptr<const Bytes> bytes;
};
struct Tick {};  // every node's clock advances by one tick
struct ClientWake {
  ClientId client;  // ends its think time and submits its next operation
};
struct SyncDone {
  ReplicaId replica;  // its disk finished the sync in flight
  uint64_t incarnation;  // void if the replica crashed since
};
using Event = std::variant<Delivery, Tick, ClientWake, SyncDone>;

struct ReplicaNode {
  std::unique_ptr<Crypto> crypto;
  std::unique_ptr<kv::Store> store;  // replaced, empty, when the replica is wiped
  std::unique_ptr<Verifier> verifier;
  std::unique_ptr<Replica> replica;
  // Its disk: a model that loses what was not synced when the replica
  // crashes (wiped: replaced, empty), and the journal the host keeps on it.
  std::unique_ptr<storage::MemoryStorage> disk;
  std::unique_ptr<storage::Journal> journal;
  // Effects waiting behind a sync in flight, carried out once it is done,
  // as the TCP host does (group commit: the replica keeps stepping, and the
  // next sync covers every record that came meanwhile). `silent`: the
  // replica was recovering when it made the effect.
  struct Held {
    Effect effect;
    bool silent;
  };
  std::deque<Held> held;
  bool syncing = false;
  uint64_t incarnation = 0;
  View view = 0;  // the view last seen, to log changes
  // As after its last input (for the coverage and new-view observers,
  // which compare before and after an input).
  bool view_changing = false;
  Seq low_watermark = 0;
  // A crashed replica, or a wiped one not restarted yet, is down: it gets no
  // messages (they are lost) and no ticks, so it sends nothing either.
  bool down = false;
  // A lagging replica is cut off: the network carries nothing to or from it.
  bool cut_off = false;
  std::optional<BadStateServer> badstate;  // set for the Byzantine state server
  std::optional<ByzantineReplica> byzantine;  // set for a Byzantine replica
  // Twins: a second instance with the same keys and its own state, driven
  // independently during the fault phase (its effects are not observed:
  // the checkers speak of the correct replicas).
  std::unique_ptr<kv::Store> twin_store;
  std::unique_ptr<Replica> twin;
  // Fetch replies rejected by incarnations lost to wipes.
  uint64_t retired_fetch_replies_rejected = 0;
  RunReport::ReplicaOutcome outcome;
};

// A node fault in progress. The f fault slots (f - 1 with a badstate
// replica) each run one episode at a time, so at most f replicas are faulty
// at once; a wiped replica holds its slot until it has recovered, since a
// silent replica is as faulty as a down one for the quorums.
struct Episode {
  NodeFault fault;
  ReplicaId replica;
  std::optional<size_t> slot;  // nullopt for a scripted episode
  uint64_t restart_ns = 0;     // crash and wipe: when the replica comes back
  bool restarted = false;      // wipe: the new incarnation runs (and recovers)
};

// A Byzantine client (sim/byzantine.h), beside the workload's clients.
struct Attacker {
  ClientId id;
  ClientAttack attack;
  std::unique_ptr<Crypto> crypto;
  Timestamp next_timestamp = 0;
};

struct ClientNode {
  std::unique_ptr<Crypto> crypto;
  std::unique_ptr<Verifier> verifier;
  std::unique_ptr<Client> client;
  uint32_t issued = 0;
  uint32_t completed = 0;
  std::optional<Timestamp> outstanding;  // the timestamp of the request in progress
  size_t history_index = 0;              // its entry in the history
  uint64_t last_completion_ns = 0;
};

class Simulation {
 public:
  explicit Simulation(const Options& options);
  RunReport run();

 private:
  NodeIndex client_node(ClientId c) const { return config_.n + c; }
  bool safety_violated() const;

  void handle(const Delivery& delivery);
  void handle(const Tick&);
  void handle(const ClientWake& wake);
  void handle(const SyncDone& done);

  // Node faults (crash, wipe, lag, badstate).
  void plan_node_faults();
  void advance_node_faults();
  bool episode_over(Episode& episode);
  void start_episode(NodeFault fault, ReplicaId replica, uint64_t down_ns,
                     std::optional<size_t> slot);
  void start_random_episode(size_t slot);
  void restart_wiped(ReplicaId r);
  // A crashed replica's disk loses what was not durable; at the end of the
  // episode the replica restarts from it.
  void crash(ReplicaId r);
  void restart_from_disk(ReplicaId r);
  void power_cut();
  bool faulty(ReplicaId r) const;
  Seq others_executed(ReplicaId r) const;
  Seq stable_mark() const;
  bool node_faults_settled() const;

  // was_recovering: the replica was recovering before the input whose
  // effects these are.
  void drain_replica(ReplicaId r, bool was_recovering);
  // Carries out the held effects up to the next sync (which it starts).
  void carry_out(ReplicaId r);
  void observe_send(ReplicaId r, const std::shared_ptr<const Message>& message);
  void drain_twin(ReplicaId r);
  // Coverage and the new-view checker speak of correct replicas: not
  // Byzantine (twins are), not the badstate replica. A NEW-VIEW a correct
  // replica received (after it stepped it) or sent; a replica that is
  // recovering.
  bool correct(ReplicaId r) const { return !replicas_[r]->byzantine && !replicas_[r]->badstate; }
  void observe_new_view(ReplicaId r, const NewView& nv);
  void observe_recovering(ReplicaId r);
  void plan_byzantine(uint32_t count);
  void attack();
  bool fault_phase() const { return now_ < options_.fault_phase_ns; }
  void drain_client(ClientId c);
  void observe(ReplicaId r, const Executed& executed);
  void observe(ReplicaId r, const StateInstalled& installed);
  void issue(ClientId c);
  void complete(ClientId c, const Completion& completion);
  void fail_client_results(std::string details);

  void send(NodeIndex from, const Send& send);
  // `message` is what `bytes` encode (before any corruption): the conductor
  // judges messages, not bytes.
  void transmit(NodeIndex from, NodeIndex to, const std::shared_ptr<const Bytes>& bytes,
                const Message& message, uint64_t extra_delay_ns = 0);
  void send_bytes(NodeIndex from, Destination to, const std::shared_ptr<const Bytes>& bytes,
                  const Message& message, uint64_t extra_delay_ns);
  void note_view(ReplicaId r);

  bool logging(int level) const { return options_.verbosity >= level && options_.log; }
  ReplicaOptions replica_options() const {
    ReplicaOptions options;
    options.mutant = options_.mutant;
    // As the runtime's wall clock: above every counter an earlier
    // incarnation used (it sent far fewer than one STATUS or FETCH per
    // virtual nanosecond).
    options.freshness_base = now_;
    return options;
  }
  void log(const std::string& line) const;
  std::string node_name(NodeIndex node) const;

  void finish(RunReport& report, bool stopped_by_safety) const;
  // Each replica's view, last executed and stable sequence numbers, and
  // pending requests, e.g. "r0 v1 e62 h56 p3, r1 ...".
  std::string cluster_state() const;

  // Declared in construction order: the nodes keep references to config_.
  const Options options_;
  const ProtocolConfig config_;
  Random random_;
  Network network_;
  EventQueue<Event> queue_;
  std::vector<std::unique_ptr<ReplicaNode>> replicas_;
  std::vector<std::unique_ptr<ClientNode>> clients_;
  std::vector<Attacker> attackers_;
  // Stalls: when a correct replica last executed a batch.
  uint64_t last_progress_ns_ = 0;

  uint64_t now_ = 0;
  uint32_t clients_done_ = 0;
  TraceHash trace_;
  RunReport report_;  // the counters, filled in as the run goes; the rest at the end
  std::vector<history::Entry> history_;

  AgreementChecker agreement_;
  CommitQuorumChecker commit_quorum_;
  ExactlyOnceChecker exactly_once_;
  ExecutionOrderChecker execution_order_;
  BoundedMemoryChecker bounded_memory_;
  RecoverySilenceChecker recovery_silence_;
  WriteAheadChecker write_ahead_;
  std::optional<NewViewChecker> new_view_;  // set once the replicas' keys exist
  std::optional<Failure> client_results_;
  std::optional<Failure> restart_failure_;  // a replica could not restart from its disk
  CoverageRecorder coverage_;
  std::optional<Conductor> conductor_;  // fault `conflict`, when the seed runs it

  std::vector<Episode> episodes_;              // in progress
  std::vector<uint64_t> slot_next_start_ns_;   // per fault slot; busy slots have an episode
  std::vector<NodeFault> random_faults_;       // the node faults the slots draw from
  size_t script_next_ = 0;                     // the next scripted episode to start
  std::vector<ScriptedNodeFault> script_;      // sorted by start time
  std::optional<uint64_t> power_cut_ns_;       // fault powerloss: when, if still to come
};

Simulation::Simulation(const Options& options)
    : options_(options),
      config_(protocol_config(options)),
      random_(options.seed),
      network_(network_options(options), config_.n, options.clients, random_),
      commit_quorum_(config_.f),
      exactly_once_(config_.n),
      execution_order_(config_.n),
      bounded_memory_(config_.log_window, constants::pending_requests_max),
      coverage_(config_) {
  // The fake crypto's keys derive from the seed too, so a replay rebuilds
  // the same signatures and MACs and hence the same bytes on the wire.
  const uint64_t universe = options.seed ^ 0x5eed5eed5eed5eedull;
  // Byzantine clients take the ids after the workload's.
  std::vector<ClientAttack> attacks;
  if (options.faults.client_timestamps) attacks.push_back(ClientAttack::timestamps);
  if (options.faults.big_mac) attacks.push_back(ClientAttack::big_mac);
  if (options.faults.client_flood) attacks.push_back(ClientAttack::flood);
  const uint32_t all_clients = options.clients + static_cast<uint32_t>(attacks.size());
  for (size_t i = 0; i < attacks.size(); i++) {
    const ClientId id = options.clients + static_cast<ClientId>(i);
    attackers_.push_back({id, attacks[i],
                          fake::make_crypto(Principal::client(id), universe, config_.n, all_clients),
                          0});
    report_.byzantine_clients.push_back(to_string(attacks[i]));
  }
  for (ReplicaId r = 0; r < config_.n; r++) {
    auto node = std::make_unique<ReplicaNode>();
    node->crypto = fake::make_crypto(Principal::replica(r), universe, config_.n, all_clients);
    node->verifier = std::make_unique<Verifier>(config_, *node->crypto, options.mutant);
    node->store = std::make_unique<kv::Store>();
    node->disk = std::make_unique<storage::MemoryStorage>();
    node->journal = std::make_unique<storage::Journal>(*node->disk);
    Result<std::unique_ptr<Replica>> replica =
        Replica::create(config_, r, *node->crypto, *node->store, replica_options());
    PBFT_ASSERT(replica.is_ok());  // the options were validated
    node->replica = std::move(replica).value();
    replicas_.push_back(std::move(node));
  }
  // Any principal's crypto verifies the replicas' signatures.
  new_view_.emplace(config_, *replicas_[0]->crypto);
  ClientOptions client_options = options.client;
  client_options.mutant = options.mutant;
  for (ClientId c = 0; c < options.clients; c++) {
    auto node = std::make_unique<ClientNode>();
    node->crypto = fake::make_crypto(Principal::client(c), universe, config_.n, all_clients);
    node->verifier = std::make_unique<Verifier>(config_, *node->crypto);
    Result<std::unique_ptr<Client>> client =
        Client::create(config_, c, *node->crypto, client_options);
    PBFT_ASSERT(client.is_ok());
    node->client = std::move(client).value();
    clients_.push_back(std::move(node));
  }
  plan_node_faults();
  if (conductor_runs(options.faults, options.seed)) {
    Conductor::Cluster cluster{
        [this](ReplicaId r) -> const Replica& { return *replicas_[r]->replica; },
        [this](ReplicaId r) { return faulty(r) || replicas_[r]->replica->recovering(); },
        [this](ReplicaId r) {
          const ReplicaNode& node = *replicas_[r];
          return node.down || node.cut_off || node.replica->recovering();
        }};
    conductor_.emplace(config_, options.tick_ns, options.fault_phase_ns, options.seed,
                       std::move(cluster), [this](const std::string& line) {
                         if (logging(1)) log(line);
                       });
  }
}

RunReport Simulation::run() {
  if (logging(1)) {
    for (const Partition& p : network_.partitions()) {
      std::array<std::string, 2> sides;
      for (NodeIndex i = 0; i < network_.node_count(); i++) {
        sides[p.side[i]] += node_name(i) + " ";
      }
      log(fmt::format("partition planned from {} to {}: {}| {}", format_seconds(p.start_ns),
                      format_seconds(p.end_ns), sides[0], sides[1]));
    }
  }
  queue_.push(0, Tick{});
  for (ClientId c = 0; c < options_.clients; c++) {
    queue_.push(random_.uniform_between(0, options_.think_time_max_ns), ClientWake{c});
  }
  const uint64_t deadline_ns = options_.fault_phase_ns + options_.liveness_bound_ns;
  uint64_t stop_ns = deadline_ns;
  bool settling = false;
  bool stopped_by_safety = false;
  while (!queue_.empty() && queue_.next_time() <= stop_ns) {
    EventQueue<Event>::Event event = queue_.pop();
    now_ = event.time_ns;
    std::visit([this](const auto& e) { handle(e); }, event.payload);
    bounded_memory_.observe_network(queue_.size());
    if (safety_violated()) {
      stopped_by_safety = true;
      break;
    }
    const bool done = clients_done_ == options_.clients && node_faults_settled();
    if (!settling && done) {
      // Let the batches still in flight execute everywhere, so that the
      // checkers see them, then stop.
      settling = true;
      stop_ns = now_ + options_.settle_ns;
      if (logging(1)) log("every client completed its workload and every replica caught up");
    } else if (settling && !done) {
      // A newer checkpoint became stable meanwhile and a replica that failed
      // is behind it again: wait for it once more.
      settling = false;
      stop_ns = deadline_ns;
      if (logging(1)) log("a replica that failed fell behind a newer stable checkpoint");
    }
  }
  RunReport report = std::move(report_);
  finish(report, stopped_by_safety);
  return report;
}

bool Simulation::safety_violated() const {
  return agreement_.failure() || commit_quorum_.failure() || exactly_once_.failure() ||
         execution_order_.failure() ||
         bounded_memory_.failure() || recovery_silence_.failure() ||
         write_ahead_.failure() || new_view_->failure() || client_results_ || restart_failure_;
}

void Simulation::handle(const Delivery& delivery) {
  if (delivery.to < config_.n && replicas_[delivery.to]->down) {
    // A crashed replica loses what arrives meanwhile.
    report_.messages_lost_node_faults++;
    if (logging(2)) {
      log(fmt::format("{} -> {}: lost (down)", node_name(delivery.from), node_name(delivery.to)));
    }
    return;
  }
  report_.messages_delivered++;
  trace_.add(now_);
  trace_.add(delivery.from);
  trace_.add(delivery.to);
  trace_.add(*delivery.bytes);
  // The host's first look, at the header alone (Replica::refuse_size).
  if (const std::optional<MessageType> type = wire::peek_type(*delivery.bytes);
      type && delivery.to < config_.n && !replicas_[delivery.to]->twin &&
      replicas_[delivery.to]->replica->refuse_size(*type, delivery.bytes->size())) {
    return;
  }
  Result<Message> decoded = wire::decode(*delivery.bytes);
  if (!decoded) {
    report_.decode_failures++;
    if (logging(1)) {
      log(fmt::format("{} rejected bytes from {}: {}", node_name(delivery.to),
                      node_name(delivery.from), decoded.reason()));
    }
    return;
  }
  if (logging(2)) {
    log(fmt::format("{} <- {}: {}", node_name(delivery.to), node_name(delivery.from),
                    describe(decoded.value())));
  }
  // The receive path of every host (Replica::screen): the core screens the
  // message, which may take it unchecked (a vote it no longer wants) or
  // leave a pre-prepare's signed requests to the others; then it is
  // verified and stepped. A twin's halves may screen differently, so a
  // twin's messages are checked in full.
  const bool to_replica = delivery.to < config_.n;
  // Coverage counts the VIEW-CHANGEs a correct replica sees, the invalid
  // ones too, which its screening refuses before their signatures: here,
  // on arrival, those whose own signature is good.
  if (const auto* vc = std::get_if<ViewChange>(&decoded.value());
      vc != nullptr && to_replica && correct(delivery.to) && vc->sender < config_.n &&
      replicas_[delivery.to]->crypto->verify(Principal::replica(vc->sender),
                                             wire::auth_payload(*vc), vc->signature)) {
    coverage_.observe_delivered(*vc);
  }
  Checks checks;
  if (to_replica && !replicas_[delivery.to]->twin) {
    Replica::Screening screening = replicas_[delivery.to]->replica->screen(decoded.value());
    if (screening.taken) {
      report_.votes_unwanted++;
      return;
    }
    checks = std::move(screening.checks);
  }
  // Authentication at the receiver, as in production: a rejection is counted.
  const Verifier& verifier = to_replica ? *replicas_[delivery.to]->verifier
                                        : *clients_[delivery.to - config_.n]->verifier;
  Result<Verified> verified = verifier.verify(std::move(decoded).value(), std::move(checks));
  if (!verified) {
    report_.verify_failures++;
    if (logging(1)) {
      log(fmt::format("{} rejected a message from {}: {}", node_name(delivery.to),
                      node_name(delivery.from), verified.reason()));
    }
    return;
  }
  if (to_replica) {
    ReplicaNode& node = *replicas_[delivery.to];
    if (node.byzantine && fault_phase()) {
      node.byzantine->observe_received(verified.value().message(), random_);
    }
    if (node.twin && fault_phase()) {
      // Each twin gets a random part of what arrives: a third each, a third both.
      const uint64_t who = random_.uniform(3);
      if (who != 0) {
        node.twin->step(verified.value());
        drain_twin(delivery.to);
      }
      if (who == 1) return;
    }
    const bool was_recovering = node.replica->recovering();
    const Message& message = verified.value().message();
    if (correct(delivery.to)) coverage_.observe_delivered(message);
    node.replica->step(verified.value());
    if (const auto* nv = std::get_if<NewView>(&message); nv && correct(delivery.to)) {
      observe_new_view(delivery.to, *nv);
    }
    drain_replica(delivery.to, was_recovering);
  } else {
    const ClientId c = delivery.to - config_.n;
    clients_[c]->client->step(verified.value());
    drain_client(c);
  }
}

void Simulation::handle(const Tick&) {
  advance_node_faults();
  for (ReplicaId r = 0; r < config_.n; r++) {
    ReplicaNode& node = *replicas_[r];
    if (node.down) continue;
    const bool was_recovering = node.replica->recovering();
    node.replica->tick();
    drain_replica(r, was_recovering);
    if (node.twin && fault_phase()) {
      node.twin->tick();
      drain_twin(r);
    }
    if (node.byzantine && fault_phase()) {
      for (Outgoing& out : node.byzantine->on_tick(node.replica->view(),
                                                   node.replica->low_watermark(), random_)) {
        auto bytes = std::make_shared<const Bytes>(wire::encode(*out.message));
        send_bytes(r, out.to, bytes, *out.message, out.extra_delay_ns);
      }
    }
  }
  if (fault_phase()) attack();
  if (conductor_) conductor_->tick(now_);
  for (ClientId c = 0; c < options_.clients; c++) {
    clients_[c]->client->tick();
    drain_client(c);
  }
  queue_.push(now_ + options_.tick_ns, Tick{});
}

void Simulation::handle(const ClientWake& wake) { issue(wake.client); }

void Simulation::drain_replica(ReplicaId r, bool was_recovering) {
  ReplicaNode& node = *replicas_[r];
  Effects effects = node.replica->take_effects();
  // The write-ahead checker reads the order the core asked for: no send
  // before its record.
  write_ahead_.observe(r, effects);
  // Votes count as sent while recovering only if the replica was recovering
  // before this input and still is: it may leave recovery and vote within
  // one input. The checker's record of every vote covers that case.
  const bool silent = was_recovering && node.replica->recovering();
  for (Effect& effect : effects.list) node.held.push_back({std::move(effect), silent});
  carry_out(r);
  bounded_memory_.observe(r, node.replica->log_size(), node.replica->pending_requests());
  report_.peak_log_size = std::max(report_.peak_log_size, node.replica->log_size());
  if (node.replica->recovering() && !node.down) observe_recovering(r);
  note_view(r);
  node.view_changing = node.replica->view_changing();
  node.low_watermark = node.replica->low_watermark();
}

// A NEW-VIEW that correct replica r received (after stepping it) or sent
// as the new primary: judged once per message; an install when r was not
// working in its view before the input and is now.
void Simulation::observe_new_view(ReplicaId r, const NewView& nv) {
  const NewViewVerdict& verdict = new_view_->judge(nv);
  coverage_.observe_new_view(nv, verdict);
  const ReplicaNode& node = *replicas_[r];
  const bool before = node.view == nv.view && !node.view_changing;
  const bool after = node.replica->view() == nv.view && !node.replica->view_changing();
  if (before || !after) return;
  new_view_->observe_install(r, nv);
  bool others_recovering = false;
  for (ReplicaId other = 0; other < config_.n; other++) {
    const ReplicaNode& o = *replicas_[other];
    if (other != r && !o.down && o.replica->recovering()) others_recovering = true;
  }
  coverage_.observe_install(r, nv, verdict, node.low_watermark, others_recovering);
}

// A recovering replica while the primary of the view the working correct
// replicas are in (the highest such view) is faulty: down, cut off,
// Byzantine, or recovering itself (the wiped replica may be that primary).
void Simulation::observe_recovering(ReplicaId r) {
  std::optional<View> working;
  for (ReplicaId other = 0; other < config_.n; other++) {
    const ReplicaNode& o = *replicas_[other];
    if (!correct(other) || o.down || o.cut_off || o.replica->recovering() ||
        o.replica->view_changing()) {
      continue;
    }
    working = std::max(working.value_or(0), o.replica->view());
  }
  if (!working) return;
  const ReplicaNode& primary = *replicas_[config_.primary(*working)];
  if (primary.down || primary.cut_off || primary.byzantine || primary.replica->recovering()) {
    coverage_.observe_recovery_under_faulty_primary(r, *working);
  }
}

// What a replica's own sends tell the checkers: its commits (before it can
// execute on them) and its checkpoints' state digests.
void Simulation::observe_send(ReplicaId r, const std::shared_ptr<const Message>& message) {
  if (const auto* commit = std::get_if<Commit>(message.get()); commit && commit->sender == r) {
    commit_quorum_.observe_commit(r, *commit);
  }
  if (const auto* checkpoint = std::get_if<Checkpoint>(message.get())) {
    agreement_.observe_checkpoint(checkpoint->sender, checkpoint->seq, checkpoint->state_digest);
  }
}

// A twin's effects go out like its sibling's (rewritten by the Byzantine
// layer) but are not observed: the checkers speak of correct replicas.
void Simulation::drain_twin(ReplicaId r) {
  ReplicaNode& node = *replicas_[r];
  Effects effects = node.twin->take_effects();
  for (const Send& s : effects.all<Send>()) {
    if (const auto* commit = std::get_if<Commit>(s.message.get()); commit && commit->sender == r) {
      commit_quorum_.observe_commit(r, *commit);
    }
    send(r, s);
  }
}

// The Byzantine clients' requests for this tick, each to one replica or to all.
void Simulation::attack() {
  for (Attacker& a : attackers_) {
    if (!random_.chance(0.1)) continue;
    for (Request& r : client_attack(a.attack, a.id, config_, *a.crypto, a.next_timestamp, random_)) {
      report_.attacker_requests++;
      auto bytes = std::make_shared<const Bytes>(wire::encode(Message(std::move(r))));
      const bool to_all = random_.chance(0.5);
      const ReplicaId target = static_cast<ReplicaId>(random_.uniform(config_.n));
      for (ReplicaId to = 0; to < config_.n; to++) {
        if (!to_all && to != target) continue;
        const uint64_t latency =
            random_.uniform_between(options_.latency_min_ns, options_.latency_max_ns);
        queue_.push(now_ + latency,
                    Delivery{static_cast<NodeIndex>(config_.n + options_.clients), to, bytes});
      }
    }
  }
}

void Simulation::note_view(ReplicaId r) {
  ReplicaNode& node = *replicas_[r];
  const View view = node.replica->view();
  if (view == node.view) return;
  if (logging(1)) log(fmt::format("r{} moved from view {} to view {}", r, node.view, view));
  node.view = view;
  if (view > report_.view_max) report_.view_max = view;
}

void Simulation::observe(ReplicaId r, const Executed& executed) {
  if (!replicas_[r]->byzantine && clients_done_ < options_.clients) {
    report_.longest_stall_ns = std::max(report_.longest_stall_ns, now_ - last_progress_ns_);
    last_progress_ns_ = now_;
  }
  trace_.add(r);
  trace_.add(executed.seq);
  trace_.add(executed.view);
  trace_.add(ByteView(executed.batch_digest.data(), executed.batch_digest.size()));
  for (const ExecutedRequest& request : executed.requests) {
    trace_.add(request.client);
    trace_.add(request.timestamp);
    trace_.add(request.fresh ? 1 : 0);
  }
  if (logging(1)) {
    log(fmt::format("r{} executed s{} v{} batch {} ({} requests)", r, executed.seq,
                    executed.view, to_hex(ByteView(executed.batch_digest.data(), 8)),
                    executed.requests.size()));
  }
  agreement_.observe(r, executed);
  if (conductor_) conductor_->observe(r, executed, now_);
  // A Byzantine replica's core is correct code, but its twin or its lies
  // feed it what no correct replica would get: the rule is for the others.
  if (!replicas_[r]->byzantine) commit_quorum_.observe(r, executed);
  if (correct(r)) coverage_.observe(executed);
  exactly_once_.observe(r, executed);
  execution_order_.observe(r, executed);
}

void Simulation::observe(ReplicaId r, const StateInstalled& installed) {
  trace_.add(r);
  trace_.add(installed.seq);
  trace_.add(ByteView(installed.digest.data(), installed.digest.size()));
  trace_.add(installed.bytes_fetched);
  if (logging(1)) {
    log(fmt::format("r{} installed checkpoint s{} state {} ({} bytes fetched)", r, installed.seq,
                    to_hex(ByteView(installed.digest.data(), 8)), installed.bytes_fetched));
  }
  report_.state_transfers++;
  report_.state_bytes_fetched += installed.bytes_fetched;
  RunReport::ReplicaOutcome& outcome = replicas_[r]->outcome;
  if (correct(r)) {
    const ReplicaNode& node = *replicas_[r];
    coverage_.observe_state_installed(node.view_changing && node.replica->view_changing());
  }
  outcome.state_transfers++;
  outcome.state_bytes_fetched += installed.bytes_fetched;
  execution_order_.observe_install(r, installed, agreement_.checkpoint_digest(installed.seq));
  exactly_once_.observe_install(r, installed.seq);
}

void Simulation::drain_client(ClientId c) {
  ClientNode& node = *clients_[c];
  ClientEffects effects = node.client->take_effects();
  for (const Send& s : effects.sends) send(client_node(c), s);
  if (!effects.completed) return;
  if (!*effects.completed) {
    // Only a client whose timestamps went back gets this; the simulator's
    // correct clients never do.
    fail_client_results(fmt::format("client {}'s request failed: {}", c,
                                    effects.completed->reason()));
    return;
  }
  complete(c, effects.completed->value());
}

void Simulation::issue(ClientId c) {
  ClientNode& node = *clients_[c];
  PBFT_ASSERT(!node.outstanding && node.issued < options_.requests);
  workload::PlannedOperation planned = workload::plan_operation(random_, c, node.issued + 1, options_.keys);
  Result<Timestamp> timestamp = node.client->submit(kv::encode_op(planned.op));
  if (!timestamp) {
    fail_client_results(
        fmt::format("client {} rejected operation {}: {}", c, node.issued + 1,
                    timestamp.reason()));
    return;
  }
  planned.entry.call_ns = now_;
  planned.entry.status = history::Outcome::unknown;
  node.outstanding = timestamp.value();
  node.history_index = history_.size();
  node.issued++;
  history_.push_back(std::move(planned.entry));
  if (logging(1)) {
    log(fmt::format("c{} submits t{}: {}", c, timestamp.value(),
                    history::to_json_line(history_[node.history_index])));
  }
  drain_client(c);
}

void Simulation::complete(ClientId c, const Completion& completion) {
  ClientNode& node = *clients_[c];
  if (!node.outstanding || completion.timestamp != *node.outstanding) {
    fail_client_results(fmt::format(
        "client {} completed timestamp {}, but its outstanding request is {}", c,
        completion.timestamp,
        node.outstanding ? std::to_string(*node.outstanding) : std::string("none")));
    return;
  }
  history::Entry& entry = history_[node.history_index];
  entry.return_ns = now_;
  if (Status s = workload::record_result(entry, completion.result); !s) {
    fail_client_results(fmt::format("client {} timestamp {}: {}", c, completion.timestamp,
                                    s.reason()));
    return;
  }
  node.outstanding.reset();
  node.completed++;
  node.last_completion_ns = now_;
  report_.ops_completed++;
  if (logging(1)) {
    log(fmt::format("c{} completed t{} in view {}: {}", c, completion.timestamp,
                    completion.view, history::to_json_line(entry)));
  }
  if (node.completed < options_.requests) {
    queue_.push(now_ + random_.uniform_between(0, options_.think_time_max_ns), ClientWake{c});
  } else {
    clients_done_++;
  }
}

void Simulation::fail_client_results(std::string details) {
  if (!client_results_) client_results_ = Failure{checker_name::client_results, std::move(details)};
}

void Simulation::send(NodeIndex from, const Send& s) {
  PBFT_ASSERT(s.message != nullptr);
  std::shared_ptr<const Message> message = s.message;
  if (from < config_.n && replicas_[from]->badstate) {
    if (const auto* reply = std::get_if<FetchReply>(message.get())) {
      ReplicaNode& node = *replicas_[from];
      std::optional<FetchReply> bad = node.badstate->rewrite(*reply, *node.store, random_);
      if (bad) {
        if (logging(1)) {
          log(fmt::format("r{} (badstate) corrupts its fetch-reply for checkpoint s{} level {} "
                          "index {}",
                          from, reply->checkpoint, reply->level, reply->index));
        }
        message = std::make_shared<const Message>(std::move(*bad));
      }
    }
  }
  if (from < config_.n && replicas_[from]->byzantine && fault_phase()) {
    ReplicaNode& node = *replicas_[from];
    for (Outgoing& out : node.byzantine->rewrite(Send{s.to, message}, random_)) {
      Bytes encoded = wire::encode(*out.message);
      if (out.corrupt_bytes) encoded[random_.uniform(encoded.size())] ^= 0xa5;
      send_bytes(from, out.to, std::make_shared<const Bytes>(std::move(encoded)), *out.message,
                 out.extra_delay_ns);
    }
    return;
  }
  // Encoded once per send, whatever the number of destinations, as the
  // runtime does; every destination receives the same bytes.
  send_bytes(from, s.to, std::make_shared<const Bytes>(wire::encode(*message)), *message, 0);
}

void Simulation::send_bytes(NodeIndex from, Destination to,
                            const std::shared_ptr<const Bytes>& bytes, const Message& message,
                            uint64_t extra_delay_ns) {
  switch (to.kind) {
    case Destination::Kind::replica:
      if (to.id >= config_.n) {
        report_.misaddressed++;
        return;
      }
      transmit(from, to.id, bytes, message, extra_delay_ns);
      return;
    case Destination::Kind::all_replicas:
      for (ReplicaId r = 0; r < config_.n; r++) {
        if (r != from) transmit(from, r, bytes, message, extra_delay_ns);
      }
      return;
    case Destination::Kind::client:
      if (to.id >= options_.clients) {
        // A Byzantine client's replies go nowhere; anything else is a bug.
        if (to.id >= options_.clients + attackers_.size()) report_.misaddressed++;
        return;
      }
      transmit(from, client_node(to.id), bytes, message, extra_delay_ns);
      return;
  }
  PBFT_ASSERT(false);
}

void Simulation::transmit(NodeIndex from, NodeIndex to, const std::shared_ptr<const Bytes>& bytes,
                          const Message& message, uint64_t extra_delay_ns) {
  report_.messages_sent++;
  if (conductor_ && from != to && fault_phase() &&
      conductor_->route(from, to, message, now_) == Conductor::Verdict::drop) {
    report_.messages_conducted++;
    if (logging(2)) log(fmt::format("{} -> {}: lost (conductor)", node_name(from), node_name(to)));
    return;
  }
  if ((from < config_.n && replicas_[from]->cut_off) ||
      (to < config_.n && replicas_[to]->cut_off)) {
    report_.messages_lost_node_faults++;
    if (logging(2)) log(fmt::format("{} -> {}: lost (lagging)", node_name(from), node_name(to)));
    return;
  }
  if (from == to) {
    // A node talking to itself does not use the network.
    queue_.push(now_, Delivery{from, to, bytes});
    return;
  }
  const Route route = network_.route(from, to, now_);
  if (route.dropped) report_.messages_dropped++;
  if (route.partitioned) report_.messages_partitioned++;
  if (route.duplicated) report_.messages_duplicated++;
  if (logging(2) && route.copies == 0) {
    log(fmt::format("{} -> {}: lost ({})", node_name(from), node_name(to),
                    route.partitioned ? "partition" : "drop"));
  }
  for (uint32_t i = 0; i < route.copies; i++) {
    queue_.push(now_ + route.delay_ns[i] + extra_delay_ns, Delivery{from, to, bytes});
  }
}

// ---------------------------------------------------------------------------
// Node faults

void Simulation::plan_node_faults() {
  if (options_.script) {
    script_ = options_.script->episodes;
    std::stable_sort(script_.begin(), script_.end(),
                     [](const ScriptedNodeFault& a, const ScriptedNodeFault& b) {
                       return a.start_ns < b.start_ns;
                     });
    if (options_.script->badstate) report_.badstate_replica = *options_.script->badstate;
  } else {
    const FaultSet& faults = options_.faults;
    if (faults.powerloss) {
      power_cut_ns_ = random_.uniform_between(options_.fault_phase_ns / 10,
                                              options_.fault_phase_ns * 8 / 10);
    }
    if (faults.crash) random_faults_.push_back(NodeFault::crash);
    if (faults.wipe) random_faults_.push_back(NodeFault::wipe);
    if (faults.lag) random_faults_.push_back(NodeFault::lag);
    // The f places for faulty replicas go to three kinds: the node-fault
    // slots (crash, wipe, lag: one episode at a time each), the badstate
    // replica (one at most), and Byzantine replicas. Each enabled kind gets
    // a place while places last, in an order the seed picks (with f = 1 the
    // seed picks one kind); places left over go to node-fault slots or
    // Byzantine replicas.
    enum Kind : uint8_t { node_slot, badstate, byzantine };
    std::vector<Kind> kinds;
    if (!random_faults_.empty()) kinds.push_back(node_slot);
    if (faults.badstate) kinds.push_back(badstate);
    if (faults.any_byzantine_replica()) kinds.push_back(byzantine);
    for (size_t i = kinds.size(); i > 1; i--) std::swap(kinds[i - 1], kinds[random_.uniform(i)]);
    std::array<uint32_t, 3> places{};
    uint32_t left = config_.f;
    for (Kind kind : kinds) {
      if (left == 0) break;
      places[kind]++;
      left--;
    }
    std::vector<Kind> growable;
    for (Kind kind : {node_slot, byzantine}) {
      if (places[kind] > 0) growable.push_back(kind);
    }
    for (; left > 0 && !growable.empty(); left--) places[growable[random_.uniform(growable.size())]]++;
    if (places[badstate] > 0) {
      report_.badstate_replica = static_cast<ReplicaId>(random_.uniform(config_.n));
    }
    for (uint32_t i = 0; i < places[node_slot]; i++) {
      const FaultRates& r = options_.rates;
      slot_next_start_ns_.push_back(
          random_.uniform_between(r.node_fault_gap_min_ns, r.node_fault_gap_max_ns));
    }
    plan_byzantine(places[byzantine]);
  }
  if (report_.badstate_replica) {
    ReplicaNode& node = *replicas_[*report_.badstate_replica];
    node.badstate.emplace(config_, *node.crypto, options_.rates.badstate_probability);
    node.outcome.badstate = true;
    if (logging(1)) log(fmt::format("r{} serves bad state", *report_.badstate_replica));
  }
}

// `count` Byzantine replicas, any but the badstate one, each with one or
// two of the enabled behaviours.
void Simulation::plan_byzantine(uint32_t count) {
  const FaultSet& faults = options_.faults;
  std::vector<Behaviour> enabled;
  const std::array<std::pair<bool, Behaviour>, behaviour_count> flags = {{
      {faults.silent, Behaviour::silent},
      {faults.equivocate, Behaviour::equivocate},
      {faults.slow, Behaviour::slow},
      {faults.censor, Behaviour::censor},
      {faults.forge, Behaviour::forge},
      {faults.replay, Behaviour::replay},
      {faults.wrong_digest, Behaviour::wrong_digest},
      {faults.bad_checkpoint, Behaviour::bad_checkpoint},
      {faults.bad_view_change, Behaviour::bad_view_change},
      {faults.bad_new_view, Behaviour::bad_new_view},
      {faults.twins, Behaviour::twins},
      {faults.bad_reply, Behaviour::bad_reply},
      {faults.replay_requests, Behaviour::replay_requests},
      {faults.collude, Behaviour::collude},
  }};
  for (const auto& [on, behaviour] : flags) {
    if (on && behaviour != Behaviour::collude) enabled.push_back(behaviour);
  }
  // A colluding run: every Byzantine replica joins the cabal and does
  // nothing else (three times as likely as any one behaviour: it needs a
  // member to be primary, and its attack has four variants).
  std::shared_ptr<Cabal> cabal;
  if (faults.collude && random_.uniform(enabled.size() + 3) < 3) {
    cabal = std::make_shared<Cabal>();
    enabled = {Behaviour::collude};
  }
  std::vector<ReplicaId> candidates;
  for (ReplicaId r = 0; r < config_.n; r++) {
    if (!report_.badstate_replica || *report_.badstate_replica != r) candidates.push_back(r);
  }
  for (uint32_t i = 0; i < count && !enabled.empty() && !candidates.empty(); i++) {
    std::vector<Behaviour> behaviours = {enabled[random_.uniform(enabled.size())]};
    if (enabled.size() > 1 && random_.chance(0.3)) {
      const Behaviour second = enabled[random_.uniform(enabled.size())];
      if (second != behaviours.front()) behaviours.push_back(second);
    }
    // A behaviour that acts as primary only gets view 0's primary most of
    // the time: otherwise it waits for a view change to come its way.
    const bool as_primary = std::any_of(behaviours.begin(), behaviours.end(), acts_as_primary);
    const bool primary_first =
        as_primary && i == 0 && candidates.front() == 0 && random_.chance(0.75);
    const size_t pick = primary_first ? 0 : random_.uniform(candidates.size());
    const ReplicaId r = candidates[pick];
    candidates.erase(candidates.begin() + static_cast<std::ptrdiff_t>(pick));
    ReplicaNode& node = *replicas_[r];
    RunReport::ByzantineReplicaPlan plan{r, {}};
    for (Behaviour b : behaviours) plan.behaviours.push_back(to_string(b));
    report_.byzantine_replicas.push_back(plan);
    node.outcome.byzantine = true;
    const bool twins = std::find(behaviours.begin(), behaviours.end(), Behaviour::twins) !=
                       behaviours.end();
    node.byzantine.emplace(config_, *node.crypto, std::move(behaviours), options_.tick_ns, cabal);
    if (twins) {
      node.twin_store = std::make_unique<kv::Store>();
      Result<std::unique_ptr<Replica>> twin =
          Replica::create(config_, r, *node.crypto, *node.twin_store, replica_options());
      PBFT_ASSERT(twin.is_ok());
      node.twin = std::move(twin).value();
    }
    if (logging(1)) {
      std::string list;
      for (const std::string& b : plan.behaviours) list += (list.empty() ? "" : ", ") + b;
      log(fmt::format("r{} is Byzantine: {}", r, list));
    }
  }
}

bool Simulation::faulty(ReplicaId r) const {
  if (report_.badstate_replica && *report_.badstate_replica == r) return true;
  if (replicas_[r]->byzantine) return true;
  return std::any_of(episodes_.begin(), episodes_.end(),
                     [r](const Episode& e) { return e.replica == r; });
}

// The highest sequence number another replica executed.
Seq Simulation::others_executed(ReplicaId r) const {
  Seq highest = 0;
  for (ReplicaId other = 0; other < config_.n; other++) {
    if (other != r) highest = std::max(highest, replicas_[other]->replica->last_executed());
  }
  return highest;
}

// The highest stable checkpoint of the replicas that stayed correct: where
// every replica that failed must get back to.
Seq Simulation::stable_mark() const {
  Seq mark = 0;
  for (ReplicaId r = 0; r < config_.n; r++) {
    const ReplicaNode& node = *replicas_[r];
    const RunReport::ReplicaOutcome& o = node.outcome;
    if (o.badstate || o.crashes + o.wipes + o.lags > 0) continue;
    mark = std::max(mark, node.replica->low_watermark());
  }
  return mark;
}

bool Simulation::node_faults_settled() const {
  const Seq mark = stable_mark();
  for (const auto& node : replicas_) {
    if (node->down || node->cut_off) return false;
    const RunReport::ReplicaOutcome& o = node->outcome;
    if (o.crashes + o.wipes + o.lags == 0) continue;
    if (node->replica->last_executed() < mark || node->replica->transferring()) return false;
  }
  return true;
}

void Simulation::advance_node_faults() {
  for (auto it = episodes_.begin(); it != episodes_.end();) {
    if (!episode_over(*it)) {
      ++it;
      continue;
    }
    if (logging(1)) log(fmt::format("r{}'s {} is over", it->replica, to_string(it->fault)));
    if (it->slot) {
      const FaultRates& r = options_.rates;
      slot_next_start_ns_[*it->slot] =
          now_ + random_.uniform_between(r.node_fault_gap_min_ns, r.node_fault_gap_max_ns);
    }
    it = episodes_.erase(it);
  }
  if (power_cut_ns_ && now_ >= *power_cut_ns_ && clients_done_ < options_.clients) {
    power_cut_ns_.reset();
    power_cut();
  }
  while (script_next_ < script_.size() && script_[script_next_].start_ns <= now_) {
    const ScriptedNodeFault& e = script_[script_next_++];
    start_episode(e.fault, e.replica, e.down_ns, std::nullopt);
  }
  // New episodes only while the fault phase lasts and the workload runs:
  // the liveness phase needs every replica back.
  if (now_ >= options_.fault_phase_ns || clients_done_ == options_.clients) return;
  for (size_t slot = 0; slot < slot_next_start_ns_.size(); slot++) {
    const bool busy = std::any_of(episodes_.begin(), episodes_.end(),
                                  [slot](const Episode& e) { return e.slot == slot; });
    if (!busy && now_ >= slot_next_start_ns_[slot]) start_random_episode(slot);
  }
}

void Simulation::start_random_episode(size_t slot) {
  const FaultRates& rates = options_.rates;
  // Any replica that is not faulty already, the primary included.
  std::vector<ReplicaId> eligible;
  for (ReplicaId r = 0; r < config_.n; r++) {
    if (!faulty(r)) eligible.push_back(r);
  }
  if (eligible.empty()) {
    slot_next_start_ns_[slot] =
        now_ + random_.uniform_between(rates.node_fault_gap_min_ns, rates.node_fault_gap_max_ns);
    return;
  }
  const NodeFault fault = random_faults_[random_.uniform(random_faults_.size())];
  const ReplicaId replica = eligible[random_.uniform(eligible.size())];
  const uint64_t down_ns = random_.uniform_between(rates.down_time_min_ns, rates.down_time_max_ns);
  start_episode(fault, replica, down_ns, slot);
}

void Simulation::start_episode(NodeFault fault, ReplicaId r, uint64_t down_ns,
                               std::optional<size_t> slot) {
  ReplicaNode& node = *replicas_[r];
  Episode episode{fault, r, slot};
  // Everyone is back by the end of the fault phase.
  episode.restart_ns = std::max(now_, std::min(now_ + down_ns, options_.fault_phase_ns));
  trace_.add(0xfa17);
  trace_.add(static_cast<uint64_t>(fault));
  trace_.add(r);
  switch (fault) {
    case NodeFault::crash:
      crash(r);
      node.outcome.crashes++;
      report_.crashes++;
      break;
    case NodeFault::wipe:
      node.down = true;
      node.held.clear();
      node.syncing = false;
      node.incarnation++;
      node.outcome.wipes++;
      report_.wipes++;
      break;
    case NodeFault::lag:
      node.cut_off = true;
      node.outcome.lags++;
      report_.lags++;
      break;
  }
  if (logging(1)) {
    log(fmt::format("r{} {}{}", r, to_string(fault),
                    fault == NodeFault::lag
                        ? std::string(" (cut off)")
                        : fmt::format(" until {}", format_seconds(episode.restart_ns))));
  }
  episodes_.push_back(episode);
}

bool Simulation::episode_over(Episode& episode) {
  ReplicaNode& node = *replicas_[episode.replica];
  switch (episode.fault) {
    case NodeFault::crash:
      if (now_ < episode.restart_ns) return false;
      restart_from_disk(episode.replica);
      return true;
    case NodeFault::wipe:
      if (!episode.restarted) {
        if (now_ < episode.restart_ns) return false;
        restart_wiped(episode.replica);
        episode.restarted = true;
      }
      // Silent while it recovers: faulty for the quorums until then.
      return !node.replica->recovering();
    case NodeFault::lag: {
      const bool beyond_window =
          others_executed(episode.replica) > node.replica->last_executed() + config_.log_window;
      if (!beyond_window && now_ < options_.fault_phase_ns) return false;
      if (beyond_window) report_.lags_beyond_window++;
      node.cut_off = false;
      return true;
    }
  }
  return true;
}

// The process dies: what it held in memory is gone, the effects waiting
// for a sync with it, and its disk keeps what was durable and, of the
// writes in flight, those that made it before the power went (the next one
// torn: the store's checksums discard it).
void Simulation::crash(ReplicaId r) {
  ReplicaNode& node = *replicas_[r];
  node.down = true;
  node.held.clear();
  node.syncing = false;
  node.incarnation++;
  const size_t in_flight = node.disk->in_flight();
  const size_t kept = random_.uniform(in_flight + 1);
  node.disk->crash(kept);
  if (correct(r)) coverage_.observe_crash(kept < in_flight);
}

// A crashed replica starts again from its disk: the journal reads back what
// it persisted and the replica resumes from there (replica.h,
// ReplicaOptions::restore), with a fresh service that the restore fills.
void Simulation::restart_from_disk(ReplicaId r) {
  ReplicaNode& node = *replicas_[r];
  node.retired_fetch_replies_rejected += node.replica->counters().fetch_replies_rejected;
  node.replica.reset();
  node.store = std::make_unique<kv::Store>();
  node.journal = std::make_unique<storage::Journal>(*node.disk);
  Result<PersistedState> persisted = node.journal->load();
  PBFT_ASSERT(persisted.is_ok());  // the model's disk is never corrupt
  ReplicaOptions options = replica_options();
  options.restore = std::make_shared<const PersistedState>(std::move(persisted).value());
  Result<std::unique_ptr<Replica>> replica =
      Replica::create(config_, r, *node.crypto, *node.store, options);
  if (!replica) {
    // The records contradict each other: a bug in what the core recorded.
    // The run stops at this failure; the replica stays down meanwhile.
    restart_failure_ = Failure{checker_name::write_ahead,
                               fmt::format("r{} cannot restart from its disk: {}", r,
                                           replica.reason())};
    replica = Replica::create(config_, r, *node.crypto, *node.store, replica_options());
    PBFT_ASSERT(replica.is_ok());
    node.replica = std::move(replica).value();
    return;
  }
  node.replica = std::move(replica).value();
  node.down = false;
  node.view_changing = node.replica->view_changing();
  const Seq restored = node.replica->low_watermark();
  execution_order_.observe_restart(r, restored);
  exactly_once_.observe_install(r, restored);
  trace_.add(0x7e57a7);
  trace_.add(r);
  if (logging(1)) {
    log(fmt::format("r{} restarts from its disk: view {}{}, checkpoint {}, executed {}", r,
                    node.replica->view(), node.replica->view_changing() ? " (changing)" : "",
                    restored, node.replica->last_executed()));
  }
  report_.restarts_replayed += node.replica->last_executed() - restored;
  if (correct(r)) {
    coverage_.observe_restart(r, node.replica->last_executed() - restored,
                              node.replica->view_changing());
  }
  drain_replica(r, false);
}

// A power cut: from f+1 to n replicas (n in half the runs), Byzantine
// ones aside, crash at the same instant and come back together.
void Simulation::power_cut() {
  std::vector<ReplicaId> up;
  for (ReplicaId r = 0; r < config_.n; r++) {
    if (correct(r) && !replicas_[r]->down && !faulty(r)) up.push_back(r);
  }
  const uint32_t f = config_.f;
  const uint32_t wanted = random_.uniform(2) == 0
                              ? config_.n
                              : f + 1 + static_cast<uint32_t>(random_.uniform(config_.n - f));
  for (size_t i = up.size(); i > 1; i--) std::swap(up[i - 1], up[random_.uniform(i)]);
  if (up.size() > wanted) up.resize(wanted);
  const FaultRates& rates = options_.rates;
  const uint64_t down_ns = random_.uniform_between(rates.down_time_min_ns, rates.down_time_max_ns);
  report_.power_cuts++;
  coverage_.observe_power_cut(static_cast<uint32_t>(up.size()));
  if (logging(1)) log(fmt::format("power cut: {} replicas go down", up.size()));
  for (ReplicaId r : up) start_episode(NodeFault::crash, r, down_ns, std::nullopt);
}

// A wiped replica comes back as a new incarnation: same keys, an empty
// store, and recovering, so it fetches the state and stays silent until it
// is past every sequence number it may have voted on.
void Simulation::restart_wiped(ReplicaId r) {
  ReplicaNode& node = *replicas_[r];
  node.retired_fetch_replies_rejected += node.replica->counters().fetch_replies_rejected;
  node.replica.reset();
  node.store = std::make_unique<kv::Store>();
  // Its disk is gone too.
  node.disk = std::make_unique<storage::MemoryStorage>();
  node.journal = std::make_unique<storage::Journal>(*node.disk);
  node.held.clear();
  node.syncing = false;
  node.incarnation++;
  // The host's fresh nonce for this incarnation (never 0), from the seeded
  // generator so that the run replays.
  const uint64_t nonce = random_.next() | 1;
  ReplicaOptions recovering = replica_options();
  recovering.recovering = true;
  recovering.recovery_nonce = nonce;
  Result<std::unique_ptr<Replica>> replica =
      Replica::create(config_, r, *node.crypto, *node.store, recovering);
  PBFT_ASSERT(replica.is_ok());
  node.replica = std::move(replica).value();
  node.down = false;
  node.view = 0;
  node.view_changing = false;
  node.low_watermark = 0;
  if (!node.replica->recovering()) node.outcome.restarted_recovering = false;
  execution_order_.observe_wipe(r);
  exactly_once_.observe_wipe(r);
  write_ahead_.forget(r);
  coverage_.observe_wipe(r);
  trace_.add(0x5a5e);
  trace_.add(r);
  if (logging(1)) log(fmt::format("r{} restarts with empty state, recovering", r));
  drain_replica(r, true);
}

// Carried out in order, as a host does: a Persist is written to the disk,
// and when it asks for a sync the effects after it wait until the sync is
// done (a SyncDone event: a disk takes time). Persists that queue up
// meanwhile are written together after it, under one sync.
void Simulation::carry_out(ReplicaId r) {
  ReplicaNode& node = *replicas_[r];
  while (!node.syncing && !node.held.empty()) {
    ReplicaNode::Held held = std::move(node.held.front());
    node.held.pop_front();
    std::visit(
        Overloaded{[&](const Persist& p) {
                     report_.records_persisted += p.records.size();
                     Persist merged{p.records, p.sync};
                     // Later Persists join this write: persisting early is safe.
                     for (auto it = node.held.begin(); merged.sync && it != node.held.end();) {
                       if (auto* later = std::get_if<Persist>(&it->effect)) {
                         report_.records_persisted += later->records.size();
                         merged.records.insert(merged.records.end(), later->records.begin(),
                                               later->records.end());
                         it = node.held.erase(it);
                       } else {
                         ++it;
                       }
                     }
                     const Status written = node.journal->append(Persist{merged.records, false});
                     PBFT_ASSERT(written.is_ok());  // the model's disk fails only when told to
                     for (const Record& record : merged.records) {
                       const auto* sent = std::get_if<SentRecord>(&record);
                       const Commit* commit = sent ? std::get_if<Commit>(sent->message.get())
                                                   : nullptr;
                       if (commit != nullptr) commit_quorum_.observe_commit(r, *commit);
                     }
                     if (!merged.sync) return;
                     node.syncing = true;
                     report_.syncs++;
                     const FaultRates& rates = options_.rates;
                     queue_.push(now_ + random_.uniform_between(rates.sync_min_ns, rates.sync_max_ns),
                                 SyncDone{r, node.incarnation});
                   },
                   [&](const Send& send) {
                     observe_send(r, send.message);
                     if (const auto* nv = std::get_if<NewView>(send.message.get());
                         nv && nv->sender == r && correct(r)) {
                       observe_new_view(r, *nv);
                     }
                     recovery_silence_.observe_send(r, held.silent, *send.message);
                     this->send(r, send);
                   },
                   [&](const Executed& executed) { observe(r, executed); },
                   [&](const StateInstalled& installed) { observe(r, installed); }},
        held.effect);
  }
}

void Simulation::handle(const SyncDone& done) {
  ReplicaNode& node = *replicas_[done.replica];
  if (done.incarnation != node.incarnation || node.down) return;  // it crashed meanwhile
  const Status synced = node.disk->write(storage::WriteBatch{}, true);
  PBFT_ASSERT(synced.is_ok());
  node.syncing = false;
  carry_out(done.replica);
}

std::string Simulation::node_name(NodeIndex node) const {
  return node < config_.n ? fmt::format("r{}", node) : fmt::format("c{}", node - config_.n);
}

void Simulation::log(const std::string& line) const {
  options_.log(fmt::format("[{:>4}.{:06} s] {}", now_ / ns_per_s, now_ / 1000 % 1'000'000,
                           line));
}

std::string Simulation::cluster_state() const {
  std::string state;
  for (ReplicaId r = 0; r < config_.n; r++) {
    const Replica& replica = *replicas_[r]->replica;
    if (r > 0) state += ", ";
    state += fmt::format("r{} v{} e{} h{} p{}", r, replica.view(), replica.last_executed(),
                         replica.low_watermark(), replica.pending_requests());
    const ReplicaNode& node = *replicas_[r];
    if (node.down) state += " down";
    if (node.cut_off) state += " cut-off";
    if (replica.recovering()) state += " recovering";
    if (replica.transferring()) state += fmt::format(" fetching s{}", *replica.transfer_target());
  }
  return state;
}

void Simulation::finish(RunReport& report, bool stopped_by_safety) const {
  report.seed = options_.seed;
  report.replicas = config_.n;
  report.f = config_.f;
  report.clients = options_.clients;
  report.faults = options_.faults;
  report.fault_phase_ns = options_.fault_phase_ns;
  report.liveness_bound_ns = options_.liveness_bound_ns;
  report.trace_hash = trace_.value();
  report.virtual_time_ns = now_;
  report.ops_total = uint64_t{options_.clients} * options_.requests;
  report.batches_executed = agreement_.decided();

  auto add = [&report](const char* name, const std::optional<Failure>& failure) {
    CheckerOutcome outcome;
    outcome.name = name;
    if (failure) {
      outcome.state = CheckerOutcome::State::failed;
      outcome.details = failure->details;
      if (!report.failure) report.failure = failure;
    }
    report.checkers.push_back(std::move(outcome));
  };
  add(checker_name::agreement, agreement_.failure());
  add(checker_name::commit_quorum, commit_quorum_.failure());
  add(checker_name::exactly_once, exactly_once_.failure());
  add(checker_name::execution_order, execution_order_.failure());
  add(checker_name::bounded_memory, bounded_memory_.failure());
  add(checker_name::recovery_silence, recovery_silence_.failure());
  add(checker_name::write_ahead, write_ahead_.failure() ? write_ahead_.failure() : restart_failure_);
  add(checker_name::new_view, new_view_->failure());
  add(checker_name::client_results, client_results_);
  add(checker_name::linearizability,
      check_linearizability(history_, options_.linearizability_budget));
  if (stopped_by_safety) {
    report.checkers.push_back(CheckerOutcome{checker_name::liveness,
                                             CheckerOutcome::State::skipped,
                                             "the run stopped at a safety violation"});
  } else {
    std::vector<ClientProgress> progress;
    for (ClientId c = 0; c < options_.clients; c++) {
      const ClientNode& node = *clients_[c];
      ClientProgress p;
      p.client = c;
      p.completed = node.completed;
      p.required = options_.requests;
      p.last_completion_ns = node.last_completion_ns;
      if (node.outstanding) p.outstanding_since_ns = history_[node.history_index].call_ns;
      progress.push_back(p);
    }
    std::optional<Failure> liveness =
        check_liveness(progress, options_.fault_phase_ns, options_.liveness_bound_ns);
    // Where the replicas stood is the first clue to why a client starved.
    if (liveness) {
      liveness->details +=
          "; replicas at the end (view, executed, stable, pending): " + cluster_state();
    }
    add(checker_name::liveness, liveness);
  }
  if (stopped_by_safety) {
    report.checkers.push_back(CheckerOutcome{checker_name::catch_up,
                                             CheckerOutcome::State::skipped,
                                             "the run stopped at a safety violation"});
  } else {
    std::vector<ReplicaEnd> ends;
    for (ReplicaId r = 0; r < config_.n; r++) {
      const ReplicaNode& node = *replicas_[r];
      const RunReport::ReplicaOutcome& o = node.outcome;
      ReplicaEnd end;
      end.replica = r;
      if (o.crashes > 0) end.faults.push_back(NodeFault::crash);
      if (o.wipes > 0) end.faults.push_back(NodeFault::wipe);
      if (o.lags > 0) end.faults.push_back(NodeFault::lag);
      end.reference = end.faults.empty() && !o.badstate;
      end.last_executed = node.replica->last_executed();
      end.low_watermark = node.replica->low_watermark();
      ends.push_back(std::move(end));
    }
    std::optional<Failure> catch_up = check_catch_up(ends);
    if (catch_up) catch_up->details += "; replicas at the end: " + cluster_state();
    add(checker_name::catch_up, catch_up);
  }

  for (ReplicaId r = 0; r < config_.n; r++) {
    const ReplicaNode& node = *replicas_[r];
    RunReport::ReplicaOutcome outcome = node.outcome;
    outcome.last_executed = node.replica->last_executed();
    outcome.low_watermark = node.replica->low_watermark();
    outcome.recovering = node.replica->recovering();
    outcome.fetch_replies_rejected =
        node.retired_fetch_replies_rejected + node.replica->counters().fetch_replies_rejected;
    report.fetch_replies_rejected += outcome.fetch_replies_rejected;
    report.stable_checkpoint_max = std::max(report.stable_checkpoint_max, outcome.low_watermark);
    if (node.badstate) report.fetch_replies_corrupted += node.badstate->corrupted();
    if (node.byzantine) {
      report.byzantine_lies += node.byzantine->lies();
    } else {
      report.new_views_installed += node.replica->counters().new_views_installed;
      report.view_changes_started += node.replica->counters().view_changes_started;
      report.primaries_too_slow += node.replica->counters().primaries_too_slow +
                                   node.replica->counters().primaries_untried;
    }
    report.replica_outcomes.push_back(outcome);
  }
  // The state's size as the service encodes it for state transfer: every
  // partition of the store of a replica that never failed.
  ReplicaId healthy = 0;
  while (healthy + 1 < config_.n) {
    const RunReport::ReplicaOutcome& o = report.replica_outcomes[healthy];
    if (!o.badstate && o.crashes + o.wipes + o.lags == 0) break;
    healthy++;
  }
  const kv::Store& store = *replicas_[healthy]->store;
  for (uint64_t i = 0; i < store.partition_count(); i++) {
    report.state_size_bytes += store.read_partition(std::nullopt, i).size();
  }
  if (conductor_) {
    report.conflict_ran = true;
    report.conflict_attempts = conductor_->attempts();
    report.conflict_stage_reached = conductor_->stage_reached();
    report.conflict_both_certificates = conductor_->both_certificates();
  }
  report.passed = !report.failure.has_value();
  report.history = history_;
  report.coverage = coverage_.coverage();
}

}  // namespace

RunReport run(const Options& options) {
  PBFT_ASSERT(validate(options).is_ok());
  Simulation simulation(options);
  return simulation.run();
}

}  // namespace pbft::sim
