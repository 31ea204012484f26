// Authenticated links between real processes (docs/design.md, "Links"): a
// cluster serves with TLS and with cleartext links; a link authenticated as
// one principal cannot carry another's messages (a COMMIT of replica 1 on
// replica 2's link, a request of client 5 on client 6's link: dropped, the
// link closed); junk closes its connection and its address backs off while
// everyone else is served.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pbft/verifier.h"
#include "pbft/wire.h"
#include "src/runtime/connection.h"
#include "tests/integration_harness.h"

namespace pbft::integration {
namespace {

using runtime::Hello;

// One link dialed from this process with the runtime's own Connection (TLS
// or cleartext, as the cluster says), as `who`, to replica `to`.
class Dialer : public runtime::ConnectionOwner {
 public:
  Dialer(const TestCluster& cluster, const Hello& who, ReplicaId to) {
    std::vector<SecretKey> keys;
    for (uint32_t k = 0; k < who.count; k++) keys.push_back(key_of(cluster.cluster(), who, k));
    Result<std::shared_ptr<const runtime::LinkSecurity>> security =
        runtime::LinkSecurity::make(cluster.cluster(), who, std::move(keys));
    EXPECT_TRUE(security.is_ok()) << security.reason();
    asio::ip::tcp::socket socket(io_);
    socket.connect({asio::ip::address_v4::loopback(), cluster.port(to)});
    connection_ = std::make_shared<runtime::Connection>(
        std::move(socket), *this, counters_, runtime::QueueLimits{64, 1 << 20},
        security.value(), to, std::chrono::milliseconds(5000), "test dialer");
    connection_->start();
  }

  // Runs the loop until `done` or `limit`.
  bool run_until(Clock::duration limit, const std::function<bool()>& done) {
    const auto deadline = Clock::now() + limit;
    while (!done()) {
      if (Clock::now() > deadline) return false;
      if (io_.stopped()) io_.restart();
      io_.run_for(milliseconds(10));
    }
    return true;
  }
  bool established() { return run_until(seconds(10), [&] { return connection_->established(); }); }
  void send(const Message& m) {
    EXPECT_EQ(connection_->send(std::make_shared<const Bytes>(wire::encode(m))),
              runtime::SendResult::queued);
  }
  bool closed_by_replica() {
    return run_until(seconds(10), [&] { return !connection_->is_open(); });
  }

  void on_hello(runtime::Connection&, const Hello&) override {}
  bool reserve(runtime::Connection&, size_t) override { return true; }
  void on_frame(runtime::Connection&, Bytes) override {}
  void on_closed(runtime::Connection&, const std::string& reason) override { closed = reason; }
  std::string closed;

 private:
  asio::io_context io_;
  runtime::RuntimeCounters counters_;
  std::shared_ptr<runtime::Connection> connection_;
};

std::unique_ptr<Crypto> crypto_of(const TestCluster& cluster, const Hello& who) {
  const Principal p = who.kind == Hello::Kind::replica ? Principal::replica(who.id)
                                                       : Principal::client(who.id);
  Result<std::unique_ptr<Crypto>> crypto =
      sodium::make_crypto(p, key_of(cluster.cluster(), who),
                          std::make_shared<const KeyDirectory>(cluster.cluster().key_directory()));
  EXPECT_TRUE(crypto.is_ok()) << crypto.reason();
  return std::move(crypto).value();
}

class IntegrationLinks : public ::testing::TestWithParam<const char*> {};

TEST_P(IntegrationLinks, AClusterServesOverItsLinks) {
  TestCluster cluster({{"encryption", std::string("\"") + GetParam() + "\""}});
  cluster.start_all();
  ProcessResult r = cluster.client({"put", "k", "over the links"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = cluster.client({"--id", "3", "get", "k"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "over the links\n");
  Load load(cluster, 4, 4);
  EXPECT_TRUE(eventually(seconds(20), [&] { return load.completed() >= 200; }));
  load.stop();
  EXPECT_EQ(load.error(), "");
  for (ReplicaId i = 0; i < 4; i++) {
    auto s = cluster.status(i);
    ASSERT_TRUE(s.has_value());
    EXPECT_EQ(s->counters.hello_unauthentic + s->counters.hello_rejected +
                  s->counters.handshake_failures + s->counters.frames_wrong_sender +
                  s->counters.frames_wrong_client + s->counters.links_closed_bad_frame,
              0u)
        << "replica " << i;
  }
  EXPECT_THAT(cluster.log(0), ::testing::HasSubstr(std::string("encryption ") + GetParam()));
}

INSTANTIATE_TEST_SUITE_P(Encryption, IntegrationLinks, ::testing::Values("tls", "none"),
                         [](const ::testing::TestParamInfo<const char*>& param) {
                           return std::string(param.param);
                         });

// A process that holds replica 2's key (replica 2 is not running) links to
// replica 0 as replica 2, and sends a COMMIT of replica 1, authentic by
// replica 1's MACs: a COMMIT only ever comes from its sender, so replica 0
// drops it and closes the link.
TEST(IntegrationLinksSender, AReplicasOwnMessageOnAnotherReplicasLinkClosesTheLink) {
  TestCluster cluster;
  for (ReplicaId r : {0u, 1u, 3u}) cluster.start(r);
  ASSERT_TRUE(eventually(seconds(15), [&] { return cluster.status(0).has_value(); }));
  Dialer impostor(cluster, Hello{Hello::Kind::replica, 2}, 0);
  ASSERT_TRUE(impostor.established()) << impostor.closed << cluster.log(0);
  Commit commit;
  commit.view = 0;
  commit.seq = 1;
  authenticate(commit, *crypto_of(cluster, Hello{Hello::Kind::replica, 1}), cluster.n());
  impostor.send(Message(commit));
  EXPECT_TRUE(impostor.closed_by_replica());
  EXPECT_TRUE(eventually(seconds(5), [&] {
    auto s = cluster.status(0);
    return s && s->counters.frames_wrong_sender >= 1 && s->counters.addresses_backed_off >= 1;
  })) << read_text(cluster.data_dir(0) / "status.json");
  // Replica 2's own COMMIT on its own link is taken (no more wrong senders).
  std::this_thread::sleep_for(milliseconds(1100));  // the back-off of 1 s ends
  Dialer honest(cluster, Hello{Hello::Kind::replica, 2}, 0);
  ASSERT_TRUE(honest.established()) << honest.closed;
  Commit own = commit;
  authenticate(own, *crypto_of(cluster, Hello{Hello::Kind::replica, 2}), cluster.n());
  honest.send(Message(own));
  honest.run_until(milliseconds(500), [] { return false; });
  EXPECT_TRUE(honest.closed.empty()) << honest.closed;
  auto s = cluster.status(0);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->counters.frames_wrong_sender, 1u);
}

// Client 5's signed request, on a link authenticated for client 6: refused
// (a replayed request cannot take client 5's reply route), the link closed.
TEST(IntegrationLinksSender, AClientsRequestOnAnotherClientsLinkIsRefused) {
  TestCluster cluster;
  cluster.start_all();
  Dialer six(cluster, Hello{Hello::Kind::client, 6}, 0);
  ASSERT_TRUE(six.established()) << six.closed;
  Request request;
  request.client = 5;
  request.timestamp = 1;
  request.operation = {1, 2, 3};
  request.auth = RequestAuth::signature;
  authenticate(request, *crypto_of(cluster, Hello{Hello::Kind::client, 5}), cluster.n());
  six.send(Message(request));
  EXPECT_TRUE(six.closed_by_replica());
  EXPECT_TRUE(eventually(seconds(5), [&] {
    auto s = cluster.status(0);
    return s && s->counters.frames_wrong_client >= 1;
  })) << read_text(cluster.data_dir(0) / "status.json");
  auto s = cluster.status(0);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->requests_executed, 0u) << "the request went nowhere";
}

// Junk from 127.0.0.2: the TLS handshake fails, the connection closes, and
// 127.0.0.2 is refused for a while; 127.0.0.1 (the other replicas, the
// clients) is served all along.
TEST(IntegrationLinksJunk, JunkClosesTheConnectionAndItsAddressBacksOff) {
  TestCluster cluster;
  cluster.start_all();
  const int junk = connect_to(cluster.port(0), "127.0.0.2");
  ASSERT_GE(junk, 0);
  Bytes bytes(2048);
  for (size_t i = 0; i < bytes.size(); i++) bytes[i] = static_cast<uint8_t>(i * 7 + 3);
  send_all(junk, bytes);
  EXPECT_TRUE(closed_by_peer(junk));
  close(junk);
  EXPECT_TRUE(eventually(seconds(5), [&] {
    auto s = cluster.status(0);
    return s && s->counters.handshake_failures >= 1 && s->counters.addresses_backed_off >= 1;
  })) << read_text(cluster.data_dir(0) / "status.json");
  const int again = connect_to(cluster.port(0), "127.0.0.2");
  ASSERT_GE(again, 0);
  EXPECT_TRUE(closed_by_peer(again)) << "refused at once while backing off";
  close(again);
  EXPECT_TRUE(eventually(seconds(5), [&] {
    auto s = cluster.status(0);  // written every 200 ms
    return s && s->counters.connections_refused_backoff >= 1;
  }));
  ProcessResult r = cluster.client({"put", "k", "v"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(cluster.all_connected());
}

}  // namespace
}  // namespace pbft::integration
