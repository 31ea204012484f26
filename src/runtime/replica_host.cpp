// One replica process: the Replica core on an event loop, a listener for
// peers and clients, a link to every peer, a verification pool, a tick
// timer, a status file and signal handling. See include/pbft/runtime.h and
// docs/design.md ("The runtime").
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "pbft/assert.h"
#include "pbft/kv.h"
#include "pbft/replica.h"
#include "pbft/runtime.h"
#include "pbft/verifier.h"
#include "pbft/wire.h"
#include "src/runtime/connection.h"
#include "src/runtime/verify_pool.h"

namespace pbft::runtime {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// What a worker found out about one frame.
struct FrameOutcome {
  enum class Kind : uint8_t { ok, undecodable, unknown_sender, unauthentic, unwanted };
  Kind kind = Kind::ok;
  std::optional<Verified> verified;
  std::string reason;
};

// A frame of one connection between its arrival and its hand-over to the
// core: outcomes may come back out of order, frames go on in order.
struct PendingFrame {
  uint64_t ticket = 0;
  size_t bytes = 0;
  bool from_stranger = false;  // reserved from the strangers' budget
  bool ready = false;
  FrameOutcome outcome;
};

struct ClientRoute {
  std::weak_ptr<Connection> connection;
  bool authentic = false;  // set by an authentic request on that connection
};

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
        signals_(io) {}

  ~ReplicaHost() override {
    // The links and the pool refer to this object: take them down first.
    for (auto& link : links_) {
      if (link) link->stop();
    }
    if (pool_) pool_->stop();
  }

  Status start();
  int exit_status() const { return exit_status_; }

 private:
  // ConnectionOwner.
  void on_hello(Connection& c, const Hello& hello) override;
  bool reserve(Connection& c, size_t frame_bytes) override;
  void on_frame(Connection& c, Bytes frame) override;
  void on_closed(Connection& c, const std::string& reason) override;

  void accept();
  void admit(asio::ip::tcp::socket socket);
  void on_outcome(std::weak_ptr<Connection> connection, uint64_t serial, uint64_t ticket,
                  size_t bytes, bool from_stranger, FrameOutcome outcome);
  void flush(Connection& c, std::deque<PendingFrame>& pending);
  void deliver(Connection* c, Verified&& verified);
  void release(size_t bytes, bool from_stranger);
  void process_effects();
  void send(const Send& s);
  void observe_core();
  void schedule_tick();
  void schedule_status();
  void wait_signals();
  void write_status(bool running);
  void log_counters(const char* when);
  void shutdown(const std::string& why);

  asio::io_context& io_;
  const ReplicaHostOptions& options_;
  const ClusterConfig& cluster_;
  const ProtocolConfig& config_;

  std::unique_ptr<Crypto> crypto_;
  std::unique_ptr<Verifier> verifier_;
  std::unique_ptr<kv::Store> store_;
  std::unique_ptr<Replica> replica_;
  std::unique_ptr<VerifyPool> pool_;

  asio::ip::tcp::acceptor acceptor_;
  asio::steady_timer tick_timer_;
  asio::steady_timer status_timer_;
  asio::signal_set signals_;
  Clock::time_point next_tick_;

  std::vector<std::unique_ptr<OutgoingLink>> links_;  // index = replica id; self empty
  std::vector<bool> peer_up_;
  std::unordered_map<uint64_t, std::shared_ptr<Connection>> accepted_;  // by serial
  std::unordered_map<uint64_t, std::deque<PendingFrame>> pending_;      // by serial
  std::unordered_map<ClientId, ClientRoute> client_routes_;
  std::deque<std::weak_ptr<Connection>> paused_;
  size_t verify_bytes_in_use_ = 0;
  size_t stranger_bytes_in_use_ = 0;  // the part reserved by not-yet-authentic connections
  uint64_t next_ticket_ = 1;
  size_t pool_jobs_ = 0;  // frames handed to the verify pool, outcome not back yet

  RuntimeCounters counters_;
  // What was last logged about the core, to log changes once.
  View logged_view_ = 0;
  Seq logged_low_watermark_ = 0;
  bool logged_transferring_ = false;
  bool logged_recovering_ = false;
  bool stopping_ = false;
  int exit_status_ = 0;
};

std::string principal_name(const Message& m) {
  const Principal p = sender_of(m);
  return fmt::format("{}{}", p.kind == PrincipalKind::replica ? "replica " : "client ", p.id);
}

Status ReplicaHost::start() {
  const ReplicaId self = options_.id;
  Result<std::unique_ptr<Crypto>> crypto =
      sodium::make_crypto(Principal::replica(self), options_.secret_key,
                          std::make_shared<const KeyDirectory>(cluster_.key_directory()));
  if (!crypto) return Status::error("crypto: " + crypto.reason());
  crypto_ = std::move(crypto).value();
  verifier_ = std::make_unique<Verifier>(config_, *crypto_);
  store_ = std::make_unique<kv::Store>(cluster_.kv.partitions);
  Result<std::unique_ptr<Replica>> replica = Replica::create(
      config_, self, *crypto_, *store_,
      ReplicaOptions{.recovering = options_.recovering, .recovery_nonce = options_.recovery_nonce});
  if (!replica) return Status::error("replica: " + replica.reason());
  replica_ = std::move(replica).value();
  logged_view_ = replica_->view();
  logged_low_watermark_ = replica_->low_watermark();
  logged_recovering_ = replica_->recovering();
  pool_ = std::make_unique<VerifyPool>(io_, options_.verify_threads);

  // Listen on the configured port, on every address of the host (a host
  // name in the file may resolve to an address the machine does not own
  // behind NAT).
  const ReplicaEndpoint& me = cluster_.replicas[self];
  std::error_code ec;
  asio::ip::tcp::endpoint endpoint(asio::ip::tcp::v4(), me.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::error(fmt::format("cannot listen on port {}: {}", me.port, ec.message()));

  peer_up_.assign(config_.n, false);
  peer_up_[self] = true;
  links_.resize(config_.n);
  for (ReplicaId r = 0; r < config_.n; r++) {
    if (r == self) continue;
    const ReplicaEndpoint& peer = cluster_.replicas[r];
    links_[r] = std::make_unique<OutgoingLink>(
        io_, peer.host, peer.port, Hello{Hello::Kind::replica, self}, *this, counters_,
        QueueLimits{constants::peer_send_queue_frames_max, constants::peer_send_queue_bytes_max},
        fmt::format("link to replica {}", r),
        [this, r, address = fmt::format("{}:{}", peer.host, peer.port)](bool up,
                                                                        const std::string& why) {
          peer_up_[r] = up;
          if (up) {
            spdlog::info("peer {} up ({}) view={} seq={}", r, address, replica_->view(),
                         replica_->last_executed());
          } else {
            spdlog::warn("peer {} down ({}): {}; reconnecting with back-off", r, address, why);
          }
        });
    links_[r]->start();
  }

  spdlog::info("replica {} of n={} (f={}) listening on port {}; view={} seq={} {}; "
               "{} verification thread(s), tick {} ms",
               self, config_.n, config_.f, me.port, replica_->view(), replica_->last_executed(),
               options_.recovering ? "recovering (restarted without state)" : "first start",
               pool_->threads(), cluster_.tick_ms);
  accept();
  next_tick_ = Clock::now();
  schedule_tick();
  schedule_status();
  wait_signals();
  write_status(true);
  return Status::ok();
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
    admit(std::move(socket));
    accept();
  });
}

void ReplicaHost::admit(asio::ip::tcp::socket socket) {
  counters_.connections_accepted++;
  if (accepted_.size() >= options_.max_connections) {
    // Make room by closing the oldest connection that never delivered an
    // authentic frame: a flood of idle or junk connections cannot keep
    // correct clients and peers out.
    std::shared_ptr<Connection> victim;
    for (auto& [serial, c] : accepted_) {
      if (c->authentic) continue;
      if (!victim || c->accepted_at < victim->accepted_at) victim = c;
    }
    if (!victim) {
      counters_.connections_evicted++;
      std::error_code ignored;
      socket.close(ignored);
      return;
    }
    counters_.connections_evicted++;
    victim->close("evicted: too many connections");
  }
  auto c = std::make_shared<Connection>(
      std::move(socket), *this, counters_,
      QueueLimits{constants::client_send_queue_frames_max, constants::client_send_queue_bytes_max},
      true, milliseconds(options_.hello_timeout_ms), "incoming");
  c->set_frame_timeout(milliseconds(options_.frame_timeout_ms));
  accepted_.emplace(c->serial(), c);
  c->start(std::nullopt);
}

void ReplicaHost::on_hello(Connection& c, const Hello& hello) {
  if (hello.kind == Hello::Kind::replica) {
    if (hello.id >= config_.n || hello.id == options_.id) {
      counters_.hello_rejected++;
      c.close(fmt::format("hello from replica {} (not a peer)", hello.id));
      return;
    }
    c.hello = hello;
    c.set_idle_timeout(milliseconds(options_.replica_idle_timeout_ms));
    return;
  }
  for (uint32_t k = 0; k < hello.count; k++) {
    if (cluster_.clients.count(hello.id + k) == 0) {
      counters_.hello_rejected++;
      c.close(fmt::format("hello from client {} (not in the cluster file)", hello.id + k));
      return;
    }
  }
  c.hello = hello;
  // Provisional: replies go here until an authentic request says otherwise,
  // unless another live connection already claimed the client (a hello is
  // not authenticated: a stranger's group hello must not divert replies
  // from a connection that works).
  for (uint32_t k = 0; k < hello.count; k++) {
    ClientRoute& route = client_routes_[hello.id + k];
    if (route.connection.expired()) route = ClientRoute{c.shared_from_this(), false};
  }
}

bool ReplicaHost::reserve(Connection& c, size_t frame_bytes) {
  const bool stranger = !c.authentic;
  if (c.in_verification >= constants::verify_frames_per_connection_max ||
      verify_bytes_in_use_ + frame_bytes > constants::verify_bytes_max ||
      (stranger &&
       stranger_bytes_in_use_ + frame_bytes > constants::verify_bytes_unauthenticated_max)) {
    paused_.push_back(c.weak_from_this());
    return false;
  }
  verify_bytes_in_use_ += frame_bytes;
  if (stranger) stranger_bytes_in_use_ += frame_bytes;
  c.reserved_as_stranger = stranger;
  return true;
}

void ReplicaHost::release(size_t bytes, bool from_stranger) {
  PBFT_ASSERT(verify_bytes_in_use_ >= bytes);
  verify_bytes_in_use_ -= bytes;
  if (from_stranger) {
    PBFT_ASSERT(stranger_bytes_in_use_ >= bytes);
    stranger_bytes_in_use_ -= bytes;
  }
  // Give paused connections another chance, oldest first; one that still
  // does not fit puts itself back on the list.
  const size_t waiting = paused_.size();
  for (size_t i = 0; i < waiting && !paused_.empty(); i++) {
    std::shared_ptr<Connection> c = paused_.front().lock();
    paused_.pop_front();
    if (c && c->is_open() && c->paused()) c->resume();
  }
}

// Checks a decoded frame's sender and authentication (on a worker, or inline
// when cheap).
FrameOutcome examine(Message message, const Verifier& verifier, const ClusterConfig& cluster,
                     BatchRequests requests = BatchRequests::checked) {
  FrameOutcome out;
  const Principal sender = sender_of(message);
  if ((sender.kind == PrincipalKind::replica && sender.id >= cluster.protocol.n) ||
      (sender.kind == PrincipalKind::client && cluster.clients.count(sender.id) == 0)) {
    out.kind = FrameOutcome::Kind::unknown_sender;
    out.reason = principal_name(message) + " is not in the cluster file";
    return out;
  }
  Result<Verified> verified = verifier.verify(std::move(message), requests);
  if (!verified) {
    out.kind = FrameOutcome::Kind::unauthentic;
    out.reason = verified.reason();
    return out;
  }
  out.verified = std::move(verified).value();
  return out;
}

FrameOutcome undecodable(std::string reason) {
  FrameOutcome out;
  out.kind = FrameOutcome::Kind::undecodable;
  out.reason = std::move(reason);
  return out;
}

// Decodes and verifies one frame.
FrameOutcome examine(ByteView frame, const Verifier& verifier, const ClusterConfig& cluster) {
  Result<Message> decoded = wire::decode(frame);
  if (!decoded) return undecodable(decoded.reason());
  return examine(std::move(decoded).value(), verifier, cluster);
}

MessageType type_of(ByteView frame) {
  PBFT_ASSERT(frame.size() >= constants::header_size);  // Connection checked the header
  return static_cast<MessageType>(frame[5]);
}

// What checking a frame costs, which decides where it is checked.
enum class Cost : uint8_t {
  cheap,          // MACs only, and small: a few microseconds
  one_signature,  // one Ed25519 verification (~50 us), perhaps with MACs
  heavy,          // several signatures, or much to hash
};

Cost verify_cost(ByteView frame, const ProtocolConfig& config) {
  constexpr size_t cheap_bytes_max = 16 * 1024;
  constexpr size_t one_signature_bytes_max = 64 * 1024;
  const bool macs = config.client_auth == RequestAuth::authenticator;
  switch (type_of(frame)) {
    case MessageType::request:
      if (!macs) return Cost::one_signature;
      return frame.size() <= cheap_bytes_max ? Cost::cheap : Cost::heavy;
    case MessageType::commit:
    case MessageType::reply:
    case MessageType::status:
    case MessageType::fetch:
    case MessageType::fetch_reply:
      return frame.size() <= cheap_bytes_max ? Cost::cheap : Cost::heavy;
    case MessageType::prepare:
    case MessageType::checkpoint:
      return Cost::one_signature;
    case MessageType::pre_prepare:
      // Its own signature, and each request's MACs or signature.
      return macs && frame.size() <= one_signature_bytes_max ? Cost::one_signature : Cost::heavy;
    default:
      return Cost::heavy;
  }
}

// Votes the core may no longer want (Replica::wants): decoded on the loop,
// before their authentication is checked.
bool is_vote(ByteView frame) {
  const MessageType type = type_of(frame);
  return type == MessageType::prepare || type == MessageType::commit;
}

void ReplicaHost::on_frame(Connection& c, Bytes frame) {
  c.in_verification++;
  const uint64_t ticket = next_ticket_++;
  const size_t bytes = frame.size();
  const bool from_stranger = c.reserved_as_stranger;
  pending_[c.serial()].push_back(PendingFrame{ticket, bytes, from_stranger, false, {}});
  auto settle = [&](FrameOutcome outcome) {
    on_outcome(c.weak_from_this(), c.serial(), ticket, bytes, from_stranger, std::move(outcome));
  };

  // Some frames are decoded here, where the core can say what it needs
  // checked. A vote for a slot that is already prepared (committed) changes
  // nothing: skip its signature (MAC); the replica keeps such a prepare,
  // unchecked, to relay to a peer that lags (Replica::keep_unchecked). A
  // pre-prepare whose signed requests this replica may leave to the others
  // (Replica::leaves_batch_unchecked) costs one signature check instead of
  // one per request.
  std::optional<Message> decoded_here;
  BatchRequests requests = BatchRequests::checked;
  const bool signed_batch = type_of(frame) == MessageType::pre_prepare &&
                            config_.client_auth == RequestAuth::signature;
  if (is_vote(frame) || signed_batch) {
    Result<Message> decoded = wire::decode(frame);
    if (!decoded) return settle(undecodable(decoded.reason()));
    if (!replica_->wants(decoded.value())) {
      replica_->keep_unchecked(std::move(decoded).value());
      FrameOutcome unwanted;
      unwanted.kind = FrameOutcome::Kind::unwanted;
      return settle(std::move(unwanted));
    }
    if (replica_->leaves_batch_unchecked(decoded.value())) requests = BatchRequests::unchecked;
    decoded_here = std::move(decoded).value();
  }

  // Cheap frames are checked here: the hand-off to a worker and back costs
  // more. So is a frame with one signature while no worker is busy: the
  // hand-off's two thread switches would add to its latency what they save
  // only when there is other work to overlap.
  const Cost cost =
      requests == BatchRequests::unchecked ? Cost::one_signature : verify_cost(frame, config_);
  if (pool_->threads() == 0 || cost == Cost::cheap ||
      (cost == Cost::one_signature && pool_jobs_ == 0)) {
    return settle(decoded_here ? examine(std::move(*decoded_here), *verifier_, cluster_, requests)
                               : examine(frame, *verifier_, cluster_));
  }
  const Verifier* verifier = verifier_.get();
  const ClusterConfig* cluster = &cluster_;
  std::function<FrameOutcome()> work;
  if (decoded_here) {
    work = [decoded = std::make_shared<Message>(std::move(*decoded_here)), verifier, cluster,
            requests]() { return examine(std::move(*decoded), *verifier, *cluster, requests); };
  } else {
    work = [shared_frame = std::make_shared<Bytes>(std::move(frame)), verifier, cluster]() {
      FrameOutcome out = examine(*shared_frame, *verifier, *cluster);
      shared_frame->clear();
      shared_frame->shrink_to_fit();
      return out;
    };
  }
  std::function<void(FrameOutcome)> done = [this, weak = c.weak_from_this(), serial = c.serial(),
                                            ticket, bytes, from_stranger](FrameOutcome outcome) {
    pool_jobs_--;
    on_outcome(weak, serial, ticket, bytes, from_stranger, std::move(outcome));
  };
  pool_jobs_++;
  pool_->submit<FrameOutcome>(std::move(work), std::move(done));
}

void ReplicaHost::on_outcome(std::weak_ptr<Connection> connection, uint64_t serial,
                             uint64_t ticket, size_t bytes, bool from_stranger,
                             FrameOutcome outcome) {
  if (stopping_) return;
  auto it = pending_.find(serial);
  std::shared_ptr<Connection> c = connection.lock();
  if (it == pending_.end() || !c) {
    release(bytes, from_stranger);  // the connection closed meanwhile
    return;
  }
  for (PendingFrame& p : it->second) {
    if (p.ticket != ticket) continue;
    p.ready = true;
    p.outcome = std::move(outcome);
    break;
  }
  flush(*c, it->second);
}

void ReplicaHost::flush(Connection& c, std::deque<PendingFrame>& pending) {
  while (!pending.empty() && pending.front().ready) {
    PendingFrame p = std::move(pending.front());
    pending.pop_front();
    c.in_verification--;
    release(p.bytes, p.from_stranger);
    switch (p.outcome.kind) {
      case FrameOutcome::Kind::ok:
        deliver(&c, std::move(*p.outcome.verified));
        break;
      case FrameOutcome::Kind::undecodable:
        counters_.frames_undecodable++;
        spdlog::debug("dropped a frame from {} that does not decode: {}", c.remote_address(),
                      p.outcome.reason);
        break;
      case FrameOutcome::Kind::unknown_sender:
        counters_.frames_unknown_sender++;
        spdlog::debug("dropped a frame from {}: {}", c.remote_address(), p.outcome.reason);
        break;
      case FrameOutcome::Kind::unwanted:
        counters_.frames_unwanted++;
        break;
      case FrameOutcome::Kind::unauthentic:
        counters_.frames_unauthentic++;
        spdlog::debug("dropped a frame from {} that is not authentic: {}", c.remote_address(),
                      p.outcome.reason);
        break;
    }
    if (stopping_ || !c.is_open()) return;  // pending may be gone
  }
}

void ReplicaHost::deliver(Connection* c, Verified&& verified) {
  const Message& m = verified.message();
  if (const auto* request = std::get_if<Request>(&m)) {
    if (c->hello && c->hello->kind == Hello::Kind::client) {
      if (!c->hello->carries(request->client)) {
        counters_.frames_wrong_client++;
        return;
      }
      client_routes_[request->client] = ClientRoute{c->shared_from_this(), true};
      c->note_authentic_client(request->client);
    }
    // On a replica link a request is a backup's forward: no route.
  }
  c->authentic = true;
  counters_.frames_delivered++;
  replica_->step(std::move(verified));
  process_effects();
}

void ReplicaHost::on_closed(Connection& c, const std::string& reason) {
  if (auto it = pending_.find(c.serial()); it != pending_.end()) {
    // Frames whose outcome is back are released here; the others when
    // their outcome arrives and finds no entry.
    std::vector<PendingFrame> ready;
    for (PendingFrame& p : it->second) {
      if (p.ready) ready.push_back(std::move(p));
    }
    pending_.erase(it);
    for (const PendingFrame& p : ready) release(p.bytes, p.from_stranger);
  }
  if (c.read_reservation() > 0) release(c.read_reservation(), c.reserved_as_stranger);
  if (c.hello && c.hello->kind == Hello::Kind::client) {
    for (uint32_t k = 0; k < c.hello->count; k++) {
      auto route = client_routes_.find(c.hello->id + k);
      if (route == client_routes_.end()) continue;
      // A dead weak pointer may be this connection too: it is going away.
      std::shared_ptr<Connection> routed = route->second.connection.lock();
      if (!routed || routed.get() == &c) client_routes_.erase(route);
    }
  }
  if (accepted_.erase(c.serial()) > 0) {
    spdlog::debug("connection from {} closed: {}", c.remote_address(), reason);
  }
}

// ------------------------------------------------------------------- core

void ReplicaHost::process_effects() {
  Effects effects = replica_->take_effects();
  for (const Send& s : effects.sends) send(s);
  for (const Executed& e : effects.executed) {
    spdlog::trace("executed seq={} view={} ({} requests)", e.seq, e.view, e.requests.size());
  }
  for (const StateInstalled& i : effects.installed) {
    spdlog::info("state transfer done: installed checkpoint seq={} ({} bytes fetched) view={}",
                 i.seq, i.bytes_fetched, replica_->view());
  }
  observe_core();
}

void ReplicaHost::send(const Send& s) {
  auto bytes = std::make_shared<const Bytes>(wire::encode(*s.message));
  switch (s.to.kind) {
    case Destination::Kind::replica:
      if (s.to.id >= config_.n || s.to.id == options_.id) {
        counters_.send_dropped_misaddressed++;
        return;
      }
      if (links_[s.to.id]->send(bytes) == SendResult::closed) counters_.send_dropped_no_link++;
      return;
    case Destination::Kind::all_replicas:
      for (ReplicaId r = 0; r < config_.n; r++) {
        if (r == options_.id) continue;
        if (links_[r]->send(bytes) == SendResult::closed) counters_.send_dropped_no_link++;
      }
      return;
    case Destination::Kind::client: {
      auto route = client_routes_.find(s.to.id);
      std::shared_ptr<Connection> c =
          route == client_routes_.end() ? nullptr : route->second.connection.lock();
      if (!c || c->send(bytes) == SendResult::closed) counters_.send_dropped_no_route++;
      return;
    }
  }
  PBFT_ASSERT(false);
}

void ReplicaHost::observe_core() {
  const View view = replica_->view();
  if (view != logged_view_) {
    spdlog::info("view change: view {} -> {} (primary is replica {}) seq={}", logged_view_, view,
                 config_.primary(view), replica_->last_executed());
    logged_view_ = view;
  }
  const Seq h = replica_->low_watermark();
  if (h != logged_low_watermark_) {
    spdlog::info("checkpoint stable: seq={} (was {}) view={} executed={}", h,
                 logged_low_watermark_, view, replica_->last_executed());
    logged_low_watermark_ = h;
  }
  const bool transferring = replica_->transferring();
  if (transferring != logged_transferring_) {
    if (transferring) {
      const std::optional<Seq> target = replica_->transfer_target();
      spdlog::info("state transfer started: target checkpoint seq={} from seq={} view={}",
                   target ? *target : 0, replica_->last_executed(), view);
    } else {
      spdlog::info("state transfer ended at seq={} view={}", replica_->last_executed(), view);
    }
    logged_transferring_ = transferring;
  }
  const bool recovering = replica_->recovering();
  if (recovering != logged_recovering_) {
    spdlog::info("recovery done: voting again at seq={} view={}", replica_->last_executed(), view);
    logged_recovering_ = recovering;
  }
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
  if (options_.data_dir.empty()) return;
  nlohmann::json j;
  j["id"] = options_.id;
  j["pid"] = static_cast<int64_t>(getpid());
  j["running"] = running;
  j["view"] = replica_->view();
  j["primary"] = config_.primary(replica_->view());
  j["last_executed"] = replica_->last_executed();
  j["low_watermark"] = replica_->low_watermark();
  j["high_watermark"] = replica_->high_watermark();
  j["recovering"] = replica_->recovering();
  j["transferring"] = replica_->transferring();
  j["log_size"] = replica_->log_size();
  j["pending_requests"] = replica_->pending_requests();
  j["peers_up"] = peer_up_;
  j["connections"] = accepted_.size();
  j["verify_bytes_in_use"] = verify_bytes_in_use_;
  j["verify_bytes_in_use_by_strangers"] = stranger_bytes_in_use_;
  nlohmann::json& replica_counters = j["replica_counters"];
  for_each_counter(replica_->counters(), [&](std::string_view name, std::string_view, uint64_t v) {
    replica_counters[std::string(name)] = v;
  });
  nlohmann::json& drops = j["drops"];
  for_each_drop(replica_->counters(), [&](std::string_view name, std::string_view, uint64_t v) {
    drops[std::string(name)] = v;
  });
  j["counters"] = nlohmann::json::parse(to_json(counters_));
  const std::filesystem::path file = options_.data_dir / "status.json";
  const std::filesystem::path temp = options_.data_dir / "status.json.tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    out << j.dump() << "\n";
    if (!out) {
      spdlog::warn("cannot write {}", temp.string());
      return;
    }
  }
  std::error_code ec;
  std::filesystem::rename(temp, file, ec);  // atomic: readers never see half a file
  if (ec) spdlog::warn("cannot rename {}: {}", temp.string(), ec.message());
}

void ReplicaHost::log_counters(const char* when) {
  const ReplicaCounters& rc = replica_->counters();
  spdlog::info("{}: view={} seq={} stable={} executed {} requests in {} batches; runtime {}", when,
               replica_->view(), replica_->last_executed(), replica_->low_watermark(),
               rc.requests_executed, rc.batches_executed, to_json(counters_));
}

void ReplicaHost::wait_signals() {
  signals_.add(SIGINT);
  signals_.add(SIGTERM);
  signals_.add(SIGUSR1);
  signals_.async_wait([this](const std::error_code& ec, int signal) {
    if (ec || stopping_) return;
    if (signal == SIGUSR1) {
      log_counters("status (SIGUSR1)");
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
  log_counters("at exit");
  write_status(false);
  stopping_ = true;
  std::error_code ignored;
  acceptor_.close(ignored);
  tick_timer_.cancel();
  status_timer_.cancel();
  signals_.cancel(ignored);
  for (auto& link : links_) {
    if (link) link->stop();
  }
  // Closing erases from accepted_: close a copy.
  std::vector<std::shared_ptr<Connection>> open;
  for (auto& [serial, c] : accepted_) open.push_back(c);
  for (auto& c : open) c->close("shutting down");
  pool_->stop();
  io_.stop();
}

}  // namespace

std::string to_json(const RuntimeCounters& c) {
  nlohmann::json j = nlohmann::json::object();
  for_each_counter(c, [&](std::string_view name, std::string_view, uint64_t v) {
    j[std::string(name)] = v;
  });
  return j.dump();
}

Result<ReplicaStatus> read_replica_status(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) return Status::error(file.string() + ": cannot open");
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::error(file.string() + ": not JSON");
  try {
    ReplicaStatus s;
    s.id = j.at("id").get<ReplicaId>();
    s.running = j.at("running").get<bool>();
    s.view = j.at("view").get<uint64_t>();
    s.last_executed = j.at("last_executed").get<Seq>();
    s.low_watermark = j.at("low_watermark").get<Seq>();
    s.recovering = j.at("recovering").get<bool>();
    s.transferring = j.at("transferring").get<bool>();
    s.state_transfers_completed =
        j.at("replica_counters").at("state_transfers_completed").get<uint64_t>();
    s.requests_executed = j.at("replica_counters").at("requests_executed").get<uint64_t>();
    s.batches_executed = j.at("replica_counters").at("batches_executed").get<uint64_t>();
    s.batches_left_unchecked =
        j.at("replica_counters").value("batches_left_unchecked", uint64_t{0});
    s.peers_up = j.at("peers_up").get<std::vector<bool>>();
    const nlohmann::json& c = j.at("counters");
    // Every counter of the table; one the file lacks (written by an older
    // build) reads as 0.
#define PBFT_READ_COUNTER(name, help) s.counters.name = c.value(#name, uint64_t{0});
    PBFT_RUNTIME_COUNTERS(PBFT_READ_COUNTER)
#undef PBFT_READ_COUNTER
    return s;
  } catch (const nlohmann::json::exception& e) {
    return Status::error(file.string() + ": " + e.what());
  }
}

int run_replica_host(const ReplicaHostOptions& options) {
  asio::io_context io(1);
  ReplicaHost host(io, options);
  if (Status s = host.start(); !s) {
    spdlog::error("replica {} cannot start: {}", options.id, s.reason());
    return 1;
  }
  io.run();
  return host.exit_status();
}

}  // namespace pbft::runtime
