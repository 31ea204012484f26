#include "src/runtime/admission.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <vector>

namespace pbft::runtime {

using std::chrono::milliseconds;

Admission::Admission(const ReplicaHostOptions& options, RuntimeCounters& counters)
    : options_(options), counters_(counters) {}

void Admission::admit(asio::ip::tcp::socket socket, ConnectionOwner& owner) {
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
      std::move(socket), owner, counters_,
      QueueLimits{constants::client_send_queue_frames_max, constants::client_send_queue_bytes_max},
      true, milliseconds(options_.hello_timeout_ms), "incoming");
  c->set_frame_timeout(milliseconds(options_.frame_timeout_ms));
  accepted_.emplace(c->serial(), c);
  c->start(std::nullopt);
}

bool Admission::on_hello(Connection& c, const Hello& hello) {
  if (hello.kind == Hello::Kind::replica) {
    if (hello.id >= options_.cluster.protocol.n || hello.id == options_.id) {
      counters_.hello_rejected++;
      c.close(fmt::format("hello from replica {} (not a peer)", hello.id));
      return false;
    }
    c.hello = hello;
    c.set_idle_timeout(milliseconds(options_.replica_idle_timeout_ms));
    return true;
  }
  for (uint32_t k = 0; k < hello.count; k++) {
    if (options_.cluster.clients.count(hello.id + k) == 0) {
      counters_.hello_rejected++;
      c.close(fmt::format("hello from client {} (not in the cluster file)", hello.id + k));
      return false;
    }
  }
  c.hello = hello;
  return true;
}

void Admission::on_closed(Connection& c, const std::string& reason) {
  if (accepted_.erase(c.serial()) > 0) {
    spdlog::debug("connection from {} closed: {}", c.remote_address(), reason);
  }
}

void Admission::close_all(const std::string& reason) {
  // Closing erases from accepted_: close a copy.
  std::vector<std::shared_ptr<Connection>> open;
  for (auto& [serial, c] : accepted_) open.push_back(c);
  for (auto& c : open) c->close(reason);
}

}  // namespace pbft::runtime
