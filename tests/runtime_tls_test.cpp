// Authenticated links (docs/design.md, "Links"): a dialer and an acceptor
// over a real loopback socket, with TLS 1.3 and with cleartext. Each end
// must prove the key the cluster file lists for whom it claims to be, over
// this connection's binding: a wrong pinned key, a wrong id, a hello
// replayed from another connection and a group with one bad signature are
// all refused, and counted.
#include <gtest/gtest.h>

#include "pbft/wire.h"
#include "src/runtime/connection.h"
#include "src/runtime/link_hello.h"
#include "tests/runtime_sockets.h"

namespace pbft::runtime {
namespace {

using std::chrono::milliseconds;
using testing::prepare_frame;
using testing::raw_handshake;
using testing::run_until;
using testing::security_for;
using testing::SocketPair;

using testing::RecordingOwner;

// A dialer (as `dialer_security`, dialing replica `dialed`) and an acceptor
// (as `acceptor_security`) on one loopback connection.
struct Link {
  Link(asio::io_context& io, std::shared_ptr<const LinkSecurity> dialer_security,
       ReplicaId dialed, std::shared_ptr<const LinkSecurity> acceptor_security)
      : pair(io) {
    dialer = std::make_shared<Connection>(std::move(pair.client), dialer_side, dialer_counters,
                                          QueueLimits{64, 1 << 20}, dialer_security, dialed,
                                          milliseconds(5000), "dialer");
    acceptor = std::make_shared<Connection>(std::move(pair.server), acceptor_side,
                                            acceptor_counters, QueueLimits{64, 1 << 20},
                                            acceptor_security, std::nullopt, milliseconds(5000),
                                            "acceptor");
    acceptor->start();
    dialer->start();
  }
  bool both_closed() const { return !dialer_side.closed.empty() && !acceptor_side.closed.empty(); }

  SocketPair pair;
  RecordingOwner dialer_side;
  RecordingOwner acceptor_side;
  RuntimeCounters dialer_counters;
  RuntimeCounters acceptor_counters;
  std::shared_ptr<Connection> dialer;
  std::shared_ptr<Connection> acceptor;
};

class RuntimeLinks : public ::testing::TestWithParam<Encryption> {};

TEST_P(RuntimeLinks, ReplicaAndClientGroupLinksComeUpAndCarryFramesBothWays) {
  auto keys = testing::make_test_keys(GetParam());
  asio::io_context io;
  const Hello replica0{Hello::Kind::replica, 0};
  for (const Hello& dialer : {Hello{Hello::Kind::replica, 2}, Hello{Hello::Kind::client, 3, 4}}) {
    Link link(io, security_for(*keys, dialer), 0, security_for(*keys, replica0));
    ASSERT_TRUE(run_until(io, [&] {
      return link.dialer->established() && link.acceptor->established();
    })) << (link.dialer_side.closed.empty() ? "" : link.dialer_side.closed[0])
        << (link.acceptor_side.closed.empty() ? "" : link.acceptor_side.closed[0]);
    ASSERT_EQ(link.acceptor_side.hellos.size(), 1u);
    EXPECT_EQ(link.acceptor_side.hellos[0].kind, dialer.kind);
    EXPECT_EQ(link.acceptor_side.hellos[0].id, dialer.id);
    EXPECT_EQ(link.acceptor_side.hellos[0].count, dialer.count);
    ASSERT_EQ(link.dialer_side.hellos.size(), 1u);
    EXPECT_EQ(link.dialer_side.hellos[0].id, 0u) << "the dialer knows whom it reached";
    // Frames both ways, a large one (many TLS records) among them.
    Bytes large = prepare_frame(9);
    Request big;
    big.client = 3;
    big.operation = Bytes(60 * 1024, 0x5a);  // four TLS records
    large = wire::encode(Message(big));
    EXPECT_EQ(link.dialer->send(std::make_shared<const Bytes>(prepare_frame(1))),
              SendResult::queued);
    EXPECT_EQ(link.dialer->send(std::make_shared<const Bytes>(large)), SendResult::queued);
    EXPECT_EQ(link.acceptor->send(std::make_shared<const Bytes>(prepare_frame(2))),
              SendResult::queued);
    ASSERT_TRUE(run_until(io, [&] {
      return link.acceptor_side.frames.size() == 2 && link.dialer_side.frames.size() == 1;
    })) << link.acceptor_side.frames.size() << " " << link.dialer_side.frames.size() << " "
        << link.acceptor_side.closed.size() << link.dialer_side.closed.size()
        << (link.acceptor_side.closed.empty() ? "" : link.acceptor_side.closed[0]);
    EXPECT_EQ(link.acceptor_side.frames[0], prepare_frame(1));
    EXPECT_EQ(link.acceptor_side.frames[1], large);
    EXPECT_EQ(link.dialer_side.frames[0], prepare_frame(2));
    EXPECT_EQ(link.acceptor_counters.hello_unauthentic + link.acceptor_counters.hello_rejected +
                  link.acceptor_counters.handshake_failures,
              0u);
  }
}

// The largest group there is: its hello (64 KiB of signatures) is larger
// than a connection's read buffer, which grows for it and must not shrink
// back before it is whole (it did, in cleartext: groups of more than 511
// members never came up).
TEST_P(RuntimeLinks, TheLargestClientGroupComesUp) {
  auto keys = testing::make_test_keys(GetParam(), constants::client_group_max);
  asio::io_context io;
  const Hello group{Hello::Kind::client, 0, static_cast<uint16_t>(constants::client_group_max)};
  Link link(io, security_for(*keys, group), 0, security_for(*keys, Hello{Hello::Kind::replica, 0}));
  ASSERT_TRUE(run_until(io, [&] {
    return link.dialer->established() && link.acceptor->established();
  })) << (link.acceptor_side.closed.empty() ? "" : link.acceptor_side.closed[0]);
  ASSERT_EQ(link.acceptor_side.hellos.size(), 1u);
  EXPECT_EQ(link.acceptor_side.hellos[0].count, constants::client_group_max);
}

// The acceptor holds replica 0's place but not its key (the dialer's file
// lists another): the dialer refuses it.
TEST_P(RuntimeLinks, ADialerRefusesAnAcceptorWithoutThePinnedKey) {
  auto keys = testing::make_test_keys(GetParam());
  auto impostor_keys = testing::make_test_keys(GetParam());  // other keys, same ids
  asio::io_context io;
  Link link(io, security_for(*keys, Hello{Hello::Kind::replica, 2}), 0,
            security_for(*impostor_keys, Hello{Hello::Kind::replica, 0}));
  ASSERT_TRUE(run_until(io, [&] { return !link.dialer_side.closed.empty(); }));
  EXPECT_TRUE(link.dialer_side.hellos.empty());
  // With TLS the dialer sees the certificate first; in cleartext the
  // acceptor, whose file lists another key for replica 2, refuses first.
  EXPECT_GE(link.dialer_counters.hello_unauthentic + link.acceptor_counters.hello_unauthentic, 1u)
      << link.dialer_side.closed[0];
  EXPECT_TRUE(link.acceptor_side.hellos.empty());
}

// The acceptor is replica 0, the dialer meant replica 1: with TLS the
// dialer refuses the certificate; in cleartext the acceptor refuses the
// hello first (it was signed for a link to replica 1: the binding names the
// replica dialed). Neither takes the other.
TEST_P(RuntimeLinks, ADialerRefusesAnotherReplicaThanTheOneItDialed) {
  auto keys = testing::make_test_keys(GetParam());
  asio::io_context io;
  Link link(io, security_for(*keys, Hello{Hello::Kind::replica, 2}), 1,
            security_for(*keys, Hello{Hello::Kind::replica, 0}));
  ASSERT_TRUE(run_until(io, [&] { return !link.dialer_side.closed.empty(); }));
  EXPECT_TRUE(link.dialer_side.hellos.empty());
  EXPECT_TRUE(link.acceptor_side.hellos.empty());
  EXPECT_EQ(link.dialer_counters.hello_unauthentic + link.acceptor_counters.hello_unauthentic, 1u)
      << link.dialer_side.closed[0];
}

// A dialer that claims an id whose key it does not hold: its hello (and,
// with TLS, its certificate) names client 3 but carries client 4's key.
TEST_P(RuntimeLinks, AnAcceptorRefusesAWrongIdAndTheAddressMisbehaved) {
  auto keys = testing::make_test_keys(GetParam());
  asio::io_context io;
  auto liar = std::make_shared<LinkSecurity>(*security_for(*keys, Hello{Hello::Kind::client, 4}));
  liar->self = Hello{Hello::Kind::client, 3};
  Link link(io, liar, 0, security_for(*keys, Hello{Hello::Kind::replica, 0}));
  ASSERT_TRUE(run_until(io, [&] { return !link.acceptor_side.closed.empty(); }));
  EXPECT_TRUE(link.acceptor_side.hellos.empty());
  EXPECT_TRUE(link.acceptor->misbehaved);
  EXPECT_EQ(link.acceptor_counters.hello_unauthentic, 1u) << link.acceptor_side.closed[0];
}

// An end running the other encryption is refused (its bytes make no sense).
TEST(RuntimeLinksModes, EncryptionMismatchIsRefused) {
  auto tls_keys = testing::make_test_keys(Encryption::tls);
  auto none_view = std::make_unique<testing::TestKeys>(*tls_keys);
  none_view->cluster.encryption = static_cast<uint32_t>(Encryption::none);
  asio::io_context io;
  Link link(io, security_for(*none_view, Hello{Hello::Kind::replica, 2}), 0,
            security_for(*tls_keys, Hello{Hello::Kind::replica, 0}));
  ASSERT_TRUE(run_until(io, [&] { return !link.acceptor_side.closed.empty(); }));
  EXPECT_TRUE(link.acceptor_side.hellos.empty());
  EXPECT_TRUE(link.dialer_side.hellos.empty());
  EXPECT_EQ(link.acceptor_counters.handshake_failures + link.acceptor_counters.hello_rejected, 1u)
      << link.acceptor_side.closed[0];
}

INSTANTIATE_TEST_SUITE_P(Encryption, RuntimeLinks,
                         ::testing::Values(Encryption::tls, Encryption::none),
                         [](const ::testing::TestParamInfo<Encryption>& param) {
                           return std::string(param.param == Encryption::tls ? "Tls" : "None");
                         });

// A faulty replica M between a correct dialer A and a correct replica R,
// with cleartext links: A dials M, M dials R and hands each side the
// other's nonce, so that both compute the binding over the same nonces; A's
// hello, signed for its link to M, must still fail at R, since the binding
// names the replica dialed.
TEST(RuntimeLinksReplay, AHelloSignedForALinkToAnotherReplicaIsRefused) {
  auto keys = testing::make_test_keys(Encryption::none);
  auto replica_r = security_for(*keys, Hello{Hello::Kind::replica, 0});
  asio::io_context io;
  RecordingOwner owner;
  RuntimeCounters counters;
  SocketPair pair(io);
  auto c = std::make_shared<Connection>(std::move(pair.server), owner, counters,
                                        QueueLimits{8, 1 << 20}, replica_r, std::nullopt,
                                        milliseconds(5000), "R");
  c->start();
  // Replica 2's hello as it signed it for its link to replica 3 (M), over
  // the nonces M relays: exactly what M can hand on.
  ASSERT_TRUE(testing::raw_handshake(io, pair.client, *keys, Hello{Hello::Kind::replica, 2}, {},
                                     /*dialed=*/3));
  ASSERT_TRUE(run_until(io, [&] { return !c->is_open(); }));
  EXPECT_TRUE(owner.hellos.empty());
  EXPECT_EQ(counters.hello_unauthentic, 1u);
  // The same, signed for a link to R itself, is taken.
  SocketPair direct(io);
  auto d = std::make_shared<Connection>(std::move(direct.server), owner, counters,
                                        QueueLimits{8, 1 << 20}, replica_r, std::nullopt,
                                        milliseconds(5000), "R");
  d->start();
  ASSERT_TRUE(testing::raw_handshake(io, direct.client, *keys, Hello{Hello::Kind::replica, 2}));
  ASSERT_TRUE(run_until(io, [&] { return owner.hellos.size() == 1; }));
  d->close("done");
}

// The hello of one connection, replayed on another: its signatures cover
// the first connection's binding (both nonces), so the acceptor refuses it.
// (Cleartext, where a replay is possible at all; with TLS the binding also
// covers the session's exporter.)
TEST(RuntimeLinksReplay, AHelloReplayedFromAnotherConnectionIsRefused) {
  auto keys = testing::make_test_keys(Encryption::none);
  auto acceptor = security_for(*keys, Hello{Hello::Kind::replica, 0});
  const Hello client{Hello::Kind::client, 5};
  asio::io_context io;
  RecordingOwner owner;
  RuntimeCounters counters;
  // A first connection, where the hello is recorded on its way.
  SocketPair first(io);
  auto c1 = std::make_shared<Connection>(std::move(first.server), owner, counters,
                                         QueueLimits{8, 1 << 20}, acceptor, std::nullopt,
                                         milliseconds(5000), "first");
  c1->start();
  const Nonce nonce1 = fresh_nonce();
  asio::write(first.client, asio::buffer(encode_greeting(Greeting{Encryption::none, nonce1})));
  ASSERT_TRUE(run_until(io, [&] { return first.client.available() >= greeting_size; }));
  Bytes theirs(greeting_size);
  asio::read(first.client, asio::buffer(theirs));
  const Bytes binding1 = link_binding(Encryption::none, {}, 0, nonce1, decode_greeting(theirs)->nonce);
  const Bytes recorded =
      encode_hello(sign_hello(client, LinkRole::dialer, binding1, keys->keys_of(client)));
  asio::write(first.client, asio::buffer(recorded));
  ASSERT_TRUE(run_until(io, [&] { return owner.hellos.size() == 1; }));
  // A second connection: the same nonce, the same hello bytes.
  SocketPair second(io);
  auto c2 = std::make_shared<Connection>(std::move(second.server), owner, counters,
                                         QueueLimits{8, 1 << 20}, acceptor, std::nullopt,
                                         milliseconds(5000), "second");
  c2->start();
  asio::write(second.client, asio::buffer(encode_greeting(Greeting{Encryption::none, nonce1})));
  asio::write(second.client, asio::buffer(recorded));
  ASSERT_TRUE(run_until(io, [&] { return !c2->is_open(); }));
  EXPECT_EQ(owner.hellos.size(), 1u);
  EXPECT_EQ(counters.hello_unauthentic, 1u);
  EXPECT_TRUE(c2->misbehaved);
  EXPECT_TRUE(c1->is_open());
}

// A group's hello proves every member: one signature made with another
// key (client 6's in client 5's place) refuses the whole group.
TEST(RuntimeLinksGroups, AGroupWithOneBadSignatureIsRefused) {
  auto keys = testing::make_test_keys(Encryption::none);
  auto acceptor = security_for(*keys, Hello{Hello::Kind::replica, 0});
  const Hello group{Hello::Kind::client, 3, 4};  // clients 3..6
  std::vector<SecretKey> signing = keys->keys_of(group);
  signing[2] = keys->clients.at(6);  // client 5's signature made with client 6's key
  asio::io_context io;
  SocketPair pair(io);
  RecordingOwner owner;
  RuntimeCounters counters;
  auto c = std::make_shared<Connection>(std::move(pair.server), owner, counters,
                                        QueueLimits{8, 1 << 20}, acceptor, std::nullopt,
                                        milliseconds(5000), "t");
  c->start();
  ASSERT_TRUE(raw_handshake(io, pair.client, *keys, group, signing));
  ASSERT_TRUE(run_until(io, [&] { return !c->is_open(); }));
  EXPECT_TRUE(owner.hellos.empty());
  EXPECT_EQ(counters.hello_unauthentic, 1u);
  ASSERT_EQ(owner.closed.size(), 1u);
  EXPECT_NE(owner.closed[0].find("client 5"), std::string::npos) << owner.closed[0];
}

// Junk instead of a TLS ClientHello fails the handshake: counted, and the
// connection misbehaved (its address backs off at the replica).
TEST(RuntimeLinksJunk, JunkInsteadOfAHandshakeIsRefused) {
  auto keys = testing::make_test_keys(Encryption::tls);
  asio::io_context io;
  SocketPair pair(io);
  RecordingOwner owner;
  RuntimeCounters counters;
  auto c = std::make_shared<Connection>(
      std::move(pair.server), owner, counters, QueueLimits{8, 1 << 20},
      security_for(*keys, Hello{Hello::Kind::replica, 0}), std::nullopt, milliseconds(5000), "t");
  c->start();
  asio::write(pair.client, asio::buffer(Bytes(600, 0x16)));
  ASSERT_TRUE(run_until(io, [&] { return !c->is_open(); }));
  EXPECT_EQ(counters.handshake_failures, 1u);
  EXPECT_TRUE(c->misbehaved);
}

}  // namespace
}  // namespace pbft::runtime
