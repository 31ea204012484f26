// Clients over TCP: Client cores on one event-loop thread. Clients with
// consecutive ids share a link to every replica (one hello for the group,
// signed by every member: link_hello.h), so that a replica's replies to many
// of them leave in one write and arrive in one read. A link takes replies
// from the replica it is authenticated as only. Replies are MAC'd (~0.3 us to check), so they are
// decoded and verified inline on the loop thread: a pool would cost more in
// hand-offs than it saves (docs/design.md).
#include <spdlog/spdlog.h>

#include <fmt/format.h>

#include <algorithm>
#include <future>
#include <thread>

#include "pbft/assert.h"
#include "pbft/runtime.h"
#include "pbft/verifier.h"
#include "pbft/wire.h"
#include "src/runtime/connection.h"

namespace pbft::runtime {

namespace {

class LinkGroup;

// One client: its core, its keys, and the group whose links it talks on.
class ClientMember {
 public:
  ClientMember(const ClusterConfig& cluster, RuntimeCounters& counters)
      : cluster_(cluster), counters_(counters) {}

  Status init(const ClientPool::Member& m, Timestamp first_timestamp) {
    id_ = m.id;
    secret_key_ = m.secret_key;
    Result<std::unique_ptr<Crypto>> crypto =
        sodium::make_crypto(Principal::client(m.id), m.secret_key,
                            std::make_shared<const KeyDirectory>(cluster_.key_directory()));
    if (!crypto) return Status::error("client " + std::to_string(m.id) + ": " + crypto.reason());
    crypto_ = std::move(crypto).value();
    verifier_ = std::make_unique<Verifier>(cluster_.protocol, *crypto_);
    ClientOptions options;
    options.retransmit_ticks = cluster_.client_retransmit_ticks;
    options.retransmit_ticks_max = std::max<uint64_t>(cluster_.client_retransmit_ticks * 16, 1);
    options.first_timestamp = first_timestamp;
    Result<std::unique_ptr<Client>> client =
        Client::create(cluster_.protocol, m.id, *crypto_, options);
    if (!client) return Status::error("client " + std::to_string(m.id) + ": " + client.reason());
    client_ = std::move(client).value();
    return Status::ok();
  }

  ClientId id() const { return id_; }
  const SecretKey& secret_key() const { return secret_key_; }
  void set_group(LinkGroup* group) { group_ = group; }

  void submit(Bytes operation, ClientPool::Done done, bool read_only) {
    Result<Timestamp> t = client_->submit(std::move(operation), read_only);
    if (!t) {
      done(t.status());
      return;
    }
    done_ = std::move(done);
    drain();
  }

  void tick() {
    client_->tick();
    drain();
  }

  // A decoded reply addressed to this client, from the link's replica:
  // false when it is not authentic (that replica is faulty).
  bool on_reply(Message message, const Connection& c) {
    // Late replies (the request already completed with f+1 others) and
    // stale ones are dropped before the MAC is checked.
    if (!client_->wants(std::get<Reply>(message))) {
      counters_.frames_unwanted++;
      return true;
    }
    Result<Verified> verified = verifier_->verify(std::move(message));
    if (!verified) {
      counters_.frames_unauthentic++;
      spdlog::debug("client {}: dropped a frame from {}: {}", id_, c.remote_address(),
                    verified.reason());
      return false;
    }
    counters_.frames_delivered++;
    client_->step(verified.value());
    drain();
    return true;
  }

 private:
  void drain();

  const ClusterConfig& cluster_;
  RuntimeCounters& counters_;
  ClientId id_ = 0;
  SecretKey secret_key_{};
  LinkGroup* group_ = nullptr;
  std::unique_ptr<Crypto> crypto_;
  std::unique_ptr<Verifier> verifier_;
  std::unique_ptr<Client> client_;
  ClientPool::Done done_;
};

// Clients with consecutive ids share one link to each replica (a hello for
// the whole group): replies to all of them arrive on it, and go out of the
// replica in few writes.
class LinkGroup final : public ConnectionOwner {
 public:
  LinkGroup(asio::io_context& io, const ClusterConfig& cluster, RuntimeCounters& counters,
            std::vector<ClientMember*> members, std::shared_ptr<const LinkSecurity> security)
      : counters_(counters), members_(std::move(members)) {
    const ClientId first = members_.front()->id();
    const auto count = static_cast<uint16_t>(members_.size());
    for (ClientMember* m : members_) m->set_group(this);
    for (const ReplicaEndpoint& r : cluster.replicas) {
      links_.push_back(std::make_unique<OutgoingLink>(
          io, r.host, r.port, r.id, security, *this, counters_,
          QueueLimits{constants::client_send_queue_frames_max +
                          count * constants::client_group_frames_per_client,
                      constants::client_send_queue_bytes_max +
                          count * constants::client_group_bytes_per_client},
          fmt::format("clients {}..{} link to replica {}", first, first + count - 1, r.id),
          [id = r.id, first, count](bool up, const std::string& why) {
            if (up) {
              spdlog::debug("clients {}..{}: replica {} up", first, first + count - 1, id);
            } else {
              spdlog::debug("clients {}..{}: replica {} down: {}", first, first + count - 1, id,
                            why);
            }
          }));
    }
  }

  void start() {
    for (auto& link : links_) link->start();
  }
  void stop() {
    for (auto& link : links_) link->stop();
  }
  size_t replicas_connected() const {
    size_t up = 0;
    for (const auto& link : links_) up += link->up() ? 1 : 0;
    return up;
  }

  void send(const Send& s) {
    auto bytes = std::make_shared<const Bytes>(wire::encode(*s.message));
    if (s.to.kind == Destination::Kind::replica) {
      if (s.to.id >= links_.size()) {
        counters_.send_dropped_misaddressed++;
        return;
      }
      if (links_[s.to.id]->send(bytes) == SendResult::closed) counters_.send_dropped_no_link++;
    } else if (s.to.kind == Destination::Kind::all_replicas) {
      for (auto& link : links_) {
        if (link->send(bytes) == SendResult::closed) counters_.send_dropped_no_link++;
      }
    } else {
      counters_.send_dropped_misaddressed++;
    }
  }

 private:
  void on_hello(Connection&, const Hello&) override {}  // OutgoingLink takes it
  bool reserve(Connection&, size_t) override { return true; }  // processed inline

  // A link carries replies of the replica it is authenticated as, to the
  // group's members; anything else shows that replica faulty (or someone
  // on the path, which TLS rules out): the link closes and reconnects.
  void on_frame(Connection& c, Bytes frame) override {
    const std::optional<MessageType> type = wire::peek_type(frame);
    const uint32_t sender = frame[8] | frame[9] << 8 | frame[10] << 16 |
                            static_cast<uint32_t>(frame[11]) << 24;  // the header's sender
    if (type != MessageType::reply || !c.hello || sender != c.hello->id) {
      counters_.frames_wrong_sender++;
      return drop_link(c, "a frame that is not a reply of the link's replica");
    }
    std::optional<Message> decoded = decode_counted(frame, counters_);
    if (!decoded) return drop_link(c, "a reply that does not decode");
    // The member checks the rest (MAC, that it is a reply to it).
    const auto& reply = std::get<Reply>(*decoded);
    const ClientId first = members_.front()->id();
    if (reply.client < first || reply.client - first >= members_.size()) {
      counters_.frames_unauthentic++;
      return drop_link(c, "a reply to a client outside the group");
    }
    if (!members_[reply.client - first]->on_reply(std::move(*decoded), c)) {
      drop_link(c, "a reply that is not authentic");
    }
  }

  void drop_link(Connection& c, const std::string& why) {
    counters_.links_closed_bad_frame++;
    c.misbehaved = true;
    c.close(why);
  }

  void on_closed(Connection&, const std::string&) override {}

  RuntimeCounters& counters_;
  std::vector<ClientMember*> members_;                // consecutive ids
  std::vector<std::unique_ptr<OutgoingLink>> links_;  // index = replica id
};

void ClientMember::drain() {
  ClientEffects effects = client_->take_effects();
  for (const Send& s : effects.sends) group_->send(s);
  if (effects.completed && done_) {
    ClientPool::Done done = std::move(done_);
    done_ = nullptr;
    done(std::move(*effects.completed));
  }
}

}  // namespace

struct ClientPool::Impl {
  explicit Impl(const ClusterConfig& c)
      : cluster(c), work(asio::make_work_guard(io)), tick_timer(io) {}

  void schedule_tick() {
    next_tick += std::chrono::milliseconds(cluster.tick_ms);
    const auto now = std::chrono::steady_clock::now();
    if (next_tick + std::chrono::milliseconds(cluster.tick_ms) < now) {
      next_tick = now + std::chrono::milliseconds(cluster.tick_ms);
    }
    tick_timer.expires_at(next_tick);
    tick_timer.async_wait([this](const std::error_code& ec) {
      if (ec || stopped) return;
      for (auto& m : members) m->tick();
      schedule_tick();
    });
  }

  // Runs f on the loop thread and waits for it (for the observers).
  template <typename T>
  T ask(std::function<T()> f) const {
    if (stopped) return f();
    auto promise = std::make_shared<std::promise<T>>();
    std::future<T> future = promise->get_future();
    asio::post(const_cast<asio::io_context&>(io), [promise, f] { promise->set_value(f()); });
    if (future.wait_for(std::chrono::seconds(2)) != std::future_status::ready) return T{};
    return future.get();
  }

  ClusterConfig cluster;
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  asio::steady_timer tick_timer;
  std::chrono::steady_clock::time_point next_tick;
  RuntimeCounters counters;
  std::vector<std::unique_ptr<ClientMember>> members;  // in the caller's order
  std::vector<std::unique_ptr<LinkGroup>> groups;
  std::thread thread;
  bool stopped = false;
};

ClientPool::ClientPool(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ClientPool::~ClientPool() { stop(); }

Result<std::unique_ptr<ClientPool>> ClientPool::start(const ClusterConfig& cluster,
                                                      std::vector<Member> members,
                                                      Timestamp first_timestamp) {
  if (members.empty()) return Status::error("no clients");
  auto impl = std::make_unique<Impl>(cluster);
  for (const Member& m : members) {
    auto member = std::make_unique<ClientMember>(impl->cluster, impl->counters);
    if (Status s = member->init(m, first_timestamp); !s) return s;
    impl->members.push_back(std::move(member));
  }
  // Groups: runs of consecutive ids, each at most client_group_max long.
  std::vector<ClientMember*> by_id;
  for (auto& m : impl->members) by_id.push_back(m.get());
  std::sort(by_id.begin(), by_id.end(),
            [](const ClientMember* a, const ClientMember* b) { return a->id() < b->id(); });
  for (size_t i = 1; i < by_id.size(); i++) {
    if (by_id[i]->id() == by_id[i - 1]->id()) {
      return Status::error("client " + std::to_string(by_id[i]->id()) + " is in the pool twice");
    }
  }
  std::vector<ClientMember*> run;
  // Each group proves every member on its links (LinkSecurity).
  auto add_group = [&](std::vector<ClientMember*> group) -> Status {
    std::vector<SecretKey> keys;
    for (ClientMember* m : group) keys.push_back(m->secret_key());
    Result<std::shared_ptr<const LinkSecurity>> security = LinkSecurity::make(
        impl->cluster,
        Hello{Hello::Kind::client, group.front()->id(), static_cast<uint16_t>(group.size())},
        std::move(keys));
    if (!security) return security.status();
    impl->groups.push_back(std::make_unique<LinkGroup>(impl->io, impl->cluster, impl->counters,
                                                       std::move(group),
                                                       std::move(security).value()));
    return Status::ok();
  };
  for (ClientMember* m : by_id) {
    if (!run.empty() &&
        (m->id() != run.back()->id() + 1 || run.size() == constants::client_group_max)) {
      if (Status s = add_group(std::move(run)); !s) return s;
      run.clear();
    }
    run.push_back(m);
  }
  if (Status s = add_group(std::move(run)); !s) return s;
  for (auto& g : impl->groups) g->start();
  impl->next_tick = std::chrono::steady_clock::now();
  impl->schedule_tick();
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->io.run(); });
  return std::unique_ptr<ClientPool>(new ClientPool(std::move(impl)));
}

size_t ClientPool::size() const { return impl_->members.size(); }

void ClientPool::submit(size_t index, Bytes operation, Done done, bool read_only) {
  PBFT_ASSERT(index < impl_->members.size());
  asio::post(impl_->io, [this, index, operation = std::move(operation), done = std::move(done),
                         read_only]() mutable {
    if (impl_->stopped) return;
    impl_->members[index]->submit(std::move(operation), std::move(done), read_only);
  });
}

size_t ClientPool::replicas_connected() const {
  return impl_->ask<size_t>(
      std::function<size_t()>([this] { return impl_->groups[0]->replicas_connected(); }));
}

RuntimeCounters ClientPool::counters() const {
  return impl_->ask<RuntimeCounters>(
      std::function<RuntimeCounters()>([this] { return impl_->counters; }));
}

void ClientPool::stop() {
  if (!impl_ || impl_->stopped) return;
  std::promise<void> stopped;
  std::future<void> done = stopped.get_future();
  asio::post(impl_->io, [this, &stopped] {
    impl_->stopped = true;
    impl_->tick_timer.cancel();
    for (auto& g : impl_->groups) g->stop();
    impl_->work.reset();
    impl_->io.stop();
    stopped.set_value();
  });
  done.wait();
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->stopped = true;
}

}  // namespace pbft::runtime
