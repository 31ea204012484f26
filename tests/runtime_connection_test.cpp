// The runtime's framing over a real loopback socket: the hello, frames
// split across reads, the frame size limit, the hello deadline and the
// bounded send queue. Each test runs its own io_context to completion.
#include <gtest/gtest.h>

#include "pbft/constants.h"
#include "pbft/wire.h"
#include "src/runtime/connection.h"
#include "tests/runtime_sockets.h"

namespace pbft::runtime {
namespace {

using std::chrono::milliseconds;
using testing::prepare_frame;
using testing::raw_handshake;
using testing::run_until;
using testing::SocketPair;

using testing::RecordingOwner;

TEST(RuntimeHello, GreetingRoundTripsAndRejectsEveryBadField) {
  const Nonce nonce = fresh_nonce();
  const Bytes good = encode_greeting(Greeting{Encryption::tls, nonce});
  ASSERT_EQ(good.size(), greeting_size);
  Result<Greeting> g = decode_greeting(good);
  ASSERT_TRUE(g.is_ok()) << g.reason();
  EXPECT_EQ(g->encryption, Encryption::tls);
  EXPECT_EQ(g->nonce, nonce);
  for (size_t at : {0u, 4u, 5u, 6u, 7u}) {
    Bytes bad = good;
    bad[at] ^= 0x7f;
    EXPECT_FALSE(decode_greeting(bad).is_ok()) << "byte " << at;
  }
  EXPECT_FALSE(decode_greeting(ByteView(good.data(), greeting_size - 1)).is_ok());
}

TEST(RuntimeHello, SignedHellosRoundTripAndGroupsCarryTheirIds) {
  auto keys = testing::make_test_keys();
  const Hello group{Hello::Kind::client, 2, 3};
  const Bytes binding(32, 7);
  const SignedHello signed_hello =
      sign_hello(group, LinkRole::dialer, binding, keys->keys_of(group));
  Result<SignedHello> back = decode_hello(encode_hello(signed_hello));
  ASSERT_TRUE(back.is_ok()) << back.reason();
  EXPECT_EQ(back->hello.id, 2u);
  EXPECT_EQ(back->hello.count, 3);
  EXPECT_TRUE(back->hello.carries(4));
  EXPECT_FALSE(back->hello.carries(5));
  EXPECT_TRUE(verify_hello(*back, LinkRole::dialer, binding, keys->cluster).is_ok());
  // Not as the other role, nor over another binding.
  EXPECT_FALSE(verify_hello(*back, LinkRole::acceptor, binding, keys->cluster).is_ok());
  EXPECT_FALSE(verify_hello(*back, LinkRole::dialer, Bytes(32, 8), keys->cluster).is_ok());
}

TEST(RuntimeHello, RejectsOversizedGroupsReplicaGroupsAndEmptyOnes) {
  auto header = [](Hello h) {
    Bytes b = encode_hello(SignedHello{h, {}});
    return decode_hello_header(ByteView(b.data(), hello_header_size));
  };
  EXPECT_FALSE(header(Hello{Hello::Kind::client, 0,
                            static_cast<uint16_t>(constants::client_group_max + 1)})
                   .is_ok());
  EXPECT_FALSE(header(Hello{Hello::Kind::replica, 1, 2}).is_ok());
  EXPECT_FALSE(header(Hello{Hello::Kind::client, 1, 0}).is_ok());
  EXPECT_TRUE(header(Hello{Hello::Kind::client, 1, 5}).is_ok());
}

TEST(RuntimeConnection, DeliversFramesSplitIntoSingleBytesInOrder) {
  asio::io_context io;
  SocketPair pair(io);
  auto keys = testing::make_test_keys();
  auto acceptor = testing::security_for(*keys, Hello{Hello::Kind::replica, 0});
  RecordingOwner owner;
  RuntimeCounters counters;
  auto c = std::make_shared<Connection>(std::move(pair.server), owner, counters,
                                        QueueLimits{8, 1 << 20}, acceptor, std::nullopt,
                                        milliseconds(5000), "t");
  c->start();
  ASSERT_TRUE(raw_handshake(io, pair.client, *keys, Hello{Hello::Kind::replica, 1}));
  Bytes stream;
  for (Seq s = 1; s <= 3; s++) {
    const Bytes f = prepare_frame(s);
    stream.insert(stream.end(), f.begin(), f.end());
  }
  for (uint8_t byte : stream) asio::write(pair.client, asio::buffer(&byte, 1));
  pair.client.close();
  io.run_for(std::chrono::seconds(5));
  ASSERT_EQ(owner.hellos.size(), 1u);
  EXPECT_EQ(owner.hellos[0].id, 1u);
  ASSERT_EQ(owner.frames.size(), 3u);
  for (Seq s = 1; s <= 3; s++) EXPECT_EQ(owner.frames[s - 1], prepare_frame(s));
  EXPECT_EQ(counters.frames_received, 3u);
  ASSERT_EQ(owner.closed.size(), 1u);  // the client closed
}

TEST(RuntimeConnection, ClosesOnAFrameOverTheLimitWithoutReadingIt) {
  asio::io_context io;
  SocketPair pair(io);
  auto keys = testing::make_test_keys();
  auto acceptor = testing::security_for(*keys, Hello{Hello::Kind::replica, 0});
  RecordingOwner owner;
  RuntimeCounters counters;
  auto c = std::make_shared<Connection>(std::move(pair.server), owner, counters,
                                        QueueLimits{8, 1 << 20}, acceptor, std::nullopt,
                                        milliseconds(5000), "t");
  c->start();
  ASSERT_TRUE(raw_handshake(io, pair.client, *keys, Hello{Hello::Kind::replica, 1}));
  Bytes stream;
  Bytes header = prepare_frame(1);
  header.resize(constants::header_size);
  const uint32_t too_big = static_cast<uint32_t>(constants::frame_size_max);  // + header > max
  for (int i = 0; i < 4; i++) header[12 + i] = static_cast<uint8_t>(too_big >> (8 * i));
  stream.insert(stream.end(), header.begin(), header.end());
  asio::write(pair.client, asio::buffer(stream));
  io.run_for(std::chrono::seconds(5));
  EXPECT_EQ(counters.frames_oversized, 1u);
  EXPECT_EQ(owner.reserved, 0u);  // nothing was allocated for it
  EXPECT_TRUE(owner.frames.empty());
  ASSERT_EQ(owner.closed.size(), 1u);
  EXPECT_FALSE(c->is_open());
}

TEST(RuntimeConnection, ClosesOnABadHeader) {
  asio::io_context io;
  SocketPair pair(io);
  auto keys = testing::make_test_keys();
  auto acceptor = testing::security_for(*keys, Hello{Hello::Kind::replica, 0});
  RecordingOwner owner;
  RuntimeCounters counters;
  auto c = std::make_shared<Connection>(std::move(pair.server), owner, counters,
                                        QueueLimits{8, 1 << 20}, acceptor, std::nullopt,
                                        milliseconds(5000), "t");
  c->start();
  ASSERT_TRUE(raw_handshake(io, pair.client, *keys, Hello{Hello::Kind::replica, 1}));
  Bytes frame = prepare_frame(1);
  frame[4] = 99;  // version
  asio::write(pair.client, asio::buffer(frame));
  io.run_for(std::chrono::seconds(5));
  EXPECT_EQ(counters.frames_bad_header, 1u);
  EXPECT_TRUE(owner.frames.empty());
  EXPECT_EQ(owner.closed.size(), 1u);
}

TEST(RuntimeConnection, ClosesAConnectionThatSendsNoHelloInTime) {
  asio::io_context io;
  SocketPair pair(io);
  auto keys = testing::make_test_keys();
  auto acceptor = testing::security_for(*keys, Hello{Hello::Kind::replica, 0});
  RecordingOwner owner;
  RuntimeCounters counters;
  auto c = std::make_shared<Connection>(std::move(pair.server), owner, counters,
                                        QueueLimits{8, 1 << 20}, acceptor, std::nullopt,
                                        milliseconds(50), "t");
  c->start();
  io.run_for(std::chrono::seconds(5));
  EXPECT_EQ(counters.hello_timeouts, 1u);
  ASSERT_EQ(owner.closed.size(), 1u);
  EXPECT_NE(owner.closed[0].find("no authenticated hello"), std::string::npos);
}

TEST(RuntimeConnection, ClosesWhenAFrameStopsHalfway) {
  asio::io_context io;
  SocketPair pair(io);
  auto keys = testing::make_test_keys();
  auto acceptor = testing::security_for(*keys, Hello{Hello::Kind::replica, 0});
  RecordingOwner owner;
  RuntimeCounters counters;
  auto c = std::make_shared<Connection>(std::move(pair.server), owner, counters,
                                        QueueLimits{8, 1 << 20}, acceptor, std::nullopt,
                                        milliseconds(5000), "t");
  c->set_frame_deadline(milliseconds(50), 0);
  c->start();
  ASSERT_TRUE(raw_handshake(io, pair.client, *keys, Hello{Hello::Kind::replica, 1}));
  const Bytes frame = prepare_frame(1);
  asio::write(pair.client, asio::buffer(frame.data(), frame.size() - 10));
  io.run_for(std::chrono::seconds(5));
  EXPECT_EQ(counters.frame_timeouts, 1u);
  EXPECT_TRUE(owner.frames.empty());
  EXPECT_EQ(c->read_reservation(), frame.size());  // the owner releases it on close
  ASSERT_EQ(owner.closed.size(), 1u);
}

TEST(RuntimeConnection, SendQueueDropsAndCountsWhenFull) {
  asio::io_context io;
  SocketPair pair(io);
  auto keys = testing::make_test_keys();
  auto acceptor = testing::security_for(*keys, Hello{Hello::Kind::replica, 0});
  RecordingOwner owner;
  RuntimeCounters counters;
  auto c = std::make_shared<Connection>(std::move(pair.server), owner, counters,
                                        QueueLimits{2, 1 << 20}, acceptor, std::nullopt,
                                        milliseconds(5000), "t");
  c->start();
  EXPECT_EQ(c->send(std::make_shared<const Bytes>(prepare_frame(1))), SendResult::closed)
      << "nothing but the link's own messages before the hellos";
  ASSERT_TRUE(raw_handshake(io, pair.client, *keys, Hello{Hello::Kind::replica, 1}));
  ASSERT_TRUE(run_until(io, [&] { return owner.hellos.size() == 1; }));
  io.run_for(milliseconds(50));  // the acceptor's hello leaves
  const uint64_t sent_before = counters.frames_sent;
  auto frame = std::make_shared<const Bytes>(prepare_frame(1));
  // Nothing is written until the loop runs: the third frame finds the queue full.
  EXPECT_EQ(c->send(frame), SendResult::queued);
  EXPECT_EQ(c->send(frame), SendResult::queued);
  EXPECT_EQ(c->send(frame), SendResult::queue_full);
  EXPECT_EQ(counters.send_dropped_queue_full, 1u);
  // Bytes are bounded too, but one frame always fits an empty queue.
  auto big = std::make_shared<const Bytes>(Bytes(2 << 20, 0));
  io.run_for(milliseconds(200));
  EXPECT_EQ(counters.frames_sent - sent_before, 2u);
  EXPECT_EQ(c->send(big), SendResult::queued);
  EXPECT_EQ(c->send(frame), SendResult::queue_full);
  c->close("done");
  EXPECT_EQ(c->send(frame), SendResult::closed);
  io.run_for(milliseconds(100));
}

// Many frames in one write arrive in one read and are all delivered, in
// order; a frame larger than the read buffer between them too.
TEST(RuntimeConnection, DeliversManyFramesFromOneWriteAndAFrameLargerThanTheBuffer) {
  asio::io_context io;
  SocketPair pair(io);
  auto keys = testing::make_test_keys();
  auto acceptor = testing::security_for(*keys, Hello{Hello::Kind::replica, 0});
  RecordingOwner owner;
  RuntimeCounters counters;
  auto c = std::make_shared<Connection>(std::move(pair.server), owner, counters,
                                        QueueLimits{8, 1 << 20}, acceptor, std::nullopt,
                                        milliseconds(5000), "t");
  c->start();
  ASSERT_TRUE(raw_handshake(io, pair.client, *keys, Hello{Hello::Kind::client, 7}));
  Bytes stream;
  std::vector<Bytes> sent;
  for (Seq s = 1; s <= 200; s++) sent.push_back(prepare_frame(s));
  Request big;
  big.client = 7;
  big.timestamp = 1;
  big.operation = Bytes(40 * 1024, 0x5a);  // over the 32 KiB read buffer
  sent.insert(sent.begin() + 100, wire::encode(Message(big)));
  for (const Bytes& f : sent) stream.insert(stream.end(), f.begin(), f.end());
  asio::write(pair.client, asio::buffer(stream));
  pair.client.close();
  io.run_for(std::chrono::seconds(5));
  ASSERT_EQ(owner.frames.size(), sent.size());
  for (size_t i = 0; i < sent.size(); i++) EXPECT_EQ(owner.frames[i], sent[i]) << i;
}

// A client group's send queue grows with the members that sent an authentic
// request, not with the size of the group.
TEST(RuntimeConnection, GroupQueueGrowsWithAuthenticMembersOnly) {
  asio::io_context io;
  SocketPair pair(io);
  auto keys = testing::make_test_keys(Encryption::none, 150);
  auto acceptor = testing::security_for(*keys, Hello{Hello::Kind::replica, 0});
  RecordingOwner owner;
  RuntimeCounters counters;
  auto c = std::make_shared<Connection>(std::move(pair.server), owner, counters,
                                        QueueLimits{constants::client_send_queue_frames_max,
                                                    constants::client_send_queue_bytes_max},
                                        acceptor, std::nullopt, milliseconds(5000), "t");
  c->start();
  ASSERT_TRUE(raw_handshake(io, pair.client, *keys, Hello{Hello::Kind::client, 100, 50}));
  ASSERT_TRUE(run_until(io, [&] { return owner.hellos.size() == 1; }));
  io.run_for(milliseconds(50));  // the acceptor's hello leaves
  EXPECT_EQ(c->hello->count, 50);
  // Nothing runs the io_context: nothing leaves the queue.
  auto fill = [&] {
    size_t queued = 0;
    while (c->send(std::make_shared<const Bytes>(prepare_frame(1))) == SendResult::queued) {
      queued++;
    }
    return queued;
  };
  EXPECT_EQ(fill(), constants::client_send_queue_frames_max) << "50 ids grow nothing yet";
  c->note_authentic_client(100);
  c->note_authentic_client(100);  // the same member twice counts once
  c->note_authentic_client(149);
  c->note_authentic_client(150);  // outside the group
  EXPECT_EQ(fill(), 2 * constants::client_group_frames_per_client);
}

}  // namespace
}  // namespace pbft::runtime
