// One replica process: the wiring of the parts. ReplicaHost owns the core
// (Replica and the Service it replicates), the listener, the tick and
// status timers and the signals, and composes the parts that do the rest,
// each with one job:
//
//   connection.h     each link: TLS or cleartext, the authenticated hellos,
//                    frames;
//   admission.h      which accepted connections are kept (per-address and
//                    per-principal shares, back-off of addresses that
//                    misbehaved, eviction of the oldest stranger);
//   back_pressure.h  the byte budgets of frames read and not yet handed on;
//   verification.h   whether a frame may come on its link (its sender),
//                    screening it, and checking it inline or on the
//                    verification pool, by what that costs;
//   reordering.h     each connection's frames to the core in arrival order;
//   routing.h        where the core's messages go (peer links, client routes);
//   status_report.h  log lines on core changes, status.json, counters.
//
// See include/pbft/runtime.h and docs/design.md ("The runtime").
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <deque>
#include <stop_token>

#include "pbft/replica.h"
#include "pbft/runtime.h"
#include "pbft/storage.h"
#include "pbft/verifier.h"
#include "src/runtime/admission.h"
#include "src/runtime/back_pressure.h"
#include "src/runtime/connection.h"
#include "src/runtime/durable_log.h"
#include "src/runtime/reordering.h"
#include "src/runtime/routing.h"
#include "src/runtime/status_report.h"
#include "src/runtime/verification.h"

namespace pbft::runtime {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

class ReplicaHost final : public ConnectionOwner {
 public:
  ReplicaHost(asio::io_context& io, const ReplicaHostOptions& options)
      : io_(io),
        options_(options),
        cluster_(options.cluster),
        config_(cluster_.protocol),
        acceptor_(io),
        tick_timer_(io),
        status_timer_(io),
        signals_(io),
        admission_(options, counters_),
        reordering_(budget_,
                    [this](Connection& c, FrameOutcome&& outcome) {
                      hand_on(c, std::move(outcome));
                    }),
        routing_(options.id, cluster_.protocol.n, counters_) {}

  ~ReplicaHost() override {
    // The links and the pool refer to this object: take them down first.
    routing_.stop_links();
    if (checker_) checker_->stop();
    if (disk_) disk_->stop();
  }

  Status start();
  // Stops everything and ends the loop (logs why; idempotent).
  void shutdown(const std::string& why);
  int exit_status() const { return exit_status_; }

 private:
  // ConnectionOwner: each call goes to the parts.
  void on_hello(Connection& c, const Hello& hello) override;
  bool reserve(Connection& c, size_t frame_bytes) override {
    return budget_.reserve(c, frame_bytes);
  }
  void on_frame(Connection& c, Bytes frame) override;
  void on_closed(Connection& c, const std::string& reason) override;
  // Sends one of the core's messages (held back first when this replica
  // plays a slow primary: options.slow_primary_ms, test-only).
  void send(const Send& s);

  void accept();
  void hand_on(Connection& c, FrameOutcome&& outcome);
  // The data directory, by the start mode: the state to resume from (or
  // none), and whether the replica recovers.
  struct Opened {
    std::shared_ptr<const PersistedState> restore;
    bool recovering = false;
  };
  Result<Opened> open_disk();
  void process_effects();
  void carry_out();
  void on_written(const Status& status);
  void schedule_tick();
  void schedule_status();
  void wait_signals();
  void write_status(bool running);

  asio::io_context& io_;
  const ReplicaHostOptions& options_;
  const ClusterConfig& cluster_;
  const ProtocolConfig& config_;

  std::unique_ptr<Crypto> crypto_;
  std::unique_ptr<Verifier> verifier_;
  std::shared_ptr<const LinkSecurity> security_;  // this replica's end of every link
  std::unique_ptr<Service> service_;  // made by options_.make_service
  std::unique_ptr<Replica> replica_;
  // The disk (null with durability none), and the effects that wait behind
  // a sync in flight, in order.
  std::unique_ptr<DurableLog> disk_;
  std::deque<Effect> held_;
  bool syncing_ = false;
  bool recovering_ = false;  // as last seen: its end is recorded on the disk
  // Recovery ended; the marker's erasure goes to the disk after every
  // record held before it.
  bool recovered_pending_ = false;

  asio::ip::tcp::acceptor acceptor_;
  asio::steady_timer tick_timer_;
  asio::steady_timer status_timer_;
  asio::signal_set signals_;
  Clock::time_point next_tick_;

  RuntimeCounters counters_;
  Admission admission_;
  BackPressure budget_;
  Reordering reordering_;
  Routing routing_;
  std::unique_ptr<FrameChecker> checker_;  // made at start (needs the verifier)
  std::unique_ptr<StatusReport> status_;   // made at start (needs the replica)
  bool stopping_ = false;
  int exit_status_ = 0;
};

Status ReplicaHost::start() {
  const ReplicaId self = options_.id;
  Result<std::unique_ptr<Crypto>> crypto =
      sodium::make_crypto(Principal::replica(self), options_.secret_key,
                          std::make_shared<const KeyDirectory>(cluster_.key_directory()));
  if (!crypto) return Status::error("crypto: " + crypto.reason());
  crypto_ = std::move(crypto).value();
  verifier_ = std::make_unique<Verifier>(config_, *crypto_);
  Result<std::shared_ptr<const LinkSecurity>> security = LinkSecurity::make(
      cluster_, Hello{Hello::Kind::replica, self, 1}, std::vector<SecretKey>{options_.secret_key});
  if (!security) return Status::error("links: " + security.reason());
  security_ = std::move(security).value();
  admission_.set_security(security_);
  // Listen on the configured address (first: a replica that cannot serve
  // never touches its disk).
  const ReplicaEndpoint& me = cluster_.replicas[self];
  if (Status s = listen_on(acceptor_, me.listen_host, me.listen_port); !s) return s;

  if (options_.make_service) service_ = options_.make_service();
  if (!service_) return Status::error("no service to replicate (ReplicaHostOptions::make_service)");
  Result<Opened> opened = open_disk();
  if (!opened) return opened.status();
  ReplicaOptions replica_options;
  replica_options.recovering = opened->recovering;
  replica_options.recovery_nonce = options_.recovery_nonce;
  replica_options.restore = opened->restore;
  // Above every STATUS/FETCH counter an earlier run used (ReplicaOptions).
  replica_options.freshness_base = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
  const auto restore_started = Clock::now();
  Result<std::unique_ptr<Replica>> replica =
      Replica::create(config_, self, *crypto_, *service_, replica_options);
  if (!replica) {
    return Status::error(fmt::format(
        "cannot resume from {}: {}; start with --recover to discard it and recover the state "
        "from the other replicas",
        disk_ ? disk_->describe() : options_.data_dir.string(), replica.reason()));
  }
  replica_ = std::move(replica).value();
  recovering_ = replica_->recovering();
  if (opened->restore != nullptr) {
    spdlog::info("resumed from {} in {:.2f} s: view {}{}, checkpoint {}, {} batches replayed",
                 disk_->describe(),
                 std::chrono::duration<double>(Clock::now() - restore_started).count(),
                 replica_->view(), replica_->view_changing() ? " (changing views)" : "",
                 replica_->low_watermark(),
                 replica_->last_executed() - replica_->low_watermark());
  }
  status_ = std::make_unique<StatusReport>(*replica_, config_, self, options_.data_dir);
  checker_ = std::make_unique<FrameChecker>(io_, options_.verify_threads, *verifier_, cluster_);

  for (ReplicaId r = 0; r < config_.n; r++) {
    if (r == self) continue;
    const ReplicaEndpoint& peer = cluster_.replicas[r];
    auto link = std::make_unique<OutgoingLink>(
        io_, peer.host, peer.port, r, security_, *this, counters_,
        QueueLimits{constants::peer_send_queue_frames_max, constants::peer_send_queue_bytes_max},
        fmt::format("link to replica {}", r),
        [this, r, address = fmt::format("{}:{}", peer.host, peer.port)](bool up,
                                                                        const std::string& why) {
          status_->on_peer_state(r, address, up, why);
        });
    link->set_frame_deadline(milliseconds(options_.frame_timeout_ms),
                             options_.frame_bytes_per_second);
    link->start();
    routing_.set_link(r, std::move(link));
  }

  spdlog::info("replica {} of n={} (f={}) listening on {}:{} (encryption {}); view={} seq={} {}; "
               "{} verification thread(s), tick {} ms; durability {}",
               self, config_.n, config_.f, me.listen_host, me.listen_port,
               knob_choices::encryption[cluster_.encryption], replica_->view(),
               replica_->last_executed(),
               recovering_                            ? "recovering (restarted without state)"
               : options_.start == StartMode::resume ? "resumed from its disk"
                                                      : "first start",
               checker_->threads(), cluster_.tick_ms,
               disk_ ? "fsync"
                     : "none (UNSAFE: nothing is kept on disk; a restart must recover from the "
                       "others, and a power cut of f+1 replicas loses acknowledged writes)");
  // What the restore replayed (replies, checkpoints) goes out now.
  process_effects();
  accept();
  next_tick_ = Clock::now();
  schedule_tick();
  schedule_status();
  wait_signals();
  write_status(true);
  return Status::ok();
}

// ------------------------------------------------------------------ disk

namespace {

// Whose state a data directory holds: the cluster (its replicas' keys, in
// order) and the replica id.
storage::Identity identity_of(const ClusterConfig& cluster, ReplicaId self, const Crypto& crypto) {
  Bytes bytes;
  const std::string domain = "pbft/cluster-identity/v1";
  bytes.insert(bytes.end(), domain.begin(), domain.end());
  for (const ReplicaEndpoint& r : cluster.replicas) {
    bytes.insert(bytes.end(), r.public_key.begin(), r.public_key.end());
  }
  return storage::Identity{crypto.digest(bytes), self};
}

}  // namespace

Result<ReplicaHost::Opened> ReplicaHost::open_disk() {
  const StartMode mode = options_.start;
  if (static_cast<Durability>(cluster_.durability) == Durability::none) {
    // Nothing on disk: every start is a first start or a recovery.
    if (mode == StartMode::resume) {
      return Status::error(
          "durability is \"none\" in the cluster file, so this replica kept no state to resume "
          "from: start it with --init (the first start of a new cluster) or --recover (it "
          "recovers the state from the other replicas)");
    }
    return Opened{nullptr, mode == StartMode::recover};
  }
  const std::filesystem::path dir = options_.data_dir / state_directory;
  const storage::Identity identity = identity_of(cluster_, options_.id, *crypto_);
  std::error_code ec;
  const bool exists = std::filesystem::exists(dir, ec) && !std::filesystem::is_empty(dir, ec);
  auto fresh = [&](bool recovering) -> Result<Opened> {
    Result<std::unique_ptr<storage::Storage>> store =
        storage::open_rocksdb(dir, {.create_if_missing = true, .error_if_exists = true});
    if (!store) return store.status();
    auto journal = std::make_unique<storage::Journal>(**store);
    if (Status s = journal->initialize(identity, recovering); !s) return s;
    disk_ = std::make_unique<DurableLog>(io_, std::move(store).value(), std::move(journal));
    return Opened{nullptr, recovering};
  };
  switch (mode) {
    case StartMode::init:
      if (exists) {
        // A first --init that died before it recorded the identity left a
        // store that holds nothing: start it again.
        Result<std::unique_ptr<storage::Storage>> seen =
            storage::open_rocksdb(dir, {.read_only = true});
        if (seen && storage::Journal(**seen).empty()) {
          seen = Status::error("closed");  // before it is removed
          std::filesystem::remove_all(dir, ec);
          if (ec) {
            return Status::error(fmt::format("cannot remove {}: {}", dir.string(), ec.message()));
          }
          return fresh(false);
        }
        return Status::error(fmt::format(
            "{} already holds a replica's state; --init is only for the first start of a new "
            "cluster's replica: start without it to resume from that state, or with --recover to "
            "discard it and recover from the other replicas",
            dir.string()));
      }
      return fresh(false);
    case StartMode::recover:
      if (exists) {
        // --recover discards a lost or damaged state, never another
        // replica's that a wrong --id or --data-dir points at.
        Result<std::unique_ptr<storage::Storage>> seen =
            storage::open_rocksdb(dir, {.read_only = true});
        if (seen && storage::Journal(**seen).belongs_to_another(identity)) {
          Status whose = storage::Journal(**seen).check_identity(identity);
          return Status::error(whose.reason() +
                               "; --recover does not discard it (check --id, --data-dir and "
                               "the cluster file)");
        }
        seen = Status::error("closed");  // before it is removed
        spdlog::warn("--recover: discarding the state in {}", dir.string());
        std::filesystem::remove_all(dir, ec);
        if (ec) return Status::error(fmt::format("cannot remove {}: {}", dir.string(), ec.message()));
      }
      return fresh(true);
    case StartMode::resume: break;
  }
  if (!exists) {
    return Status::error(fmt::format(
        "the data directory {} holds no replica state: start with --init if this is the first "
        "start of a new cluster's replica, or with --recover if its state was lost (it recovers "
        "it from the other replicas)",
        options_.data_dir.string()));
  }
  const std::string corrupt_hint =
      "; start with --recover to discard it and recover the state from the other replicas";
  {
    // Whose state it is, asked without writing: opening RocksDB for
    // writing rewrites files (its log replayed into a table, a new
    // MANIFEST, its LOG rotated), and a directory of another replica or
    // another cluster, or a damaged one, is left exactly as it was found.
    Result<std::unique_ptr<storage::Storage>> peek =
        storage::open_rocksdb(dir, {.read_only = true});
    if (!peek) return Status::error(peek.reason() + corrupt_hint);
    // An identity that cannot be read is damage, which verify names.
    const Status identified = storage::Journal(**peek).check_identity(identity);
    if (Status s = (*peek)->verify(); !s) return Status::error(s.reason() + corrupt_hint);
    if (!identified) return identified;  // the journal names the directory
  }
  // The state passed its checks just now: what fails here is the disk
  // (full, failing) or another process that holds it, which --recover
  // would not mend.
  Result<std::unique_ptr<storage::Storage>> store = storage::open_rocksdb(dir, {});
  if (!store) {
    return Status::error(store.reason() +
                         "; its state passed its checks: free space or fix the disk (or stop "
                         "the other process using it), then start the replica again");
  }
  auto journal = std::make_unique<storage::Journal>(**store);
  if (journal->recovering()) {
    // It was recovering when it stopped: what it holds is not a state it
    // may vote from. Recover again, from scratch.
    if (options_.recovery_nonce == 0) {
      return Status::error("recovering again needs a recovery nonce (ReplicaHostOptions)");
    }
    spdlog::warn("{}: the replica was still recovering when it stopped; recovering again",
                 dir.string());
    journal.reset();
    store->reset();
    std::filesystem::remove_all(dir, ec);
    if (ec) return Status::error(fmt::format("cannot remove {}: {}", dir.string(), ec.message()));
    return fresh(true);
  }
  Result<PersistedState> persisted = journal->load();
  if (!persisted) return Status::error(persisted.reason() + corrupt_hint);
  disk_ = std::make_unique<DurableLog>(io_, std::move(store).value(), std::move(journal));
  return Opened{std::make_shared<const PersistedState>(std::move(persisted).value()), false};
}

// ------------------------------------------------------------ connections

void ReplicaHost::accept() {
  acceptor_.async_accept([this](const std::error_code& ec, asio::ip::tcp::socket socket) {
    if (stopping_) return;
    if (ec) {
      // Out of descriptors, or the peer gave up before accept: back off
      // briefly rather than spin.
      spdlog::warn("accept failed: {}", ec.message());
      auto timer = std::make_shared<asio::steady_timer>(io_, milliseconds(50));
      timer->async_wait([this, timer](const std::error_code&) {
        if (!stopping_) accept();
      });
      return;
    }
    admission_.admit(std::move(socket), *this);
    accept();
  });
}

void ReplicaHost::on_hello(Connection& c, const Hello& hello) {
  if (!admission_.on_hello(c, hello)) return;
  if (hello.kind == Hello::Kind::client) routing_.on_client_hello(c, hello);
}

// Whose queue of the verification pool a connection's frames join: a
// replica's or a client's once its hello was accepted (a group's by its
// first member: one connection, one share), a stranger's otherwise.
namespace {
Lane lane_of(const Connection& c) {
  if (!c.hello) return Lane{Lane::Class::stranger, c.serial()};
  if (c.hello->kind == Hello::Kind::replica) return Lane{Lane::Class::replica, c.hello->id};
  return Lane{Lane::Class::client, c.hello->id};
}
}  // namespace

void ReplicaHost::on_frame(Connection& c, Bytes frame) {
  const FrameTicket ticket = reordering_.arrive(c, frame.size());
  // The sender first: it is in the header, and a frame its link may not
  // carry costs nothing more (and closes the link).
  const LinkVerdict verdict = check_link(frame, *c.hello);
  if (verdict.kind != FrameOutcome::Kind::ok) {
    (verdict.kind == FrameOutcome::Kind::wrong_client ? counters_.frames_wrong_client
                                                       : counters_.frames_wrong_sender)++;
    spdlog::debug("closing the link from {}: {}", c.remote_address(), verdict.reason);
    FrameOutcome refused;
    refused.kind = verdict.kind;
    refused.reason = verdict.reason;
    reordering_.settle(c.weak_from_this(), ticket, std::move(refused));
    c.misbehaved = true;
    c.close(verdict.reason);
    return;
  }
  // A frame of the link's own principal that fails its checks shows that
  // principal faulty: its link closes (hand_on).
  auto settle = [this, weak = c.weak_from_this(), ticket, own = verdict.own](FrameOutcome outcome) {
    outcome.close_link = outcome.close_link || outcome.kind == FrameOutcome::Kind::undecodable ||
                         (own && outcome.kind == FrameOutcome::Kind::unauthentic);
    reordering_.settle(weak, ticket, std::move(outcome));
  };
  ScreenedFrame screened = screen_frame(frame, *replica_);
  if (screened.settled) return settle(std::move(*screened.settled));
  if (checker_->checks_here(frame, screened)) {
    return settle(checker_->check_here(frame, std::move(screened)));
  }
  checker_->check_on_pool(lane_of(c), std::move(frame), std::move(screened), std::move(settle));
}

void ReplicaHost::on_closed(Connection& c, const std::string& reason) {
  reordering_.on_closed(c);
  budget_.on_closed(c);
  routing_.on_closed(c);
  admission_.on_closed(c, reason);
}

void ReplicaHost::send(const Send& s) {
  const auto* pre_prepare = std::get_if<PrePrepare>(s.message.get());
  if (options_.slow_primary_ms == 0 || pre_prepare == nullptr || pre_prepare->sender != options_.id) {
    return routing_.send(s);
  }
  auto timer = std::make_shared<asio::steady_timer>(io_, milliseconds(options_.slow_primary_ms));
  timer->async_wait([this, timer, s](const std::error_code& ec) {
    if (!ec && !stopping_) routing_.send(s);
  });
}

// A frame's turn came (reordering_): to the core, or counted as dropped.
void ReplicaHost::hand_on(Connection& c, FrameOutcome&& outcome) {
  if (outcome.kind != FrameOutcome::Kind::ok) {
    count_dropped(outcome, c, counters_);
    if (outcome.close_link && c.is_open()) {
      counters_.links_closed_bad_frame++;
      c.misbehaved = true;
      c.close("a frame failed authentication: " + outcome.reason);
    }
    return;
  }
  Verified& verified = *outcome.verified;
  if (const auto* request = std::get_if<Request>(&verified.message())) {
    if (!routing_.on_request(c, request->client)) return;
  }
  c.authentic = true;
  counters_.frames_delivered++;
  replica_->step(std::move(verified));
  process_effects();
}

// ------------------------------------------------------------------- core

// Carries the core's effects out in order. A Persist is a barrier: its
// records go to the disk (durability fsync), and when it asks for a sync
// the effects after it wait in held_ until the disk says they are durable;
// the core keeps stepping meanwhile, and the Persists of those inputs are
// written together in the next batch (group commit). A Persist that needs
// no sync is queued on the disk's thread, in order, and the effects after
// it go on at once.
void ReplicaHost::process_effects() {
  Effects effects = replica_->take_effects();
  for (Effect& effect : effects.list) held_.push_back(std::move(effect));
  // Recovery is over: from here on a restart resumes from the disk, once
  // the records that took it past its horizon are written (carry_out).
  if (disk_ && recovering_ && !replica_->recovering()) recovered_pending_ = true;
  recovering_ = replica_->recovering();
  carry_out();
  status_->observe_core();
}

void ReplicaHost::carry_out() {
  while (!syncing_ && !stopping_ && !held_.empty()) {
    Effect effect = std::move(held_.front());
    held_.pop_front();
    if (auto* persist = std::get_if<Persist>(&effect)) {
      counters_.persist_records += persist->records.size();
      if (!disk_) continue;
      if (persist->sync) {
        // Every later Persist joins this batch: persisting early is safe.
        for (auto it = held_.begin(); it != held_.end();) {
          if (auto* later = std::get_if<Persist>(&*it)) {
            counters_.persist_records += later->records.size();
            persist->records.insert(persist->records.end(),
                                    std::make_move_iterator(later->records.begin()),
                                    std::make_move_iterator(later->records.end()));
            it = held_.erase(it);
          } else {
            ++it;
          }
        }
        syncing_ = true;
        counters_.disk_syncs++;
      }
      counters_.disk_writes++;
      const bool sync = persist->sync;
      disk_->write(std::move(*persist), [this, sync](const Status& s) {
        if (!s) return on_written(s);
        if (!sync) return;
        syncing_ = false;
        carry_out();
      });
      continue;
    }
    std::visit(Overloaded{[&](const Persist&) {},
                          [&](const Send& s) { send(s); },
                          [&](const Executed& e) {
                            spdlog::trace("executed seq={} view={} ({} requests)", e.seq, e.view,
                                          e.requests.size());
                          },
                          [&](const StateInstalled& i) { status_->on_installed(i); }},
               effect);
  }
  if (recovered_pending_ && !syncing_ && held_.empty() && !stopping_) {
    recovered_pending_ = false;
    disk_->mark_recovered([this](const Status& s) {
      if (!s) on_written(s);
    });
  }
}

// A write failed (disk full, I/O error): nothing that depends on it may
// leave, so the replica stops here; the operator frees space or replaces
// the disk and starts it again, and it resumes from what was durable.
void ReplicaHost::on_written(const Status& status) {
  if (status || stopping_) return;
  spdlog::error("the disk failed: {}; stopping before sending anything that depends on it "
                "(free space or fix the disk, then start the replica again: it resumes from "
                "what was durable)",
                status.reason());
  exit_status_ = exit_disk_failed;
  held_.clear();
  shutdown("a disk failure");
}

void ReplicaHost::schedule_tick() {
  const milliseconds tick(cluster_.tick_ms);
  next_tick_ += tick;
  // After a stall (the process was stopped, or the loop was busy) do not
  // fire a burst of ticks: time restarts from now.
  const Clock::time_point now = Clock::now();
  if (next_tick_ + tick < now) next_tick_ = now + tick;
  tick_timer_.expires_at(next_tick_);
  tick_timer_.async_wait([this](const std::error_code& ec) {
    if (ec || stopping_) return;
    replica_->tick();
    process_effects();
    schedule_tick();
  });
}

// ---------------------------------------------------------------- status

void ReplicaHost::schedule_status() {
  status_timer_.expires_after(milliseconds(options_.status_period_ms));
  status_timer_.async_wait([this](const std::error_code& ec) {
    if (ec || stopping_) return;
    write_status(true);
    schedule_status();
  });
}

void ReplicaHost::write_status(bool running) {
  status_->write_status(running, HostFacts{.connections = admission_.connections(),
                                           .verify_bytes_in_use = budget_.bytes_in_use(),
                                           .verify_bytes_in_use_by_strangers =
                                               budget_.stranger_bytes_in_use(),
                                           .counters = &counters_});
}

void ReplicaHost::wait_signals() {
  signals_.add(SIGINT);
  signals_.add(SIGTERM);
  signals_.add(SIGUSR1);
  signals_.async_wait([this](const std::error_code& ec, int signal) {
    if (ec || stopping_) return;
    if (signal == SIGUSR1) {
      status_->log_counters("status (SIGUSR1)", counters_);
      write_status(true);
      wait_signals();
      return;
    }
    shutdown(signal == SIGTERM ? "SIGTERM" : "SIGINT");
  });
}

void ReplicaHost::shutdown(const std::string& why) {
  if (stopping_) return;
  spdlog::info("shutting down on {}", why);
  status_->log_counters("at exit", counters_);
  write_status(false);
  stopping_ = true;
  reordering_.stop();
  std::error_code ignored;
  acceptor_.close(ignored);
  tick_timer_.cancel();
  status_timer_.cancel();
  signals_.cancel(ignored);
  routing_.stop_links();
  admission_.close_all("shutting down");
  checker_->stop();
  io_.stop();
}

}  // namespace

int run_replica_host(const ReplicaHostOptions& options) {
  asio::io_context io(1);
  ReplicaHost host(io, options);
  if (Status s = host.start(); !s) {
    spdlog::error("replica {} cannot start: {}", options.id, s.reason());
    return 1;
  }
  // A stop request (from another thread) shuts down as a signal does.
  std::stop_callback on_stop(options.stop, [&io, &host] {
    asio::post(io, [&host] { host.shutdown("a stop request"); });
  });
  io.run();
  return host.exit_status();
}

}  // namespace pbft::runtime
