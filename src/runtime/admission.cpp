#include "src/runtime/admission.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <vector>

namespace pbft::runtime {

using std::chrono::milliseconds;

// ------------------------------------------------------------ AddressBackoff

bool AddressBackoff::refuses(const std::string& address, Clock::time_point now) {
  auto it = entries_.find(address);
  if (it == entries_.end()) return false;
  if (now < it->second.until) return true;
  // Quiet for as long again after its back-off: forgotten.
  if (now >= it->second.until + it->second.backoff) entries_.erase(it);
  return false;
}

milliseconds AddressBackoff::fail(const std::string& address, Clock::time_point now) {
  if (base_.count() == 0) return milliseconds(0);
  auto it = entries_.find(address);
  if (it != entries_.end() && now < it->second.until + it->second.backoff) {
    // Again while remembered: twice as long, from now.
    it->second.backoff = std::min(it->second.backoff * 2, max_);
    it->second.until = now + it->second.backoff;
    return it->second.backoff;
  }
  if (it == entries_.end() && entries_.size() >= capacity_) {
    // Full: forget the address whose back-off ends first.
    auto oldest = entries_.begin();
    for (auto e = entries_.begin(); e != entries_.end(); ++e) {
      if (e->second.until < oldest->second.until) oldest = e;
    }
    entries_.erase(oldest);
  }
  entries_[address] = Entry{now + base_, base_};
  return base_;
}

// ----------------------------------------------------------------- Admission

Admission::Admission(const ReplicaHostOptions& options, RuntimeCounters& counters)
    : options_(options),
      counters_(counters),
      backoff_(milliseconds(options.backoff_ms), milliseconds(options.backoff_max_ms)),
      // Every principal the cluster file lists fits: none is forgotten
      // early because outsiders failed from many addresses.
      principal_backoff_(milliseconds(options.backoff_ms), milliseconds(options.backoff_max_ms),
                         options.cluster.replicas.size() + options.cluster.clients.size() + 1) {}

void Admission::admit(asio::ip::tcp::socket socket, ConnectionOwner& owner) {
  counters_.connections_accepted++;
  std::error_code ec;
  const asio::ip::tcp::endpoint remote = socket.remote_endpoint(ec);
  const std::string address = ec ? std::string("?") : remote.address().to_string();
  auto refuse = [&](uint64_t& counter) {
    counter++;
    std::error_code ignored;
    socket.close(ignored);
  };
  if (backoff_.refuses(address, AddressBackoff::Clock::now())) {
    return refuse(counters_.connections_refused_backoff);
  }
  if (auto it = per_address_.find(address);
      it != per_address_.end() && it->second >= options_.max_connections_per_address) {
    return refuse(counters_.connections_refused_address_cap);
  }
  if (accepted_.size() >= options_.max_connections) {
    // Make room by closing the oldest connection that never delivered an
    // authentic frame: a flood of idle or junk connections cannot keep
    // correct clients and peers out.
    std::shared_ptr<Connection> victim;
    for (auto& [serial, c] : accepted_) {
      if (c->authentic) continue;
      if (!victim || c->accepted_at < victim->accepted_at) victim = c;
    }
    if (!victim) return refuse(counters_.connections_evicted);
    counters_.connections_evicted++;
    victim->close("evicted: too many connections");
  }
  auto c = std::make_shared<Connection>(
      std::move(socket), owner, counters_,
      QueueLimits{constants::client_send_queue_frames_max, constants::client_send_queue_bytes_max},
      security_, std::nullopt, milliseconds(options_.hello_timeout_ms), "incoming");
  c->set_frame_deadline(milliseconds(options_.frame_timeout_ms), options_.frame_bytes_per_second);
  c->remote_ip = address;
  per_address_[address]++;
  accepted_.emplace(c->serial(), c);
  c->start();
}

namespace {
// The back-off's name for one principal.
std::string principal_name(Hello::Kind kind, uint32_t id) {
  return fmt::format("{} {}", kind == Hello::Kind::replica ? "replica" : "client", id);
}
}  // namespace

bool Admission::on_hello(Connection& c, const Hello& hello) {
  // A principal that proved faulty on an earlier link (a frame in its name
  // that failed authentication, or another's) is refused for a while,
  // wherever it comes from.
  // (Each member of a group: a group that starts at another id does not
  // escape its faulty member's back-off.)
  for (uint32_t k = 0; k < hello.count; k++) {
    const std::string who = principal_name(hello.kind, hello.id + k);
    if (principal_backoff_.refuses(who, AddressBackoff::Clock::now())) {
      counters_.connections_refused_backoff++;
      c.close(who + " is backing off");
      return false;
    }
  }
  if (hello.kind == Hello::Kind::replica) {
    if (hello.id >= options_.cluster.protocol.n || hello.id == options_.id) {
      counters_.hello_rejected++;
      c.misbehaved = true;
      c.close(fmt::format("hello from replica {} (not a peer)", hello.id));
      return false;
    }
    c.set_idle_timeout(milliseconds(options_.replica_idle_timeout_ms));
  } else {
    c.set_idle_timeout(milliseconds(options_.client_idle_timeout_ms));
  }
  c.hello = hello;
  // Each principal keeps its newest connections: a reconnect replaces a
  // connection that died without a word, and nobody holds more than a few.
  std::vector<std::shared_ptr<Connection>> closing;
  for (uint32_t k = 0; k < hello.count; k++) {
    std::deque<std::weak_ptr<Connection>>& mine =
        per_principal_[principal_key(hello.kind, hello.id + k)];
    mine.push_back(c.weak_from_this());
    while (mine.size() > options_.max_connections_per_principal) {
      if (std::shared_ptr<Connection> oldest = mine.front().lock()) closing.push_back(oldest);
      mine.pop_front();
    }
  }
  for (const std::shared_ptr<Connection>& oldest : closing) {
    if (!oldest->is_open()) continue;
    counters_.connections_closed_principal_cap++;
    oldest->close("replaced: its principal opened newer connections");
  }
  return c.is_open();
}

void Admission::on_closed(Connection& c, const std::string& reason) {
  if (accepted_.erase(c.serial()) == 0) return;
  spdlog::debug("connection from {} closed: {}", c.remote_address(), reason);
  if (auto it = per_address_.find(c.remote_ip); it != per_address_.end() && --it->second == 0) {
    per_address_.erase(it);
  }
  if (c.hello) {
    for (uint32_t k = 0; k < c.hello->count; k++) {
      auto it = per_principal_.find(principal_key(c.hello->kind, c.hello->id + k));
      if (it == per_principal_.end()) continue;
      std::erase_if(it->second, [&](const std::weak_ptr<Connection>& w) {
        std::shared_ptr<Connection> p = w.lock();
        return !p || p.get() == &c;
      });
      if (it->second.empty()) per_principal_.erase(it);
    }
  }
  if (c.misbehaved) {
    // Before its hello, the address backs off; after it, the principal
    // that proved faulty does, not its address, which correct clients and
    // replicas may share (a NAT, one machine).
    // (A group's every member: which of them made the bad frame is not
    // known, and they all spoke through one link.)
    std::vector<std::string> who;
    if (c.hello) {
      for (uint32_t k = 0; k < c.hello->count; k++) {
        who.push_back(principal_name(c.hello->kind, c.hello->id + k));
      }
    } else {
      who.push_back(c.remote_ip);
    }
    for (const std::string& w : who) {
      AddressBackoff& table = c.hello ? principal_backoff_ : backoff_;
      const milliseconds refused = table.fail(w, AddressBackoff::Clock::now());
      if (refused.count() > 0) {
        counters_.addresses_backed_off++;
        spdlog::debug("{} refused for {} ms: {}", w, refused.count(), reason);
      }
    }
  }
}

void Admission::close_all(const std::string& reason) {
  // Closing erases from accepted_: close a copy.
  std::vector<std::shared_ptr<Connection>> open;
  for (auto& [serial, c] : accepted_) open.push_back(c);
  for (auto& c : open) c->close(reason);
}

}  // namespace pbft::runtime
