#include "sim/simulator.h"

#include <fmt/format.h>

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
#include "pbft/verifier.h"
#include "pbft/wire.h"
#include "sim/event_queue.h"
#include "sim/network.h"
#include "sim/random.h"
#include "sim/trace_hash.h"
#include "sim/workload.h"

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
using Event = std::variant<Delivery, Tick, ClientWake>;

// The key fields of a message, for the verbose log.
std::string describe(const Message& message) {
  struct Describe {
    std::string operator()(const Request& m) const {
      return fmt::format("request c{} t{}", m.client, m.timestamp);
    }
    std::string operator()(const PrePrepare& m) const {
      return fmt::format("pre-prepare v{} s{} ({} requests)", m.view, m.seq, m.batch.size());
    }
    std::string operator()(const Prepare& m) const {
      return fmt::format("prepare v{} s{}", m.view, m.seq);
    }
    std::string operator()(const Commit& m) const {
      return fmt::format("commit v{} s{}", m.view, m.seq);
    }
    std::string operator()(const Reply& m) const {
      return fmt::format("reply v{} c{} t{}", m.view, m.client, m.timestamp);
    }
    std::string operator()(const Checkpoint& m) const {
      return fmt::format("checkpoint s{}", m.seq);
    }
    std::string operator()(const ViewChange& m) const {
      return fmt::format("view-change v{} stable s{} ({} prepared)", m.new_view, m.stable_seq,
                         m.prepared.size());
    }
    std::string operator()(const NewView& m) const {
      return fmt::format("new-view v{} ({} pre-prepares)", m.view, m.pre_prepares.size());
    }
    std::string operator()(const StatusMessage& m) const {
      return fmt::format("status v{} executed s{} stable s{}{}", m.view, m.last_executed,
                         m.last_stable, m.recovering ? " recovering" : "");
    }
    std::string operator()(const Fetch& m) const {
      return fmt::format("fetch checkpoint s{} level {} index {} offset {}", m.checkpoint, m.level,
                         m.index, m.offset);
    }
    std::string operator()(const FetchReply& m) const {
      return fmt::format("fetch-reply checkpoint s{} level {} index {} ({} digests, {} bytes)",
                         m.checkpoint, m.level, m.index, m.digests.size(), m.data.size());
    }
  };
  return std::visit(Describe{}, message);
}

struct ReplicaNode {
  std::unique_ptr<Crypto> crypto;
  kv::Store store;
  std::unique_ptr<Verifier> verifier;
  std::unique_ptr<Replica> replica;
  View view = 0;  // the view last seen, to log changes
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

  void drain_replica(ReplicaId r);
  void drain_client(ClientId c);
  void observe(ReplicaId r, const Executed& executed);
  void issue(ClientId c);
  void complete(ClientId c, const Completion& completion);
  void fail_client_results(std::string details);

  void send(NodeIndex from, const Send& send);
  void transmit(NodeIndex from, NodeIndex to, const std::shared_ptr<const Bytes>& bytes);
  void note_view(ReplicaId r);

  bool logging(int level) const { return options_.verbosity >= level && options_.log; }
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

  uint64_t now_ = 0;
  uint32_t clients_done_ = 0;
  TraceHash trace_;
  RunReport report_;  // the counters, filled in as the run goes; the rest at the end
  std::vector<history::Entry> history_;

  AgreementChecker agreement_;
  ExactlyOnceChecker exactly_once_;
  ExecutionOrderChecker execution_order_;
  BoundedMemoryChecker bounded_memory_;
  std::optional<Failure> client_results_;
};

Simulation::Simulation(const Options& options)
    : options_(options),
      config_(protocol_config(options)),
      random_(options.seed),
      network_(network_options(options), config_.n, options.clients, random_),
      exactly_once_(config_.n),
      execution_order_(config_.n),
      bounded_memory_(config_.log_window, constants::pending_requests_max) {
  // The fake crypto's keys derive from the seed too, so a replay rebuilds
  // the same signatures and MACs and hence the same bytes on the wire.
  const uint64_t universe = options.seed ^ 0x5eed5eed5eed5eedull;
  for (ReplicaId r = 0; r < config_.n; r++) {
    auto node = std::make_unique<ReplicaNode>();
    node->crypto = fake::make_crypto(Principal::replica(r), universe, config_.n, options.clients);
    node->verifier = std::make_unique<Verifier>(config_, *node->crypto);
    Result<std::unique_ptr<Replica>> replica =
        Replica::create(config_, r, *node->crypto, node->store);
    PBFT_ASSERT(replica.is_ok());  // the options were validated
    node->replica = std::move(replica).value();
    replicas_.push_back(std::move(node));
  }
  for (ClientId c = 0; c < options.clients; c++) {
    auto node = std::make_unique<ClientNode>();
    node->crypto = fake::make_crypto(Principal::client(c), universe, config_.n, options.clients);
    node->verifier = std::make_unique<Verifier>(config_, *node->crypto);
    Result<std::unique_ptr<Client>> client =
        Client::create(config_, c, *node->crypto, options.client);
    PBFT_ASSERT(client.is_ok());
    node->client = std::move(client).value();
    clients_.push_back(std::move(node));
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
  uint64_t stop_ns = options_.fault_phase_ns + options_.liveness_bound_ns;
  bool settling = false;
  bool stopped_by_safety = false;
  while (!queue_.empty() && queue_.next_time() <= stop_ns) {
    EventQueue<Event>::Event event = queue_.pop();
    now_ = event.time_ns;
    std::visit([this](const auto& e) { handle(e); }, event.payload);
    if (safety_violated()) {
      stopped_by_safety = true;
      break;
    }
    if (!settling && clients_done_ == options_.clients) {
      // Let the batches still in flight execute everywhere, so that the
      // checkers see them, then stop.
      settling = true;
      stop_ns = now_ + options_.settle_ns;
      if (logging(1)) log("every client completed its workload");
    }
  }
  RunReport report = std::move(report_);
  finish(report, stopped_by_safety);
  return report;
}

bool Simulation::safety_violated() const {
  return agreement_.failure() || exactly_once_.failure() || execution_order_.failure() ||
         bounded_memory_.failure() || client_results_;
}

void Simulation::handle(const Delivery& delivery) {
  report_.messages_delivered++;
  trace_.add(now_);
  trace_.add(delivery.from);
  trace_.add(delivery.to);
  trace_.add(*delivery.bytes);
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
  if (delivery.to < config_.n) {
    ReplicaNode& node = *replicas_[delivery.to];
    Result<Verified> verified = node.verifier->verify(std::move(decoded).value());
    if (!verified) {
      report_.verify_failures++;
      if (logging(1)) {
        log(fmt::format("{} rejected a message from {}: {}", node_name(delivery.to),
                        node_name(delivery.from), verified.reason()));
      }
      return;
    }
    node.replica->step(verified.value());
    drain_replica(delivery.to);
  } else {
    const ClientId c = delivery.to - config_.n;
    ClientNode& node = *clients_[c];
    Result<Verified> verified = node.verifier->verify(std::move(decoded).value());
    if (!verified) {
      report_.verify_failures++;
      if (logging(1)) {
        log(fmt::format("{} rejected a message from {}: {}", node_name(delivery.to),
                        node_name(delivery.from), verified.reason()));
      }
      return;
    }
    node.client->step(verified.value());
    drain_client(c);
  }
}

void Simulation::handle(const Tick&) {
  for (ReplicaId r = 0; r < config_.n; r++) {
    replicas_[r]->replica->tick();
    drain_replica(r);
  }
  for (ClientId c = 0; c < options_.clients; c++) {
    clients_[c]->client->tick();
    drain_client(c);
  }
  queue_.push(now_ + options_.tick_ns, Tick{});
}

void Simulation::handle(const ClientWake& wake) { issue(wake.client); }

void Simulation::drain_replica(ReplicaId r) {
  ReplicaNode& node = *replicas_[r];
  Effects effects = node.replica->take_effects();
  for (const Executed& executed : effects.executed) observe(r, executed);
  for (const Send& s : effects.sends) send(r, s);
  bounded_memory_.observe(r, node.replica->log_size(), node.replica->pending_requests());
  note_view(r);
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
  exactly_once_.observe(r, executed);
  execution_order_.observe(r, executed);
}

void Simulation::drain_client(ClientId c) {
  ClientNode& node = *clients_[c];
  ClientEffects effects = node.client->take_effects();
  for (const Send& s : effects.sends) send(client_node(c), s);
  if (effects.completed) complete(c, *effects.completed);
}

void Simulation::issue(ClientId c) {
  ClientNode& node = *clients_[c];
  PBFT_ASSERT(!node.outstanding && node.issued < options_.requests);
  PlannedOperation planned = plan_operation(random_, c, node.issued + 1, options_.keys);
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
  if (Status s = record_result(entry, completion.result); !s) {
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
  // Encoded once per send, whatever the number of destinations, as the
  // runtime does; every destination receives the same bytes.
  auto bytes = std::make_shared<const Bytes>(wire::encode(*s.message));
  switch (s.to.kind) {
    case Destination::Kind::replica:
      if (s.to.id >= config_.n) {
        report_.misaddressed++;
        return;
      }
      transmit(from, s.to.id, bytes);
      return;
    case Destination::Kind::all_replicas:
      for (ReplicaId r = 0; r < config_.n; r++) {
        if (r != from) transmit(from, r, bytes);
      }
      return;
    case Destination::Kind::client:
      if (s.to.id >= options_.clients) {
        report_.misaddressed++;
        return;
      }
      transmit(from, client_node(s.to.id), bytes);
      return;
  }
  PBFT_ASSERT(false);
}

void Simulation::transmit(NodeIndex from, NodeIndex to,
                          const std::shared_ptr<const Bytes>& bytes) {
  report_.messages_sent++;
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
    queue_.push(now_ + route.delay_ns[i], Delivery{from, to, bytes});
  }
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
  add(checker_name::exactly_once, exactly_once_.failure());
  add(checker_name::execution_order, execution_order_.failure());
  add(checker_name::bounded_memory, bounded_memory_.failure());
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
  report.passed = !report.failure.has_value();
  report.history = history_;
}

}  // namespace

RunReport run(const Options& options) {
  PBFT_ASSERT(validate(options).is_ok());
  Simulation simulation(options);
  return simulation.run();
}

}  // namespace pbft::sim
