// Bounded memory under any input (PBFT.md "Checkpoints and garbage
// collection", "bounded memory"; include/pbft/constants.h states the
// limits). Each test floods one replica with messages that pass its verifier
// (signed or MAC'd with the other replicas' own keys, so they are exactly
// what a faulty peer could send) but lie far outside its window or answer
// questions it never asked, and checks after every message that what the
// replica holds stays within the stated bounds:
//   log_size()         <= L                (slots only for h < s <= H)
//   checkpoints_held() <= L / K + 1        (the stable one and those above it)
//   pending_requests() <= constants::pending_requests_max
//   view_changes_held() <= n                (one per replica)
//   checkpoint_claims_held() <= n * constants::checkpoint_claims_per_replica_max
//   no state transfer without 2f+1 matching CHECKPOINT claims.
// Then it checks that the replica still does its job: a client request
// completes and the flooded replica executes it too.
//
// The out-of-window floods come from every other replica: memory bounds must
// hold whoever sends. Messages that land inside the window (and could
// occupy a slot or a checkpoint vote) come from one faulty replica only, as
// the fault model allows, so that liveness afterwards is a fair question.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <limits>
#include <string>

#include "core_harness.h"

namespace pbft::testing {
namespace {

constexpr ReplicaId target = 1;   // a backup: it takes pre-prepares from the primary
constexpr ReplicaId primary = 0;
constexpr ReplicaId faulty = 3;   // the one replica whose lies may land in the window
constexpr Seq far_top = 1'000'000;

ProtocolConfig bounds_config() {
  ProtocolConfig c = small_config();  // K = 16, L = 32
  c.status_interval_ticks = 5;
  // The floods hand the target replica thousands of client requests that
  // the primary never sees; a view-change timer would rightly suspect the
  // primary. These tests are about memory, not view changes: no timeouts.
  c.view_change_timeout_ticks = 1'000'000'000;
  return c;
}

// A digest that names (seq, sender, salt): distinct lies stay distinct.
Digest lie(Seq s, ReplicaId sender, uint64_t salt = 0) {
  Digest d{};
  for (int i = 0; i < 8; i++) {
    d[i] = static_cast<uint8_t>(s >> (8 * i));
    d[8 + i] = static_cast<uint8_t>(salt >> (8 * i));
  }
  d[16] = static_cast<uint8_t>(sender);
  d[31] = 0xa5;
  return d;
}

Checkpoint make_checkpoint(const Cluster& c, ReplicaId sender, Seq s, const Digest& d) {
  Checkpoint cp{s, d, sender, {}};
  cp.signature = c.crypto(sender).sign(wire::auth_payload(cp));
  return cp;
}

Fetch make_fetch(const Cluster& c, ReplicaId sender, Seq checkpoint, uint32_t level,
                 uint64_t index, uint64_t offset) {
  Fetch f;
  f.checkpoint = checkpoint;
  f.level = level;
  f.index = index;
  f.offset = offset;
  static uint64_t counter = 0;
  f.counter = ++counter;  // fresh: a replica serves each counter once
  f.sender = sender;
  f.authenticator = make_authenticator(c.crypto(sender), c.config().n, wire::auth_payload(f));
  return f;
}

FetchReply make_fetch_reply(const Cluster& c, ReplicaId sender, Seq checkpoint, uint32_t level,
                            uint64_t index, uint64_t offset, size_t data_size) {
  FetchReply r;
  r.checkpoint = checkpoint;
  r.level = level;
  r.index = index;
  r.offset = offset;
  if (level == 0) {
    r.total_size = offset + data_size;
    r.data.assign(data_size, static_cast<uint8_t>(index));
  } else {
    r.digests.assign(16, lie(checkpoint, sender, index));  // a full set of children
  }
  r.sender = sender;
  r.authenticator = make_authenticator(c.crypto(sender), c.config().n, wire::auth_payload(r));
  return r;
}

StatusMessage make_status(const Cluster& c, ReplicaId sender, Seq last_executed, Seq last_stable,
                          bool recovering) {
  StatusMessage s;
  s.view = 0;
  s.last_executed = last_executed;
  s.last_stable = last_stable;
  s.recovering = recovering;
  static uint64_t counter = 0;
  s.counter = ++counter;  // fresh: each one above the last
  s.sender = sender;
  s.authenticator = make_authenticator(c.crypto(sender), c.config().n, wire::auth_payload(s));
  return s;
}

// Delivers flood messages to `target`, drops whatever it sends in answer
// (the flood's senders do not listen), and checks the bounds after every
// message.
class Flood {
 public:
  explicit Flood(Cluster& c) : c_(c) {}

  ::testing::AssertionResult deliver(const Message& m) {
    if (!c_.deliver(target, m)) {
      return ::testing::AssertionFailure()
             << "a flood message must pass the verifier: " << type_name(type_of(m));
    }
    delivered_++;
    for (const Send& s : c_.drain(target)) {
      sends_++;
      if (std::holds_alternative<FetchReply>(*s.message)) fetch_replies_++;
    }
    c_.in_flight().clear();
    return within_bounds();
  }

  ::testing::AssertionResult within_bounds() {
    const Replica& r = c_.replica(target);
    const ProtocolConfig& config = c_.config();
    if (r.log_size() > config.log_window) {
      return ::testing::AssertionFailure()
             << "log_size " << r.log_size() << " > L " << config.log_window << " after "
             << delivered_ << " messages";
    }
    if (r.checkpoints_held() > config.log_window / config.checkpoint_interval + 1) {
      return ::testing::AssertionFailure()
             << "checkpoints_held " << r.checkpoints_held() << " after " << delivered_;
    }
    if (r.pending_requests() > constants::pending_requests_max) {
      return ::testing::AssertionFailure()
             << "pending_requests " << r.pending_requests() << " after " << delivered_;
    }
    if (auto range = r.log_range(); range && range->first <= r.low_watermark()) {
      return ::testing::AssertionFailure() << "a slot at or below h after " << delivered_;
    }
    if (r.view_changes_held() > config.n) {
      return ::testing::AssertionFailure()
             << "view_changes_held " << r.view_changes_held() << " after " << delivered_;
    }
    if (r.checkpoint_claims_held() > config.n * constants::checkpoint_claims_per_replica_max) {
      return ::testing::AssertionFailure()
             << "checkpoint_claims_held " << r.checkpoint_claims_held() << " after " << delivered_;
    }
    if (r.transferring() || r.counters().state_transfers_started != 0) {
      return ::testing::AssertionFailure()
             << "a state transfer started without 2f+1 matching claims, after " << delivered_;
    }
    return ::testing::AssertionSuccess();
  }

  // Ticks the whole cluster once, dropping what that makes anyone send (the
  // flood is one-sided: the target's peers are not running the protocol).
  void tick() {
    c_.tick_all();
    for (ReplicaId i = 0; i < c_.config().n; i++) c_.drain(i);
    for (ClientId k = 0; k < 2; k++) c_.drain_client(k);
    c_.in_flight().clear();
  }

  uint64_t delivered() const { return delivered_; }
  uint64_t sends() const { return sends_; }
  uint64_t fetch_replies() const { return fetch_replies_; }

 private:
  Cluster& c_;
  uint64_t delivered_ = 0;
  uint64_t sends_ = 0;
  uint64_t fetch_replies_ = 0;
};

// Client 0 puts key=value; true once the client has its reply (delivering
// everything, ticking as needed) and the flooded replica executed it too.
::testing::AssertionResult put_completes(Cluster& c, const std::string& key,
                                         const std::string& value) {
  if (auto t = c.client(0).submit(kv::encode_op(put(key, value))); !t) {
    return ::testing::AssertionFailure() << "submit: " << t.status().reason();
  }
  c.run();
  for (int t = 0; t < 200 && c.client(0).busy(); t++) {
    c.tick_all();
    c.run();
  }
  if (c.client(0).busy()) return ::testing::AssertionFailure() << "the request did not complete";
  const Bytes k(key.begin(), key.end());
  const Bytes v(value.begin(), value.end());
  if (c.store(target).get(k) != v) {
    return ::testing::AssertionFailure() << "the flooded replica did not execute it";
  }
  return ::testing::AssertionSuccess();
}

// Prepares the cluster: a few requests executed, so that the log is not
// empty (STATUS answers have something to retransmit).
void warm_up(Cluster& c) {
  for (int i = 0; i < 5; i++) ASSERT_TRUE(put_completes(c, "w" + std::to_string(i), "x"));
  ASSERT_EQ(c.replica(target).last_executed(), 5u);
}

// PRE-PREPAREs, PREPAREs and COMMITs far above H are not logged, however
// many; inside the window a faulty replica's lies occupy at most L slots.
TEST(Bounds, ProtocolMessagesFarAboveTheWindowAreNotLogged) {
  Cluster c(bounds_config());
  warm_up(c);
  Flood flood(c);
  const Seq high = c.replica(target).high_watermark();
  const Request request = c.make_request(0, 1'000'000, put("k", "v"));
  for (Seq i = 0; i < 20'000; i++) {
    // Far above H, and at the very top of the sequence-number space.
    for (Seq s : {high + 1 + i * 50, std::numeric_limits<Seq>::max() - i}) {
      ASSERT_TRUE(flood.deliver(c.make_pre_prepare(primary, 0, s, {request})));
      ASSERT_TRUE(flood.deliver(c.make_prepare(2, 0, s, lie(s, 2))));
      ASSERT_TRUE(flood.deliver(c.make_commit(faulty, 0, s, lie(s, faulty))));
    }
    // Inside the window, from the faulty replica: one slot per seq at most.
    const Seq in = c.replica(target).low_watermark() + 1 + i % c.config().log_window;
    ASSERT_TRUE(flood.deliver(c.make_prepare(faulty, 0, in, lie(in, faulty, i))));
    ASSERT_TRUE(flood.deliver(c.make_commit(faulty, 0, in, lie(in, faulty, i))));
    if (i % 1000 == 0) flood.tick();
  }
  EXPECT_EQ(c.replica(target).log_size(), c.config().log_window) << "the window is full, no more";
  EXPECT_EQ(c.replica(target).last_executed(), 5u);
  EXPECT_TRUE(put_completes(c, "after", "flood"));
}

// CHECKPOINT claims for every multiple of K up to 10^6 from every other
// replica: f+1 of them agree (replicas 0 and 2), which is not a proof. The
// replica keeps a few claims per sender and no checkpoint above H, and
// starts no transfer.
TEST(Bounds, CheckpointClaimsUpToAMillionStartNoTransfer) {
  Cluster c(bounds_config());
  warm_up(c);
  Flood flood(c);
  const Seq k = c.config().checkpoint_interval;
  const Seq high = c.replica(target).high_watermark();
  for (Seq s = k; s <= far_top; s += k) {
    // Inside the window only the faulty replica lies: a vote there from a
    // correct replica would be its real one.
    if (s > high) {
      ASSERT_TRUE(flood.deliver(make_checkpoint(c, primary, s, lie(s, primary))));
      ASSERT_TRUE(flood.deliver(make_checkpoint(c, 2, s, lie(s, primary))));  // agrees with 0
    }
    ASSERT_TRUE(flood.deliver(make_checkpoint(c, faulty, s, lie(s, faulty))));
    // A second, different claim for the same checkpoint does not replace
    // the first (or add to it).
    ASSERT_TRUE(flood.deliver(make_checkpoint(c, faulty, s, lie(s, faulty, 1))));
    if (s % (1000 * k) == 0) flood.tick();
  }
  for (int t = 0; t < 20; t++) flood.tick();
  ASSERT_TRUE(flood.within_bounds());
  EXPECT_EQ(c.replica(target).low_watermark(), 0u);
  EXPECT_GE(flood.delivered(), 4 * (far_top / k) - 4);
  // It keeps a few claims from each of the three senders, not a million.
  EXPECT_GT(c.replica(target).checkpoint_claims_held(), 0u);
  EXPECT_LE(c.replica(target).checkpoint_claims_held(),
            3 * constants::checkpoint_claims_per_replica_max);
  // The replica takes its own checkpoint at 16 and makes it stable with the
  // correct replicas' votes, although the faulty one voted first with a lie.
  for (int i = 0; i < 12; i++) ASSERT_TRUE(put_completes(c, "after" + std::to_string(i), "x"));
  EXPECT_EQ(c.replica(target).low_watermark(), 16u);
  EXPECT_TRUE(flood.within_bounds());
}

// VIEW-CHANGEs for a thousand views from one faulty replica: the replica
// keeps one per sender (the highest), and one replica alone moves nobody.
TEST(Bounds, ViewChangeFloodsKeepOnePerSender) {
  Cluster c(bounds_config());
  warm_up(c);
  Flood flood(c);
  for (View v = 1; v <= 1000; v++) ASSERT_TRUE(flood.deliver(c.make_view_change(faulty, v)));
  EXPECT_EQ(c.replica(target).view_changes_held(), 1u);
  EXPECT_EQ(c.replica(target).view(), 0u);
  EXPECT_FALSE(c.replica(target).view_changing());
  ASSERT_TRUE(put_completes(c, "after", "x"));
}

// The control for the test above: 2f+1 matching claims are a proof, and a
// replica that far behind does start a transfer. Without this, "no transfer"
// could pass because claims were never looked at.
TEST(Bounds, TwoFPlusOneMatchingClaimsDoStartATransfer) {
  Cluster c(bounds_config());
  for (ReplicaId sender : {primary, ReplicaId{2}}) {
    ASSERT_TRUE(c.deliver(target, make_checkpoint(c, sender, far_top, lie(far_top, 9))));
  }
  EXPECT_FALSE(c.replica(target).transferring());
  ASSERT_TRUE(c.deliver(target, make_checkpoint(c, faulty, far_top, lie(far_top, 9))));
  EXPECT_TRUE(c.replica(target).transferring());
  EXPECT_EQ(c.replica(target).transfer_target(), std::optional<Seq>(far_top));
}

// FETCHes for checkpoints the replica does not hold, and for nodes, leaves
// and offsets that do not exist, are ignored; real ones are answered. Every
// fetch, answered or not, is charged to its sender's budget of
// fetch_serve_count_per_tick per tick: each sender below sends groups of 7
// fetches, the real one last, so floor(budget / 7) real ones per sender are
// answered per tick.
TEST(Bounds, FetchesForNothingAreIgnoredAndServingIsRateLimited) {
  Cluster c(bounds_config());
  Flood flood(c);
  const uint64_t per_tick_max =
      (c.config().n - 1) * (constants::fetch_serve_count_per_tick / 7);
  const uint64_t leaves = kv::Store::default_partitions + constants::reply_partitions;
  for (int round = 0; round < 50; round++) {
    const uint64_t served_before = flood.fetch_replies();
    for (uint64_t i = 0; i < 1000; i++) {
      const ReplicaId sender = i % 3 == 0 ? primary : static_cast<ReplicaId>(1 + i % 3);
      // Checkpoints never taken (0 is the only one held).
      ASSERT_TRUE(flood.deliver(make_fetch(c, sender, 1 + i * 997, 0, 0, 0)));
      // Checkpoint 0 at nodes that do not exist.
      ASSERT_TRUE(flood.deliver(make_fetch(c, sender, 0, 200 + static_cast<uint32_t>(i), 0, 0)));
      ASSERT_TRUE(flood.deliver(make_fetch(c, sender, 0, 1, uint64_t{1} << 40, 0)));
      ASSERT_TRUE(flood.deliver(make_fetch(c, sender, 0, 0, leaves + i, 0)));
      ASSERT_TRUE(flood.deliver(make_fetch(c, sender, 0, 0, i, uint64_t{1} << 40)));  // offset
      ASSERT_TRUE(flood.deliver(make_fetch(c, sender, 0, 1, 0, 5)));  // offset on a digest node
      // A real fetch of a real leaf, which is served until the rate limit.
      ASSERT_TRUE(flood.deliver(make_fetch(c, sender, 0, 0, i % leaves, 0)));
    }
    const uint64_t served = flood.fetch_replies() - served_before;
    EXPECT_EQ(served, per_tick_max) << "round " << round;  // 3000 real ones asked
    flood.tick();
  }
  EXPECT_EQ(c.replica(target).counters().fetches_served, flood.fetch_replies());
  EXPECT_TRUE(put_completes(c, "after", "flood"));
}

// FETCH-REPLYs nobody asked for are dropped without being kept or counted:
// while idle, and during a transfer for every node, sender and offset other
// than the ones in flight.
TEST(Bounds, FetchRepliesNobodyAskedForAreIgnored) {
  Cluster c(bounds_config());
  Flood flood(c);
  for (uint64_t i = 0; i < 30'000; i++) {
    const ReplicaId sender = static_cast<ReplicaId>(i % 3 == 0 ? 0 : 1 + i % 3);
    const uint32_t level = static_cast<uint32_t>(i % 4);
    ASSERT_TRUE(flood.deliver(make_fetch_reply(c, sender, 16 * (i % 100), level, i, 0, 4096)));
  }
  EXPECT_EQ(c.replica(target).counters().fetch_bytes_received, 0u);
  EXPECT_EQ(c.replica(target).counters().fetch_replies_rejected, 0u);

  // Now a transfer is under way (2f+1 claims for a checkpoint nobody will
  // serve); its fetches are known, and replies to anything else are ignored.
  for (ReplicaId sender : {primary, ReplicaId{2}, faulty}) {
    ASSERT_TRUE(c.deliver(target, make_checkpoint(c, sender, 1600, lie(1600, 9))));
  }
  ASSERT_TRUE(c.replica(target).transferring());
  const std::vector<Send> fetches = c.drain(target);
  c.in_flight().clear();
  ASSERT_EQ(sent<Fetch>(fetches).size(), 1u) << "the root first";
  const Fetch root = sent<Fetch>(fetches)[0];
  const ReplicaId server = fetches[0].to.id;
  const ReplicaId other = server == primary ? faulty : primary;
  uint64_t ignored = 0;
  const ReplicaCounters before = c.replica(target).counters();
  for (uint64_t i = 0; i < 10'000; i++) {
    const Message lies[] = {
        make_fetch_reply(c, server, 1600 + 16 * (1 + i % 50), root.level, 0, 0, 0),  // other target
        make_fetch_reply(c, other, 1600, root.level, 0, 0, 0),           // the wrong server
        make_fetch_reply(c, server, 1600, root.level - 1, i, 0, 0),      // a node not asked for
        make_fetch_reply(c, server, 1600, 0, i, 0, 4096),                // a leaf not asked for
    };
    for (const Message& m : lies) {
      ASSERT_TRUE(c.deliver(target, m));
      ignored++;
    }
  }
  (void)c.drain(target);
  c.in_flight().clear();
  const ReplicaCounters& after = c.replica(target).counters();
  EXPECT_EQ(after.dropped(DropReason::fetch_reply_not_fetching) -
                before.dropped(DropReason::fetch_reply_not_fetching),
            ignored / 4);
  EXPECT_EQ(after.dropped(DropReason::fetch_reply_unasked) -
                before.dropped(DropReason::fetch_reply_unasked),
            3 * ignored / 4);
  EXPECT_EQ(c.replica(target).counters().fetch_bytes_received, 0u);
  EXPECT_EQ(c.replica(target).counters().fetch_replies_rejected, 0u);
  EXPECT_LE(c.replica(target).log_size(), c.config().log_window);
}

// STATUS messages are answered at most once per status interval per peer,
// and an answer is bounded (retransmit_seqs_max slots, the stable proof, the
// checkpoints held), so a flood of them cannot make the replica send without
// bound either.
TEST(Bounds, StatusFloodsAreAnsweredOncePerIntervalPerPeer) {
  Cluster c(bounds_config());
  warm_up(c);
  Flood flood(c);
  flood.tick();
  const uint64_t n = c.config().n;
  const uint64_t answer_max = std::min<uint64_t>(constants::retransmit_seqs_max,
                                                 c.config().log_window) * (n + 1) +
                              n + c.config().log_window / c.config().checkpoint_interval + 2;
  for (int interval = 0; interval < 20; interval++) {
    const uint64_t sends_before = flood.sends();
    for (uint64_t i = 0; i < 3000; i++) {
      const ReplicaId sender = i % 3 == 0 ? primary : static_cast<ReplicaId>(1 + i % 3);
      ASSERT_TRUE(flood.deliver(make_status(c, sender, i % 4, 0, i % 2 == 0)));
      ASSERT_TRUE(flood.deliver(make_status(c, sender, far_top + i, far_top, false)));
    }
    EXPECT_LE(flood.sends() - sends_before, 3 * answer_max) << "interval " << interval;
    EXPECT_GT(flood.sends() - sends_before, 0u) << "statuses are answered";
    for (uint64_t t = 0; t < c.config().status_interval_ticks; t++) flood.tick();
  }
  EXPECT_TRUE(put_completes(c, "after", "flood"));
}

// Requests from more clients than pending_requests_max: the surplus is
// dropped (the clients retry), each client holds one place, and the replica
// still orders what its own clients send.
TEST(Bounds, PendingRequestsStayWithinTheirLimit) {
  constexpr uint32_t clients = constants::pending_requests_max + 500;
  Cluster c(bounds_config(), clients);
  Flood flood(c);
  for (Timestamp t = 1; t <= 3; t++) {
    for (ClientId k = 2; k < clients; k++) {
      ASSERT_TRUE(flood.deliver(c.make_request(k, t, put("p" + std::to_string(k), "v"))));
    }
  }
  EXPECT_EQ(c.replica(target).pending_requests(), constants::pending_requests_max);
  EXPECT_GT(c.replica(target).counters().dropped(DropReason::request_pending_full), 0u);
  EXPECT_TRUE(put_completes(c, "after", "flood"));
}

// The process's resident set size, in bytes.
size_t resident_bytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size = 0, resident = 0;
  const int read = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  if (read != 2) return 0;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

#if defined(__SANITIZE_ADDRESS__)
constexpr bool under_asan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool under_asan = true;
#else
constexpr bool under_asan = false;
#endif
#else
constexpr bool under_asan = false;
#endif

// The bounds above are on counts; this is the check on bytes. All the
// floods at once, 10^6 messages after a warm-up that fills every bounded
// structure (the log window, the claims, the pending queue, the allocator's
// free lists). From then on the replica should keep nothing per message. A
// leak of even one small map node (48 bytes or more) per message would grow
// the resident set by more than 45 MiB over 10^6 messages; 32 MiB leaves
// room for allocator slack and still catches it. (Under AddressSanitizer,
// freed memory sits in a quarantine of 256 MiB, so RSS says nothing.)
TEST(Bounds, ResidentMemoryStaysFlatUnderAMillionMessageFlood) {
  if (under_asan) GTEST_SKIP() << "AddressSanitizer's quarantine makes RSS meaningless";
  constexpr uint32_t clients = constants::pending_requests_max + 100;
  constexpr uint64_t warm_up_messages = 100'000;
  constexpr uint64_t measured_messages = 1'000'000;
  constexpr size_t growth_max = 32u << 20;
  Cluster c(bounds_config(), clients);
  warm_up(c);
  Flood flood(c);
  const Seq high = c.replica(target).high_watermark();
  const Request request = c.make_request(0, 1'000'000, put("k", "v"));
  const uint64_t leaves = kv::Store::default_partitions + constants::reply_partitions;

  size_t before = 0;
  for (uint64_t i = 0; i < warm_up_messages + measured_messages; i++) {
    if (i == warm_up_messages) before = resident_bytes();
    const Seq far = high + 1 + (i * 7919) % far_top;
    const ReplicaId sender = static_cast<ReplicaId>(i % 3 == 0 ? 0 : 1 + i % 3);
    const Seq in = c.replica(target).low_watermark() + 1 + i % c.config().log_window;
    // Checkpoint claims above H from everyone, f+1 of them agreeing;
    // inside the window from the faulty replica only.
    const Seq k = c.config().checkpoint_interval;
    const Seq cp = sender == faulty ? k * (1 + i % (far_top / k))
                                    : k * (high / k + 1 + i % (far_top / k));
    Message m;
    switch (i % 11) {
      case 0: m = c.make_pre_prepare(primary, 0, far, {request}); break;
      case 1: m = c.make_prepare(sender, 0, far, lie(far, sender)); break;
      case 2: m = c.make_commit(sender, 0, far, lie(far, sender)); break;
      case 3: m = c.make_prepare(faulty, 0, in, lie(in, faulty, i)); break;
      case 4: m = c.make_commit(faulty, 0, in, lie(in, faulty, i)); break;
      case 5: m = make_checkpoint(c, sender, cp, lie(cp, sender == 2 ? primary : sender)); break;
      case 6: m = make_fetch(c, sender, 1 + i, static_cast<uint32_t>(i % 5), i, 0); break;
      case 7: m = make_fetch(c, sender, 0, 0, i % leaves, 0); break;
      case 8: m = make_fetch_reply(c, sender, cp, static_cast<uint32_t>(i % 3), i, 0, 1024); break;
      case 9: m = make_status(c, sender, i % 8, 0, i % 2 == 0); break;
      default:
        m = c.make_request(static_cast<ClientId>(2 + i % (clients - 2)), 1 + i,
                           put("p" + std::to_string(i % 1000), "v"));
        break;
    }
    ASSERT_TRUE(flood.deliver(m));
    if (i % 1000 == 0) flood.tick();
  }
  const size_t after = resident_bytes();
  ASSERT_GT(before, 0u) << "/proc/self/statm unreadable";
  const double growth_mib = (static_cast<double>(after) - static_cast<double>(before)) / (1 << 20);
  RecordProperty("rss_growth_kib", std::to_string((static_cast<int64_t>(after) -
                                                   static_cast<int64_t>(before)) / 1024));
  EXPECT_LT(after, before + growth_max) << "RSS grew by " << growth_mib << " MiB";
  EXPECT_EQ(c.replica(target).pending_requests(), constants::pending_requests_max);
  EXPECT_TRUE(put_completes(c, "after", "flood"));
}

}  // namespace
}  // namespace pbft::testing
