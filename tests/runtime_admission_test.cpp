// Admission (src/runtime/admission.h) over real loopback sockets: the
// per-address and per-principal shares, the back-off of an address whose
// connection misbehaved (and its end), the deadline of the handshake and
// hello, and the deadline of a frame's body by its size.
#include <gtest/gtest.h>

#include <thread>

#include "pbft/wire.h"
#include "src/runtime/admission.h"
#include "tests/runtime_sockets.h"

namespace pbft::runtime {
namespace {

using std::chrono::milliseconds;
using testing::prepare_frame;
using testing::raw_handshake;
using testing::run_until;

// A listener whose accepted sockets go to an Admission, which reports to
// this owner; frames are recorded.
class Listener : public ConnectionOwner {
 public:
  explicit Listener(ReplicaHostOptions options)
      : keys_(testing::make_test_keys()),
        options_(with_cluster(std::move(options), keys_->cluster)),
        admission_(options_, counters),
        acceptor_(io, {asio::ip::address_v4::loopback(), 0}) {
    admission_.set_security(testing::security_for(*keys_, Hello{Hello::Kind::replica, 0}));
  }

  // A client socket connected to the listener (from `source` if given), and
  // admitted.
  asio::ip::tcp::socket connect(const char* source = nullptr) {
    asio::ip::tcp::socket client(io);
    if (source != nullptr) {
      client.open(asio::ip::tcp::v4());
      client.bind({asio::ip::make_address(source), 0});
    }
    client.connect(acceptor_.local_endpoint());
    asio::ip::tcp::socket server(io);
    acceptor_.accept(server);
    admission_.admit(std::move(server), *this);
    return client;
  }

  void on_hello(Connection& c, const Hello& hello) override {
    if (admission_.on_hello(c, hello)) hellos++;
  }
  bool reserve(Connection&, size_t) override { return true; }
  void on_frame(Connection&, Bytes frame) override { frames.push_back(std::move(frame)); }
  void on_closed(Connection& c, const std::string& reason) override {
    closed.push_back(reason);
    admission_.on_closed(c, reason);
  }

  const testing::TestKeys& keys() const { return *keys_; }
  Admission& admission() { return admission_; }

  asio::io_context io;
  RuntimeCounters counters;
  size_t hellos = 0;
  std::vector<Bytes> frames;
  std::vector<std::string> closed;

 private:
  static ReplicaHostOptions with_cluster(ReplicaHostOptions o, const ClusterConfig& cluster) {
    o.cluster = cluster;
    return o;
  }
  std::unique_ptr<testing::TestKeys> keys_;
  ReplicaHostOptions options_;
  Admission admission_;
  asio::ip::tcp::acceptor acceptor_;
};

// A socket the other end closed reads end of file (or a reset).
bool closed_by_peer(asio::ip::tcp::socket& s) {
  uint8_t byte = 0;
  std::error_code ec;
  s.read_some(asio::buffer(&byte, 1), ec);
  return ec == asio::error::eof || ec == asio::error::connection_reset;
}

TEST(RuntimeAdmission, OneAddressHoldsAtMostItsShare) {
  ReplicaHostOptions options;
  options.max_connections_per_address = 2;
  Listener l(options);
  auto a = l.connect();
  auto b = l.connect();
  auto c = l.connect();
  EXPECT_EQ(l.counters.connections_refused_address_cap, 1u);
  EXPECT_EQ(l.admission().connections(), 2u);
  EXPECT_TRUE(closed_by_peer(c));
  // Another address has its own share.
  auto d = l.connect("127.0.0.2");
  EXPECT_EQ(l.admission().connections(), 3u);
  EXPECT_EQ(l.counters.connections_refused_address_cap, 1u);
}

TEST(RuntimeAdmission, APrincipalKeepsItsNewestConnections) {
  ReplicaHostOptions options;
  options.max_connections_per_principal = 2;
  Listener l(options);
  const Hello client1{Hello::Kind::client, 1};
  std::vector<asio::ip::tcp::socket> sockets;
  for (int i = 0; i < 3; i++) {
    sockets.push_back(l.connect());
    ASSERT_TRUE(raw_handshake(l.io, sockets.back(), l.keys(), client1));
    ASSERT_TRUE(run_until(l.io, [&] { return l.hellos == static_cast<size_t>(i + 1); }));
  }
  ASSERT_TRUE(run_until(l.io, [&] { return l.closed.size() == 1; }));
  EXPECT_EQ(l.counters.connections_closed_principal_cap, 1u);
  EXPECT_EQ(l.admission().connections(), 2u);
  EXPECT_NE(l.closed[0].find("newer connections"), std::string::npos) << l.closed[0];
  // A group counts for each of its ids: clients 0..1 push client 1 over again.
  sockets.push_back(l.connect());
  ASSERT_TRUE(raw_handshake(l.io, sockets.back(), l.keys(), Hello{Hello::Kind::client, 0, 2}));
  ASSERT_TRUE(run_until(l.io, [&] { return l.closed.size() == 2; }));
  EXPECT_EQ(l.counters.connections_closed_principal_cap, 2u);
}

TEST(RuntimeAdmission, AMisbehavingAddressBacksOffUntilItsTimeIsUp) {
  ReplicaHostOptions options;
  options.backoff_ms = 300;
  Listener l(options);
  // A hello signed with another client's key: refused, misbehaved.
  auto liar = l.connect("127.0.0.3");
  ASSERT_TRUE(raw_handshake(l.io, liar, l.keys(), Hello{Hello::Kind::client, 1},
                            {l.keys().clients.at(2)}));
  ASSERT_TRUE(run_until(l.io, [&] { return l.closed.size() == 1; }));
  EXPECT_EQ(l.counters.hello_unauthentic, 1u);
  EXPECT_EQ(l.counters.addresses_backed_off, 1u);
  // Its next connection is refused at once; other addresses are not.
  auto again = l.connect("127.0.0.3");
  EXPECT_EQ(l.counters.connections_refused_backoff, 1u);
  EXPECT_TRUE(closed_by_peer(again));
  auto other = l.connect("127.0.0.4");
  EXPECT_EQ(l.counters.connections_refused_backoff, 1u);
  EXPECT_EQ(l.admission().connections(), 1u);
  // Once its time is up it is admitted again.
  std::this_thread::sleep_for(milliseconds(350));
  auto later = l.connect("127.0.0.3");
  EXPECT_EQ(l.counters.connections_refused_backoff, 1u);
  EXPECT_EQ(l.admission().connections(), 2u);
}

// A frame that fails its rules at the connection (a bad header) misbehaves
// too: the address backs off.
// A bad frame after the hello shows the link's principal faulty: that
// principal backs off, from any address, and its address, which correct
// principals may share (one machine, a NAT), does not.
TEST(RuntimeAdmission, ABadFrameBacksThePrincipalOffNotItsAddress) {
  ReplicaHostOptions options;
  Listener l(options);
  auto s = l.connect("127.0.0.5");
  ASSERT_TRUE(raw_handshake(l.io, s, l.keys(), Hello{Hello::Kind::replica, 1}));
  Bytes frame = prepare_frame(1);
  frame[0] ^= 0xff;  // magic
  asio::write(s, asio::buffer(frame));
  ASSERT_TRUE(run_until(l.io, [&] { return l.closed.size() == 1; }));
  EXPECT_EQ(l.counters.frames_bad_header, 1u);
  EXPECT_EQ(l.counters.addresses_backed_off, 1u);

  // Another principal at the same address is served.
  auto other = l.connect("127.0.0.5");
  EXPECT_EQ(l.counters.connections_refused_backoff, 0u);
  ASSERT_TRUE(raw_handshake(l.io, other, l.keys(), Hello{Hello::Kind::replica, 2}));
  ASSERT_TRUE(run_until(l.io, [&] { return l.hellos == 2; }));

  // The faulty one is refused, from another address too.
  auto again = l.connect("127.0.0.6");
  ASSERT_TRUE(raw_handshake(l.io, again, l.keys(), Hello{Hello::Kind::replica, 1}));
  ASSERT_TRUE(run_until(l.io, [&] { return l.closed.size() == 2; }));
  EXPECT_EQ(l.counters.connections_refused_backoff, 1u);
  EXPECT_EQ(l.hellos, 2u);
}

// Before the hello, it is the address that backs off.
TEST(RuntimeAdmission, AFailedHelloBacksTheAddressOff) {
  ReplicaHostOptions options;
  Listener l(options);
  auto s = l.connect("127.0.0.7");
  // Replica 1's hello signed with replica 2's key.
  ASSERT_TRUE(raw_handshake(l.io, s, l.keys(), Hello{Hello::Kind::replica, 1},
                            l.keys().keys_of(Hello{Hello::Kind::replica, 2})));
  ASSERT_TRUE(run_until(l.io, [&] { return l.closed.size() == 1; }));
  EXPECT_EQ(l.counters.addresses_backed_off, 1u);
  auto again = l.connect("127.0.0.7");
  EXPECT_EQ(l.counters.connections_refused_backoff, 1u);
  auto elsewhere = l.connect("127.0.0.8");
  EXPECT_EQ(l.counters.connections_refused_backoff, 1u);
}

TEST(RuntimeAdmissionBackoff, DoublesWhileRememberedAndForgetsTheOldest) {
  using Clock = AddressBackoff::Clock;
  AddressBackoff b(milliseconds(1000), milliseconds(4000), 2);
  const Clock::time_point t0 = Clock::now();
  EXPECT_EQ(b.fail("a", t0), milliseconds(1000));
  EXPECT_TRUE(b.refuses("a", t0 + milliseconds(999)));
  EXPECT_FALSE(b.refuses("a", t0 + milliseconds(1000)));
  EXPECT_EQ(b.fail("a", t0 + milliseconds(1500)), milliseconds(2000));
  EXPECT_EQ(b.fail("a", t0 + milliseconds(1600)), milliseconds(4000));
  EXPECT_EQ(b.fail("a", t0 + milliseconds(1700)), milliseconds(4000)) << "capped";
  // Quiet for a back-off after its end: forgotten, the next starts over.
  EXPECT_FALSE(b.refuses("a", t0 + milliseconds(1700 + 8000)));
  EXPECT_EQ(b.size(), 0u);
  EXPECT_EQ(b.fail("a", t0 + milliseconds(10000)), milliseconds(1000));
  // Bounded: a third address forgets the one whose back-off ends first.
  b.fail("b", t0 + milliseconds(10100));
  b.fail("c", t0 + milliseconds(10200));
  EXPECT_EQ(b.size(), 2u);
  EXPECT_FALSE(b.refuses("a", t0 + milliseconds(10300)));
  EXPECT_TRUE(b.refuses("b", t0 + milliseconds(10300)));
  EXPECT_TRUE(b.refuses("c", t0 + milliseconds(10300)));
  // 0: no back-off at all.
  AddressBackoff off(milliseconds(0), milliseconds(0));
  EXPECT_EQ(off.fail("a", t0), milliseconds(0));
  EXPECT_FALSE(off.refuses("a", t0));
}

TEST(RuntimeAdmission, TheHandshakeAndHelloHaveADeadline) {
  ReplicaHostOptions options;
  options.hello_timeout_ms = 100;
  Listener l(options);
  auto silent = l.connect();
  // Half a greeting, then nothing (slow-loris on the hello).
  auto trickle = l.connect();
  asio::write(trickle, asio::buffer(encode_greeting(Greeting{Encryption::none, fresh_nonce()}).data(),
                                    10));
  ASSERT_TRUE(run_until(l.io, [&] { return l.closed.size() == 2; }));
  EXPECT_EQ(l.counters.hello_timeouts, 2u);
  EXPECT_EQ(l.admission().connections(), 0u);
  EXPECT_EQ(l.counters.addresses_backed_off, 0u) << "slowness is not a forgery";
}

// A frame's body must come within the base deadline plus its size at the
// configured rate: a frame trickled slower is cut off; one that keeps the
// pace gets the time its size needs.
TEST(RuntimeAdmission, AFrameMustArriveWithinItsSizesDeadline) {
  ReplicaHostOptions options;
  options.frame_timeout_ms = 100;
  options.frame_bytes_per_second = 1000;  // 1 ms per byte
  Listener l(options);
  Request request;
  request.client = 1;
  request.operation = Bytes(400, 1);
  const Bytes frame = wire::encode(Message(request));  // ~500 bytes: 100 + ~500 ms
  // In two halves 300 ms apart: within its deadline.
  auto paced = l.connect();
  ASSERT_TRUE(raw_handshake(l.io, paced, l.keys(), Hello{Hello::Kind::client, 1}));
  ASSERT_TRUE(run_until(l.io, [&] { return l.hellos == 1; }));
  asio::write(paced, asio::buffer(frame.data(), frame.size() / 2));
  const auto until = std::chrono::steady_clock::now() + milliseconds(300);
  run_until(l.io, [&] { return std::chrono::steady_clock::now() >= until; });
  asio::write(paced, asio::buffer(frame.data() + frame.size() / 2, frame.size() - frame.size() / 2));
  ASSERT_TRUE(run_until(l.io, [&] { return l.frames.size() == 1; }));
  EXPECT_EQ(l.counters.frame_timeouts, 0u);
  // Its header and then nothing: cut off after its deadline.
  auto stalled = l.connect();
  ASSERT_TRUE(raw_handshake(l.io, stalled, l.keys(), Hello{Hello::Kind::client, 2}));
  asio::write(stalled, asio::buffer(frame.data(), constants::header_size + 1));
  const auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(run_until(l.io, [&] { return l.counters.frame_timeouts == 1; }));
  EXPECT_GE(std::chrono::steady_clock::now() - started, milliseconds(400));
  // Part of a header has a deadline too (the base).
  auto partial = l.connect();
  ASSERT_TRUE(raw_handshake(l.io, partial, l.keys(), Hello{Hello::Kind::client, 3}));
  asio::write(partial, asio::buffer(frame.data(), 5));
  ASSERT_TRUE(run_until(l.io, [&] { return l.counters.frame_timeouts == 2; }));
}

}  // namespace
}  // namespace pbft::runtime
