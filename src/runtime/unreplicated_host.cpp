// The benchmark's baseline: the service alone behind the same transport
// (listener, connections, frames, request authentication, MAC'd replies)
// on one server, without replication. A client talks to it as to a cluster
// of n = 1, f = 0 (one reply is enough). See include/pbft/runtime.h.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <stop_token>
#include <unordered_map>

#include "pbft/runtime.h"
#include "pbft/verifier.h"
#include "pbft/wire.h"
#include "src/runtime/connection.h"
#include "src/runtime/verification.h"

namespace pbft::runtime {

ClusterConfig unreplicated_view(const ClusterConfig& cluster) {
  ClusterConfig single = cluster;
  single.replicas.resize(1);
  single.protocol.n = 1;
  single.protocol.f = 0;
  return single;
}

namespace {

class UnreplicatedHost final : public ConnectionOwner {
 public:
  UnreplicatedHost(asio::io_context& io, const ReplicaHostOptions& options)
      : io_(io),
        options_(options),
        cluster_(unreplicated_view(options.cluster)),
        acceptor_(io),
        signals_(io) {}

  Status start() {
    Result<std::unique_ptr<Crypto>> crypto =
        sodium::make_crypto(Principal::replica(0), options_.secret_key,
                            std::make_shared<const KeyDirectory>(cluster_.key_directory()));
    if (!crypto) return Status::error("crypto: " + crypto.reason());
    crypto_ = std::move(crypto).value();
    verifier_ = std::make_unique<Verifier>(cluster_.protocol, *crypto_);
    // The same links as a replica's: its clients authenticate as they do
    // with a cluster.
    Result<std::shared_ptr<const LinkSecurity>> security =
        LinkSecurity::make(cluster_, Hello{Hello::Kind::replica, 0, 1},
                           std::vector<SecretKey>{options_.secret_key});
    if (!security) return Status::error("links: " + security.reason());
    security_ = std::move(security).value();
    if (options_.make_service) service_ = options_.make_service();
    if (!service_) return Status::error("no service to run (ReplicaHostOptions::make_service)");
    const ReplicaEndpoint& me = cluster_.replicas[0];
    if (Status s = listen_on(acceptor_, me.listen_host, me.listen_port); !s) return s;
    spdlog::info("unreplicated key-value server (no replication: the benchmark's baseline) "
                 "listening on {}:{} (encryption {})",
                 me.listen_host, me.listen_port, knob_choices::encryption[cluster_.encryption]);
    accept();
    signals_.add(SIGINT);
    signals_.add(SIGTERM);
    signals_.async_wait([this](const std::error_code& e, int) {
      if (e) return;
      shutdown();
    });
    return Status::ok();
  }

  // Stops everything and ends the loop (idempotent).
  void shutdown() {
    if (stopping_) return;
    stopping_ = true;
    spdlog::info("shutting down: executed {} requests; runtime {}", executed_, to_json(counters_));
    std::error_code ignored;
    acceptor_.close(ignored);
    signals_.cancel(ignored);
    std::vector<std::shared_ptr<Connection>> open;
    for (auto& [serial, c] : accepted_) open.push_back(c);
    for (auto& c : open) c->close("shutting down");
    io_.stop();
  }

 private:
  void accept() {
    acceptor_.async_accept([this](const std::error_code& ec, asio::ip::tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) {
        counters_.connections_accepted++;
        if (accepted_.size() >= options_.max_connections) {
          counters_.connections_evicted++;
          std::error_code ignored;
          socket.close(ignored);
        } else {
          auto c = std::make_shared<Connection>(
              std::move(socket), *this, counters_,
              QueueLimits{constants::client_send_queue_frames_max,
                          constants::client_send_queue_bytes_max},
              security_, std::nullopt, std::chrono::milliseconds(options_.hello_timeout_ms),
              "incoming");
          c->set_frame_deadline(std::chrono::milliseconds(options_.frame_timeout_ms),
                                options_.frame_bytes_per_second);
          accepted_.emplace(c->serial(), c);
          c->start();
        }
      }
      accept();
    });
  }

  // The hello is authenticated (connection.h): every id is a client of
  // the cluster file.
  void on_hello(Connection& c, const Hello& hello) override {
    if (hello.kind != Hello::Kind::client) {
      counters_.hello_rejected++;
      c.close("only clients talk to the unreplicated server");
      return;
    }
    c.set_idle_timeout(std::chrono::milliseconds(options_.client_idle_timeout_ms));
  }

  bool reserve(Connection&, size_t) override { return true; }  // processed inline

  // Requests of the link's clients only; anything else closes the link.
  void on_frame(Connection& c, Bytes frame) override {
    const LinkVerdict verdict = check_link(frame, *c.hello);
    if (verdict.kind != FrameOutcome::Kind::ok) {
      (verdict.kind == FrameOutcome::Kind::wrong_client ? counters_.frames_wrong_client
                                                         : counters_.frames_wrong_sender)++;
      c.misbehaved = true;
      c.close(verdict.reason);
      return;
    }
    std::optional<Message> decoded = decode_counted(frame, counters_);
    if (!decoded) {
      c.close("a frame that does not decode");
      return;
    }
    Result<Verified> verified = verifier_->verify(std::move(*decoded));
    if (!verified) {
      counters_.frames_unauthentic++;
      counters_.links_closed_bad_frame++;
      c.close("a request that is not authentic: " + verified.reason());
      return;
    }
    const auto* request = std::get_if<Request>(&verified->message());
    counters_.frames_delivered++;
    c.note_authentic_client(request->client);
    // Exactly once, as the replicas do it: an old timestamp is dropped, the
    // last one gets its cached reply again.
    LastReply& last = last_reply_[request->client];
    if (request->timestamp < last.timestamp) return;
    if (request->timestamp > last.timestamp) {
      const Operation op{request->client, request->timestamp, request->operation};
      std::vector<Bytes> results;
      service_->execute(++seq_, std::span<const Operation>(&op, 1), results);
      executed_++;
      Reply reply;
      reply.view = 0;
      reply.timestamp = request->timestamp;
      reply.client = request->client;
      reply.sender = 0;
      reply.result = std::move(results.front());
      reply.mac = crypto_->mac(Principal::client(reply.client), wire::auth_payload(reply));
      last = LastReply{request->timestamp, std::make_shared<const Bytes>(wire::encode(reply))};
    }
    if (last.frame) c.send(last.frame);
  }

  void on_closed(Connection& c, const std::string&) override { accepted_.erase(c.serial()); }

  struct LastReply {
    Timestamp timestamp = 0;
    std::shared_ptr<const Bytes> frame;
  };

  asio::io_context& io_;
  const ReplicaHostOptions& options_;
  ClusterConfig cluster_;
  asio::ip::tcp::acceptor acceptor_;
  asio::signal_set signals_;
  std::unique_ptr<Crypto> crypto_;
  std::unique_ptr<Verifier> verifier_;
  std::shared_ptr<const LinkSecurity> security_;
  std::unique_ptr<Service> service_;  // made by options_.make_service
  std::unordered_map<uint64_t, std::shared_ptr<Connection>> accepted_;
  std::unordered_map<ClientId, LastReply> last_reply_;
  RuntimeCounters counters_;
  Seq seq_ = 0;
  uint64_t executed_ = 0;
  bool stopping_ = false;
};

}  // namespace

int run_unreplicated_host(const ReplicaHostOptions& options) {
  asio::io_context io(1);
  UnreplicatedHost host(io, options);
  if (Status s = host.start(); !s) {
    spdlog::error("unreplicated server cannot start: {}", s.reason());
    return 1;
  }
  // A stop request (from another thread) shuts down as a signal does.
  std::stop_callback on_stop(options.stop, [&io, &host] {
    asio::post(io, [&host] { host.shutdown(); });
  });
  io.run();
  return 0;
}

}  // namespace pbft::runtime
