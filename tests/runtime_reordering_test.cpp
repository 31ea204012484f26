// Reordering (src/runtime/reordering.h) on its own: a connection's frames
// reach the core in arrival order whatever the order their checks finish
// in, and every byte they reserved goes back to the budget, however the
// connection ends.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "src/runtime/back_pressure.h"
#include "src/runtime/connection.h"
#include "tests/runtime_sockets.h"
#include "src/runtime/reordering.h"

namespace pbft::runtime {
namespace {

// Connections that are never started: Reordering only needs their identity
// and bookkeeping. Closing one reports to this owner, which tells the
// reordering, as ReplicaHost does.
class Fixture : public ConnectionOwner {
 public:
  Fixture()
      : reordering_(budget_, [this](Connection& c, FrameOutcome&& outcome) {
          handed_on.push_back(outcome.reason);
          if (close_on_hand_on) c.close("closed while handing on");
        }) {}

  std::shared_ptr<Connection> connect() {
    asio::ip::tcp::acceptor acceptor(io_, {asio::ip::address_v4::loopback(), 0});
    asio::ip::tcp::socket client(io_);
    asio::ip::tcp::socket server(io_);
    client.connect(acceptor.local_endpoint());
    acceptor.accept(server);
    clients_.push_back(std::move(client));
    return std::make_shared<Connection>(std::move(server), *this, counters_,
                                        QueueLimits{8, 1 << 20}, security_, std::nullopt,
                                        std::chrono::milliseconds(5000), "test");
  }

  // A frame of `bytes` arrives on c: reserved, then queued.
  FrameTicket arrive(Connection& c, size_t bytes) {
    EXPECT_TRUE(budget_.reserve(c, bytes));
    return reordering_.arrive(c, bytes);
  }

  // Its check finished; the outcome's reason names the frame.
  void settle(const std::shared_ptr<Connection>& c, const FrameTicket& ticket, std::string name) {
    settle(std::weak_ptr<Connection>(c), ticket, std::move(name));
  }
  void settle(const std::weak_ptr<Connection>& c, const FrameTicket& ticket, std::string name) {
    FrameOutcome outcome;
    outcome.kind = FrameOutcome::Kind::unwanted;
    outcome.reason = std::move(name);
    reordering_.settle(c, ticket, std::move(outcome));
  }

  void on_hello(Connection&, const Hello&) override {}
  bool reserve(Connection&, size_t) override { return true; }
  void on_frame(Connection&, Bytes) override {}
  void on_closed(Connection& c, const std::string&) override {
    reordering_.on_closed(c);
    budget_.on_closed(c);
  }

  const BackPressure& budget() const { return budget_; }
  const Reordering& reordering() const { return reordering_; }

  std::vector<std::string> handed_on;
  bool close_on_hand_on = false;

 private:
  asio::io_context io_;
  std::unique_ptr<testing::TestKeys> keys_ = testing::make_test_keys();
  std::shared_ptr<const LinkSecurity> security_ =
      testing::security_for(*keys_, Hello{Hello::Kind::replica, 0});
  std::vector<asio::ip::tcp::socket> clients_;
  RuntimeCounters counters_;
  BackPressure budget_;
  Reordering reordering_;
};

TEST(RuntimeReordering, OutcomesArrivingOutOfOrderAreHandedOnInArrivalOrder) {
  Fixture f;
  auto c = f.connect();
  const FrameTicket first = f.arrive(*c, 100);
  const FrameTicket second = f.arrive(*c, 200);
  const FrameTicket third = f.arrive(*c, 300);
  EXPECT_EQ(c->in_verification, 3u);
  EXPECT_EQ(f.budget().bytes_in_use(), 600u);

  f.settle(c, third, "third");
  f.settle(c, second, "second");
  EXPECT_TRUE(f.handed_on.empty()) << "the first frame's outcome is not back yet";
  EXPECT_EQ(f.budget().bytes_in_use(), 600u) << "nothing is released before its turn";

  f.settle(c, first, "first");
  EXPECT_EQ(f.handed_on, (std::vector<std::string>{"first", "second", "third"}));
  EXPECT_EQ(c->in_verification, 0u);
  EXPECT_EQ(f.budget().bytes_in_use(), 0u);
  EXPECT_EQ(f.reordering().waiting(), 0u);
}

TEST(RuntimeReordering, ConnectionsAreOrderedIndependently) {
  Fixture f;
  auto a = f.connect();
  auto b = f.connect();
  const FrameTicket a1 = f.arrive(*a, 10);
  const FrameTicket b1 = f.arrive(*b, 10);
  const FrameTicket a2 = f.arrive(*a, 10);
  f.settle(a, a2, "a2");
  f.settle(b, b1, "b1");  // not held up by a's first frame
  EXPECT_EQ(f.handed_on, (std::vector<std::string>{"b1"}));
  f.settle(a, a1, "a1");
  EXPECT_EQ(f.handed_on, (std::vector<std::string>{"b1", "a1", "a2"}));
  EXPECT_EQ(f.budget().bytes_in_use(), 0u);
}

TEST(RuntimeReordering, AClosedConnectionReleasesItsReservations) {
  Fixture f;
  auto c = f.connect();
  const FrameTicket first = f.arrive(*c, 100);
  const FrameTicket second = f.arrive(*c, 200);
  const FrameTicket third = f.arrive(*c, 300);
  f.settle(c, second, "second");  // back, waiting for the first
  EXPECT_EQ(f.budget().stranger_bytes_in_use(), 600u) << "c never delivered an authentic frame";

  c->close("gone");
  // The outcome already back is released at once; the others when they come.
  EXPECT_EQ(f.budget().bytes_in_use(), 400u);
  EXPECT_EQ(f.reordering().waiting(), 0u);
  f.settle(c, first, "first");
  EXPECT_EQ(f.budget().bytes_in_use(), 300u);
  // The connection may be gone altogether by the time an outcome arrives.
  std::weak_ptr<Connection> weak = c;
  c.reset();
  f.settle(weak, third, "third");
  EXPECT_EQ(f.budget().bytes_in_use(), 0u);
  EXPECT_EQ(f.budget().stranger_bytes_in_use(), 0u);
  EXPECT_TRUE(f.handed_on.empty()) << "nothing of a closed connection reaches the core";
}

TEST(RuntimeReordering, ClosingWhileHandingOnStopsAndReleasesTheRest) {
  Fixture f;
  f.close_on_hand_on = true;  // as when the core's answer makes the host close c
  auto c = f.connect();
  const FrameTicket first = f.arrive(*c, 100);
  const FrameTicket second = f.arrive(*c, 200);
  f.settle(c, second, "second");
  f.settle(c, first, "first");
  EXPECT_EQ(f.handed_on, (std::vector<std::string>{"first"}));
  EXPECT_EQ(f.budget().bytes_in_use(), 0u);
  EXPECT_EQ(f.reordering().waiting(), 0u);
}

}  // namespace
}  // namespace pbft::runtime
