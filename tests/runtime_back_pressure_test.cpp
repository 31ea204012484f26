// Back-pressure (src/runtime/back_pressure.h) on its own: the byte budget
// over all connections, the strangers' and the clients' parts of it, the
// per-connection frame limit, replicas resumed first, and a paused
// connection resuming when bytes are released, over a real loopback socket.
#include <gtest/gtest.h>

#include <functional>
#include <vector>

#include "pbft/wire.h"
#include "src/runtime/back_pressure.h"
#include "src/runtime/connection.h"
#include "tests/runtime_sockets.h"

namespace pbft::runtime {
namespace {

using std::chrono::milliseconds;
using testing::prepare_frame;
using testing::SocketPair;

// An owner whose reservations go to a BackPressure, and which holds every
// frame (its bytes stay reserved) until the test releases it.
class HoldingOwner : public ConnectionOwner {
 public:
  explicit HoldingOwner(BackPressure::Limits limits) : budget(limits) {}
  void on_hello(Connection&, const Hello&) override {}
  bool reserve(Connection& c, size_t bytes) override { return budget.reserve(c, bytes); }
  void on_frame(Connection& c, Bytes frame) override {
    held.push_back(Held{frame.size(), c.reserved_from});
  }
  void on_closed(Connection& c, const std::string&) override { budget.on_closed(c); }
  // Done with the oldest frame held.
  void release_one() {
    ASSERT_FALSE(held.empty());
    budget.release(held.front().bytes, held.front().share);
    held.erase(held.begin());
    released++;
  }
  size_t delivered() const { return held.size() + released; }

  struct Held {
    size_t bytes;
    Share share;
  };
  BackPressure budget;
  std::vector<Held> held;
  size_t released = 0;
};

// Runs the loop until `done` holds (true) or 5 s pass (false).
bool run_until(asio::io_context& io, const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    if (io.stopped()) io.restart();
    io.run_for(milliseconds(5));
  }
  return true;
}

// Runs the loop for a while (less if it runs out of work), for things that
// must not happen.
void run_for(asio::io_context& io, milliseconds how_long) {
  if (io.stopped()) io.restart();
  io.run_for(how_long);
}

TEST(RuntimeBackPressure, KnownConnectionsShareTheBudgetStrangersOnlyTheirPart) {
  asio::io_context io;
  auto keys = testing::make_test_keys();
  auto security = testing::security_for(*keys, Hello{Hello::Kind::replica, 0});
  SocketPair a(io);
  SocketPair b(io);
  HoldingOwner owner(BackPressure::Limits{.frames_per_connection_max = 8,
                                          .bytes_max = 300,
                                          .stranger_bytes_max = 100});
  RuntimeCounters counters;
  auto known = std::make_shared<Connection>(std::move(a.server), owner, counters,
                                            QueueLimits{8, 1 << 20}, security, std::nullopt,
                                            milliseconds(5000), "k");
  auto stranger = std::make_shared<Connection>(std::move(b.server), owner, counters,
                                               QueueLimits{8, 1 << 20}, security, std::nullopt,
                                            milliseconds(5000), "s");
  known->authentic = true;
  BackPressure& budget = owner.budget;

  EXPECT_TRUE(budget.reserve(*stranger, 80));
  EXPECT_EQ(stranger->reserved_from, Share::stranger);
  EXPECT_FALSE(budget.reserve(*stranger, 30)) << "over the strangers' part";
  EXPECT_TRUE(budget.reserve(*known, 200)) << "a known connection uses the rest";
  EXPECT_EQ(known->reserved_from, Share::client);
  EXPECT_FALSE(budget.reserve(*known, 30)) << "over the whole budget";
  EXPECT_EQ(budget.bytes_in_use(), 280u);
  EXPECT_EQ(budget.stranger_bytes_in_use(), 80u);
  EXPECT_EQ(budget.paused_connections(), 2u);

  budget.release(80, Share::stranger);
  EXPECT_EQ(budget.bytes_in_use(), 200u);
  EXPECT_EQ(budget.stranger_bytes_in_use(), 0u);
  EXPECT_EQ(budget.paused_connections(), 0u) << "each paused connection got its chance";
  budget.release(200, Share::client);
  EXPECT_EQ(budget.bytes_in_use(), 0u);
}

// Clients, however many, hold at most their part: a replica always has the
// rest, and when bytes come back a paused replica reads before the clients
// that paused before it.
TEST(RuntimeBackPressure, ClientsHoldTheirPartReplicasTheRestAndResumeFirst) {
  asio::io_context io;
  SocketPair a(io);
  SocketPair b(io);
  SocketPair r(io);
  HoldingOwner owner(BackPressure::Limits{.frames_per_connection_max = 8,
                                          .bytes_max = 300,
                                          .stranger_bytes_max = 50,
                                          .client_bytes_max = 150});
  RuntimeCounters counters;
  auto keys = testing::make_test_keys();
  auto security = testing::security_for(*keys, Hello{Hello::Kind::replica, 0});
  auto make = [&](SocketPair& pair, const char* name) {
    auto c = std::make_shared<Connection>(std::move(pair.server), owner, counters,
                                          QueueLimits{8, 1 << 20}, security, std::nullopt,
                                          milliseconds(5000), name);
    c->authentic = true;
    return c;
  };
  auto client_a = make(a, "a");
  client_a->hello = Hello{Hello::Kind::client, 7};
  auto client_b = make(b, "b");
  client_b->hello = Hello{Hello::Kind::client, 8};
  auto replica = make(r, "r");
  replica->hello = Hello{Hello::Kind::replica, 2};
  BackPressure& budget = owner.budget;

  EXPECT_TRUE(budget.reserve(*client_a, 100));
  EXPECT_FALSE(budget.reserve(*client_b, 60)) << "over the clients' part";
  EXPECT_TRUE(budget.reserve(*client_b, 50));
  EXPECT_EQ(budget.client_bytes_in_use(), 150u);
  EXPECT_TRUE(budget.reserve(*replica, 150)) << "the replica has the rest";
  EXPECT_EQ(replica->reserved_from, Share::replica);
  EXPECT_FALSE(budget.reserve(*replica, 10)) << "over the whole budget";
  EXPECT_EQ(budget.paused_connections(), 2u);

  budget.release(50, Share::client);
  EXPECT_EQ(budget.paused_connections(), 0u) << "each paused connection got its chance";
  EXPECT_EQ(budget.client_bytes_in_use(), 100u);
  budget.release(100, Share::client);
  budget.release(150, Share::replica);
  EXPECT_EQ(budget.bytes_in_use(), 0u);
  EXPECT_EQ(budget.client_bytes_in_use(), 0u);
}

// Over real sockets: a client fills the budget and pauses, then a replica
// pauses behind it; when one frame's bytes come back, the replica's frame
// takes them.
TEST(RuntimeBackPressure, APausedReplicaReadsBeforeAClientThatPausedEarlier) {
  const size_t frame_bytes = prepare_frame(1).size();
  asio::io_context io;
  SocketPair a(io);
  SocketPair r(io);
  HoldingOwner owner(BackPressure::Limits{.frames_per_connection_max = 64,
                                          .bytes_max = 2 * frame_bytes,
                                          .stranger_bytes_max = frame_bytes,
                                          .client_bytes_max = 2 * frame_bytes});
  RuntimeCounters counters;
  auto keys = testing::make_test_keys();
  auto security = testing::security_for(*keys, Hello{Hello::Kind::replica, 0});
  auto client = std::make_shared<Connection>(std::move(a.server), owner, counters,
                                             QueueLimits{8, 1 << 20}, security, std::nullopt,
                                             milliseconds(5000), "client");
  client->authentic = true;
  auto replica = std::make_shared<Connection>(std::move(r.server), owner, counters,
                                              QueueLimits{8, 1 << 20}, security, std::nullopt,
                                              milliseconds(5000), "replica");
  replica->authentic = true;
  Bytes frames;
  for (Seq s = 1; s <= 4; s++) {
    const Bytes f = prepare_frame(s);
    frames.insert(frames.end(), f.begin(), f.end());
  }
  client->start();
  ASSERT_TRUE(testing::raw_handshake(io, a.client, *keys, Hello{Hello::Kind::client, 7}));
  asio::write(a.client, asio::buffer(frames));
  ASSERT_TRUE(run_until(io, [&] { return owner.held.size() == 2 && client->paused(); }));
  replica->start();
  ASSERT_TRUE(testing::raw_handshake(io, r.client, *keys, Hello{Hello::Kind::replica, 2}));
  asio::write(r.client, asio::buffer(frames));
  ASSERT_TRUE(run_until(io, [&] { return replica->paused(); }));
  EXPECT_EQ(owner.budget.paused_connections(), 2u);

  owner.release_one();  // one of the client's frames
  ASSERT_TRUE(run_until(io, [&] { return owner.held.size() == 2; }));
  run_for(io, milliseconds(50));
  ASSERT_EQ(owner.held.size(), 2u);
  EXPECT_EQ(owner.held.back().share, Share::replica) << "the replica read first";
  EXPECT_TRUE(client->paused());
  client->close("done");
  replica->close("done");
}

TEST(RuntimeBackPressure, OneConnectionHoldsAtMostItsFrameLimit) {
  asio::io_context io;
  auto keys = testing::make_test_keys();
  auto security = testing::security_for(*keys, Hello{Hello::Kind::replica, 0});
  SocketPair a(io);
  HoldingOwner owner(BackPressure::Limits{.frames_per_connection_max = 2,
                                          .bytes_max = 1 << 20,
                                          .stranger_bytes_max = 1 << 20});
  RuntimeCounters counters;
  auto c = std::make_shared<Connection>(std::move(a.server), owner, counters,
                                        QueueLimits{8, 1 << 20}, security, std::nullopt,
                                            milliseconds(5000), "c");
  c->in_verification = 2;  // frames of c between arrival and hand-over
  EXPECT_FALSE(owner.budget.reserve(*c, 10));
  c->in_verification = 1;
  EXPECT_TRUE(owner.budget.reserve(*c, 10));
}

// Over a real socket: a stranger that fills the strangers' part stops
// reading (the rest stays in the kernel's buffers: TCP pushes back on the
// sender) and resumes when a frame is released; once it is known, the
// whole budget is open to it.
TEST(RuntimeBackPressure, APausedConnectionResumesWhenBytesAreReleased) {
  const size_t frame_bytes = prepare_frame(1).size();
  asio::io_context io;
  auto keys = testing::make_test_keys();
  auto security = testing::security_for(*keys, Hello{Hello::Kind::replica, 0});
  SocketPair pair(io);
  HoldingOwner owner(BackPressure::Limits{.frames_per_connection_max = 64,
                                          .bytes_max = 4 * frame_bytes,
                                          .stranger_bytes_max = 2 * frame_bytes});
  RuntimeCounters counters;
  auto c = std::make_shared<Connection>(std::move(pair.server), owner, counters,
                                        QueueLimits{8, 1 << 20}, security, std::nullopt,
                                            milliseconds(5000), "t");
  c->start();
  ASSERT_TRUE(testing::raw_handshake(io, pair.client, *keys, Hello{Hello::Kind::replica, 1}));
  Bytes stream;
  for (Seq s = 1; s <= 8; s++) {
    const Bytes f = prepare_frame(s);
    stream.insert(stream.end(), f.begin(), f.end());
  }
  asio::write(pair.client, asio::buffer(stream));

  ASSERT_TRUE(run_until(io, [&] { return owner.delivered() == 2; }));
  run_for(io, milliseconds(50));
  EXPECT_EQ(owner.delivered(), 2u) << "the strangers' part holds two frames";
  EXPECT_TRUE(c->paused());
  EXPECT_GE(counters.read_pauses, 1u);
  EXPECT_EQ(owner.budget.stranger_bytes_in_use(), 2 * frame_bytes);

  owner.release_one();
  ASSERT_TRUE(run_until(io, [&] { return owner.delivered() == 3; }));
  run_for(io, milliseconds(50));
  EXPECT_EQ(owner.delivered(), 3u);

  // Authentic now: the connection may use the whole budget (four frames).
  c->authentic = true;
  owner.release_one();
  ASSERT_TRUE(run_until(io, [&] { return owner.held.size() == 4; }));
  run_for(io, milliseconds(50));
  EXPECT_EQ(owner.held.size(), 4u) << "the whole budget holds four frames";
  EXPECT_EQ(owner.budget.bytes_in_use(), 4 * frame_bytes);

  while (!owner.held.empty()) owner.release_one();
  ASSERT_TRUE(run_until(io, [&] { return owner.delivered() == 8; }));
  while (!owner.held.empty()) owner.release_one();
  EXPECT_EQ(owner.budget.bytes_in_use(), 0u);
  EXPECT_EQ(owner.budget.stranger_bytes_in_use(), 0u);
  c->close("done");
}

TEST(RuntimeBackPressure, ClosingMidFrameReleasesTheFramesReservation) {
  const Bytes frame = prepare_frame(1);
  asio::io_context io;
  auto keys = testing::make_test_keys();
  auto security = testing::security_for(*keys, Hello{Hello::Kind::replica, 0});
  SocketPair pair(io);
  HoldingOwner owner(BackPressure::Limits{});
  RuntimeCounters counters;
  auto c = std::make_shared<Connection>(std::move(pair.server), owner, counters,
                                        QueueLimits{8, 1 << 20}, security, std::nullopt,
                                            milliseconds(5000), "t");
  c->start();
  ASSERT_TRUE(testing::raw_handshake(io, pair.client, *keys, Hello{Hello::Kind::replica, 1}));
  Bytes stream;
  stream.insert(stream.end(), frame.begin(), frame.end() - 1);  // all but the last byte
  asio::write(pair.client, asio::buffer(stream));
  ASSERT_TRUE(run_until(io, [&] { return owner.budget.bytes_in_use() == frame.size(); }));
  EXPECT_EQ(owner.delivered(), 0u);
  c->close("gone mid-frame");
  EXPECT_EQ(owner.budget.bytes_in_use(), 0u);
  EXPECT_EQ(owner.budget.stranger_bytes_in_use(), 0u);
}


// A release wakes only the connections whose frames it makes room for: a
// thousand paused connections cost a release the one it serves, not a
// thousand resumes that pause again (slow-loris churn, issue 18).
TEST(RuntimeBackPressure, AReleaseResumesOnlyTheConnectionsItMakesRoomFor) {
  const size_t frame_bytes = prepare_frame(1).size();
  asio::io_context io;
  auto keys = testing::make_test_keys();
  auto security = testing::security_for(*keys, Hello{Hello::Kind::replica, 0});
  HoldingOwner owner(BackPressure::Limits{.frames_per_connection_max = 64,
                                          .bytes_max = 4 * frame_bytes,
                                          .stranger_bytes_max = frame_bytes});
  RuntimeCounters counters;
  constexpr size_t connections = 10;
  std::vector<std::unique_ptr<SocketPair>> pairs;
  std::vector<std::shared_ptr<Connection>> cs;
  Bytes two = prepare_frame(1);
  const Bytes second = prepare_frame(2);
  two.insert(two.end(), second.begin(), second.end());
  for (size_t i = 0; i < connections; i++) {
    pairs.push_back(std::make_unique<SocketPair>(io));
    cs.push_back(std::make_shared<Connection>(std::move(pairs.back()->server), owner, counters,
                                              QueueLimits{8, 1 << 20}, security, std::nullopt,
                                              milliseconds(5000), "s"));
    cs.back()->start();
    ASSERT_TRUE(testing::raw_handshake(io, pairs.back()->client, *keys,
                                       Hello{Hello::Kind::replica, 1}));
    asio::write(pairs.back()->client, asio::buffer(two));
  }
  ASSERT_TRUE(run_until(io, [&] {
    return owner.delivered() == 1 && owner.budget.paused_connections() == connections;
  }));
  const uint64_t pauses = counters.read_pauses;

  owner.release_one();  // room for one frame of a stranger
  ASSERT_TRUE(run_until(io, [&] { return owner.delivered() == 2; }));
  run_for(io, milliseconds(50));
  EXPECT_EQ(owner.delivered(), 2u);
  EXPECT_LE(counters.read_pauses, pauses + 1) << "only the resumed connection paused again";
  EXPECT_GE(owner.budget.paused_connections(), connections - 1) << "the others were not woken";
  for (auto& c : cs) c->close("done");
}

}  // namespace
}  // namespace pbft::runtime
