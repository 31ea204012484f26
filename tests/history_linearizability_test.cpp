// The linearizability checker (include/pbft/history.h), checked against
// hand-made histories whose verdict is known, against a brute-force oracle
// that tries every order on small histories, and against histories made by
// running the real store (kv::Store) sequentially and stretching each
// operation into an interval around its linearization point (Herlihy and
// Wing's definition, read backwards: such a history is linearizable by
// construction).

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <string>

#include "pbft/history.h"
#include "pbft/kv.h"

namespace pbft::history {
namespace {

// --- Building histories ---------------------------------------------------

Entry ok_put(ClientId c, std::string key, std::string value, uint64_t call, uint64_t ret) {
  return {c, OpKind::put, std::move(key), std::move(value), call, ret, Outcome::ok};
}
Entry ok_append(ClientId c, std::string key, std::string value, uint64_t call, uint64_t ret) {
  return {c, OpKind::append, std::move(key), std::move(value), call, ret, Outcome::ok};
}
Entry ok_delete(ClientId c, std::string key, uint64_t call, uint64_t ret) {
  return {c, OpKind::del, std::move(key), std::nullopt, call, ret, Outcome::ok};
}
Entry ok_get(ClientId c, std::string key, std::optional<std::string> result, uint64_t call,
             uint64_t ret) {
  return {c, OpKind::get, std::move(key), std::move(result), call, ret, Outcome::ok};
}
Entry unknown(Entry e) {
  e.status = Outcome::unknown;
  e.return_ns.reset();
  if (e.op == OpKind::get) e.value.reset();
  return e;
}
Entry failed(Entry e) {
  e.status = Outcome::fail;
  if (e.op == OpKind::get) e.value.reset();
  return e;
}

std::string dump(const std::vector<Entry>& entries) {
  std::string out;
  for (const Entry& e : entries) out += to_json_line(e) + "\n";
  return out;
}

// --- The brute-force oracle -------------------------------------------------

// Tries every order of the operations that respects real time (an operation
// that returned before another was called precedes it; equal times are
// concurrent), each unknown operation in it or left out, running them on the
// real store. Exponential: for small histories only. Entries listed in
// `optional` completed but may be left out, which the checker's windows need.
class Oracle {
 public:
  explicit Oracle(const std::vector<Entry>& entries, const std::set<size_t>& optional = {}) {
    for (size_t i = 0; i < entries.size(); ++i) {
      const Entry& e = entries[i];
      if (e.status == Outcome::fail) continue;
      if (e.status == Outcome::unknown && e.op == OpKind::get) continue;
      optional_.push_back(e.status == Outcome::unknown || optional.count(i) > 0);
      ops_.push_back(e);
    }
    EXPECT_LE(ops_.size(), 16u);
  }

  bool linearizable() {
    kv::Store store;
    return search(0, store);
  }

 private:
  static bool done(uint32_t mask, size_t i) { return (mask >> i) & 1; }

  bool search(uint32_t mask, const kv::Store& store) {
    bool complete = true;
    for (size_t i = 0; i < ops_.size(); ++i) {
      if (!done(mask, i) && !optional_[i]) complete = false;
    }
    if (complete) return true;
    if (!failed_.insert({mask, fingerprint(store)}).second) return false;
    for (size_t i = 0; i < ops_.size(); ++i) {
      if (done(mask, i)) continue;
      // An optional operation may be left out at any point.
      if (optional_[i] && search(mask | (1u << i), store)) return true;
      if (!may_go_next(mask, i)) continue;
      kv::Store next = store;
      if (!apply(next, ops_[i])) continue;
      if (search(mask | (1u << i), next)) return true;
    }
    return false;
  }

  // Whether op i may take effect now: every operation that returned before
  // its call has taken effect or been left out.
  bool may_go_next(uint32_t mask, size_t i) const {
    for (size_t j = 0; j < ops_.size(); ++j) {
      if (j == i || done(mask, j) || !ops_[j].return_ns) continue;
      if (*ops_[j].return_ns < ops_[i].call_ns) return false;
    }
    return true;
  }

  static Bytes bytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

  static bool apply(kv::Store& store, const Entry& e) {
    kv::Op op{kv::OpType::get, bytes(e.key), {}};
    switch (e.op) {
      case OpKind::get: op.type = kv::OpType::get; break;
      case OpKind::put: op.type = kv::OpType::put; break;
      case OpKind::del: op.type = kv::OpType::del; break;
      case OpKind::append: op.type = kv::OpType::append; break;
    }
    if (e.op == OpKind::put || e.op == OpKind::append) op.value = bytes(*e.value);
    const kv::OpResult result = store.apply(0, op);
    if (e.op != OpKind::get) return result.code == kv::Code::ok;
    if (result.code == kv::Code::not_found) return !e.value.has_value();
    return e.value && bytes(*e.value) == result.value;
  }

  std::string fingerprint(const kv::Store& store) const {
    std::string out;
    for (const std::string& key : keys()) {
      auto value = store.get(bytes(key));
      out += value ? "=" + std::string(value->begin(), value->end()) : std::string("-");
      out += '\0';
    }
    return out;
  }

  std::set<std::string> keys() const {
    std::set<std::string> keys;
    for (const Entry& e : ops_) keys.insert(e.key);
    return keys;
  }

  std::vector<Entry> ops_;
  std::vector<bool> optional_;
  std::set<std::pair<uint32_t, std::string>> failed_;
};

void expect_linearizable(const std::vector<Entry>& entries) {
  const CheckResult r = check_linearizable(entries);
  EXPECT_TRUE(r.linearizable) << r.explanation << "\n" << dump(entries);
  EXPECT_TRUE(r.complete);
  EXPECT_TRUE(Oracle(entries).linearizable()) << "the oracle disagrees with the test";
}

CheckResult expect_violation(const std::vector<Entry>& entries) {
  const CheckResult r = check_linearizable(entries);
  EXPECT_FALSE(r.linearizable) << dump(entries);
  EXPECT_TRUE(r.complete) << "a violation is a proven verdict";
  EXPECT_FALSE(r.explanation.empty());
  EXPECT_FALSE(Oracle(entries).linearizable()) << "the oracle disagrees with the test";
  return r;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// --- Histories known to be linearizable ---------------------------------------

TEST(Linearizability, EmptyHistory) {
  const CheckResult r = check_linearizable({});
  EXPECT_TRUE(r.linearizable);
  EXPECT_TRUE(r.complete);
}

TEST(Linearizability, SequentialHistoryFollowingTheSpecification) {
  expect_linearizable({ok_get(1, "k", std::nullopt, 0, 1), ok_put(1, "k", "a", 2, 3),
                       ok_get(2, "k", "a", 4, 5), ok_delete(1, "k", 6, 7),
                       ok_get(2, "k", std::nullopt, 8, 9), ok_delete(2, "k", 10, 11)});
}

TEST(Linearizability, ConcurrentPutAndGetResolvedEitherWay) {
  // The get overlaps the put, so it may take effect before or after it.
  expect_linearizable({ok_put(1, "k", "a", 0, 10), ok_get(2, "k", "a", 5, 15)});
  expect_linearizable({ok_put(1, "k", "a", 0, 10), ok_get(2, "k", std::nullopt, 5, 15)});
  // Both outcomes in one history: the first read before the put, the second after.
  expect_linearizable({ok_put(1, "k", "a", 0, 100), ok_get(2, "k", std::nullopt, 10, 20),
                       ok_get(2, "k", "a", 30, 40)});
}

TEST(Linearizability, TouchingIntervalsCountAsConcurrent) {
  // A get called at the instant the put returned may precede it: equal
  // timestamps do not order operations.
  expect_linearizable({ok_put(1, "k", "a", 0, 10), ok_get(2, "k", std::nullopt, 10, 20)});
}

TEST(Linearizability, AppendChains) {
  expect_linearizable({ok_append(1, "k", "a", 0, 10), ok_append(1, "k", "b", 20, 30),
                       ok_get(2, "k", "ab", 40, 50), ok_append(2, "k", "", 60, 70),
                       ok_get(1, "k", "ab", 80, 90)});
  // Concurrent appends: either order, as long as every reader sees the same one.
  expect_linearizable({ok_append(1, "k", "a", 0, 10), ok_append(2, "k", "b", 0, 10),
                       ok_get(3, "k", "ba", 20, 30), ok_get(1, "k", "ba", 40, 50)});
  expect_linearizable({ok_append(1, "k", "a", 0, 10), ok_append(2, "k", "b", 0, 10),
                       ok_get(3, "k", "ab", 20, 30)});
  // A read in the middle of two concurrent appends.
  expect_linearizable({ok_append(1, "k", "a", 0, 100), ok_append(2, "k", "b", 0, 100),
                       ok_get(3, "k", "b", 10, 20), ok_get(3, "k", "ba", 110, 120)});
}

TEST(Linearizability, DeleteAndRecreate) {
  expect_linearizable({ok_put(1, "k", "a", 0, 10), ok_delete(2, "k", 20, 30),
                       ok_append(1, "k", "b", 40, 50), ok_get(2, "k", "b", 60, 70)});
}

TEST(Linearizability, UnknownOperationThatTookEffect) {
  // The put's outcome is unknown; a later read shows it happened.
  expect_linearizable({unknown(ok_put(1, "k", "a", 0, 0)), ok_get(2, "k", "a", 100, 110)});
  // ... and it may take effect long after its call, after other operations.
  expect_linearizable({unknown(ok_put(1, "k", "b", 0, 0)), ok_put(2, "k", "a", 10, 20),
                       ok_get(2, "k", "a", 30, 40), ok_get(3, "k", "b", 50, 60)});
}

TEST(Linearizability, UnknownOperationThatDidNotTakeEffect) {
  expect_linearizable({unknown(ok_put(1, "k", "a", 0, 0)), ok_get(2, "k", std::nullopt, 100, 110)});
  expect_linearizable({unknown(ok_append(1, "k", "x", 0, 0)), ok_append(2, "k", "y", 10, 20),
                       ok_get(2, "k", "y", 30, 40)});
}

TEST(Linearizability, FailedOperationsAndUnknownReadsAreIgnored) {
  expect_linearizable({failed(ok_put(1, "k", "a", 0, 10)), ok_get(2, "k", std::nullopt, 20, 30),
                       unknown(ok_get(3, "k", "zzz", 40, 0))});
}

TEST(Linearizability, KeysAreIndependent) {
  // Each key alone is linearizable; locality makes the whole so.
  expect_linearizable({ok_put(1, "a", "1", 0, 10), ok_put(2, "b", "2", 0, 10),
                       ok_get(3, "a", "1", 20, 30), ok_get(3, "b", "2", 20, 30),
                       ok_get(1, "c", std::nullopt, 40, 50)});
}

TEST(Linearizability, BinaryKeysAndValues) {
  const std::string key("\0k\xff", 3);
  const std::string value("\0\x01", 2);
  expect_linearizable({ok_put(1, key, value, 0, 10), ok_get(2, key, value, 20, 30),
                       ok_get(2, std::string("\0k", 2), std::nullopt, 20, 30)});
  expect_violation({ok_put(1, key, value, 0, 10), ok_get(2, key, std::string("\0", 1), 20, 30)});
}

// --- Histories known not to be linearizable -------------------------------------

TEST(Linearizability, StaleReadAfterACompletedWrite) {
  const CheckResult r = expect_violation({ok_put(1, "k1", "a", 0, 10), ok_put(1, "k1", "b", 20, 30),
                                          ok_get(2, "k1", "a", 40, 50)});
  EXPECT_TRUE(contains(r.explanation, "key \"k1\"")) << r.explanation;
  EXPECT_TRUE(contains(r.explanation, "get -> \"a\"")) << r.explanation;
  EXPECT_TRUE(contains(r.explanation, "put \"b\"")) << r.explanation;
  // The shortest window: put "a" is overwritten by put "b" and is no part of the conflict.
  EXPECT_FALSE(contains(r.explanation, "put \"a\"")) << r.explanation;
}

TEST(Linearizability, ReadMissingACompletedWrite) {
  expect_violation({ok_put(1, "k", "a", 0, 10), ok_get(2, "k", std::nullopt, 20, 30)});
  expect_violation({ok_put(1, "k", "a", 0, 10), ok_delete(1, "k", 20, 30), ok_get(2, "k", "a", 40, 50)});
}

TEST(Linearizability, ReadsObservingTwoOrdersOfConcurrentAppends) {
  const CheckResult r = expect_violation(
      {ok_append(1, "k", "x", 0, 100), ok_append(2, "k", "y", 0, 100), ok_get(3, "k", "xy", 110, 120),
       ok_get(4, "k", "yx", 130, 140)});
  EXPECT_TRUE(contains(r.explanation, "get -> \"xy\"")) << r.explanation;
  EXPECT_TRUE(contains(r.explanation, "get -> \"yx\"")) << r.explanation;
  // Even while the appends are still running, two readers cannot disagree.
  expect_violation({ok_append(1, "k", "x", 0, 1000), ok_append(2, "k", "y", 0, 1000),
                    ok_get(3, "k", "xy", 110, 120), ok_get(4, "k", "yx", 130, 140)});
}

TEST(Linearizability, ValueThatWasNeverWritten) {
  const CheckResult r =
      expect_violation({ok_put(1, "k", "a", 0, 10), ok_get(2, "k", "z", 5, 30)});
  EXPECT_TRUE(contains(r.explanation, "get -> \"z\"")) << r.explanation;
  expect_violation({ok_get(2, "k", "z", 5, 30)});
  expect_violation({ok_append(1, "k", "a", 0, 10), ok_get(2, "k", "aa", 20, 30)});
}

TEST(Linearizability, ReadSeeingAFailedWrite) {
  const CheckResult r =
      expect_violation({failed(ok_put(1, "k", "a", 0, 10)), ok_get(2, "k", "a", 20, 30)});
  EXPECT_TRUE(contains(r.explanation, "before them the key was absent")) << r.explanation;
}

TEST(Linearizability, UnknownWriteCannotBeUndone) {
  // The unknown put took effect (the second read), so the first value
  // cannot come back.
  expect_violation({ok_put(1, "k", "a", 0, 10), unknown(ok_put(2, "k", "b", 20, 0)),
                    ok_get(3, "k", "a", 30, 40), ok_get(3, "k", "b", 50, 60),
                    ok_get(3, "k", "a", 70, 80)});
}

TEST(Linearizability, ReadersDisagreeOnConcurrentPuts) {
  expect_violation({ok_put(1, "k", "a", 0, 100), ok_put(2, "k", "b", 0, 100),
                    ok_get(3, "k", "a", 110, 120), ok_get(3, "k", "b", 130, 140),
                    ok_get(4, "k", "a", 150, 160)});
}

TEST(Linearizability, ExplanationIsAShortWindowOfALongHistory) {
  // 2000 clean sequential operations, then one stale read. The explanation
  // names the few operations involved, not the whole history.
  std::vector<Entry> entries;
  uint64_t t = 0;
  for (int i = 0; i < 1000; ++i) {
    entries.push_back(ok_put(1, "k", "v" + std::to_string(i), t, t + 5));
    entries.push_back(ok_get(2, "k", "v" + std::to_string(i), t + 10, t + 15));
    t += 20;
  }
  entries.push_back(ok_get(3, "k", "v998", t, t + 5));
  entries.push_back(ok_put(1, "k", "w", t + 10, t + 15));
  const CheckResult r = check_linearizable(entries);
  ASSERT_FALSE(r.linearizable);
  EXPECT_TRUE(r.complete);
  EXPECT_TRUE(contains(r.explanation, "get -> \"v998\"")) << r.explanation;
  EXPECT_TRUE(contains(r.explanation, "put \"v999\"")) << r.explanation;
  EXPECT_TRUE(contains(r.explanation, "entry 2000")) << "entries are named by their index";
  EXPECT_LE(std::count(r.explanation.begin(), r.explanation.end(), '\n'), 4) << r.explanation;
  std::cout << "example explanation:\n" << r.explanation << "\n";
}

TEST(Linearizability, FirstViolatingKeyIsReported) {
  const CheckResult r = check_linearizable(
      {ok_put(1, "good", "a", 0, 10), ok_get(2, "good", "a", 20, 30), ok_put(1, "bad", "a", 0, 10),
       ok_get(2, "bad", std::nullopt, 20, 30)});
  EXPECT_FALSE(r.linearizable);
  EXPECT_TRUE(contains(r.explanation, "key \"bad\"")) << r.explanation;
  EXPECT_FALSE(contains(r.explanation, "\"good\"")) << r.explanation;
}

// --- Budget and malformed input -------------------------------------------------

std::vector<Entry> many_concurrent_puts(const std::string& key, int count) {
  std::vector<Entry> entries;
  for (int i = 0; i < count; ++i) entries.push_back(ok_put(ClientId(i), key, std::to_string(i), 0, 1000));
  return entries;
}

TEST(Linearizability, BudgetExhaustedIsUndecidedNotLinearizable) {
  const CheckResult r = check_linearizable(many_concurrent_puts("k", 30), 10);
  EXPECT_FALSE(r.complete);
  EXPECT_FALSE(r.linearizable) << "linearizable is claimed only when proven";
  EXPECT_TRUE(contains(r.explanation, "undecided")) << r.explanation;
  EXPECT_TRUE(contains(r.explanation, "\"k\"")) << r.explanation;
  EXPECT_TRUE(check_linearizable(many_concurrent_puts("k", 30)).linearizable);
}

TEST(Linearizability, LocalViolationIsProvenWhenTheFullSearchRunsOut) {
  // The full search drowns in the orders of 30 concurrent puts and their
  // read (every order but one fails only at the read), but the stale read
  // at the end is a violation on its own: a window around it proves it.
  std::vector<Entry> entries = many_concurrent_puts("k", 30);
  entries.push_back(ok_get(1, "k", "7", 1500, 1600));
  entries.push_back(ok_put(1, "k", "z", 2000, 2100));
  entries.push_back(ok_get(2, "k", "5", 3000, 3100));
  const CheckResult r = check_linearizable(entries, 2000);
  EXPECT_FALSE(r.linearizable);
  EXPECT_TRUE(r.complete) << r.explanation;
  EXPECT_TRUE(contains(r.explanation, "get -> \"5\"")) << r.explanation;
  EXPECT_TRUE(contains(r.explanation, "put \"z\"")) << r.explanation;
}

TEST(Linearizability, ViolationOnOneKeyIsProvenEvenIfAnotherKeyIsUndecided) {
  std::vector<Entry> entries = many_concurrent_puts("a", 30);
  entries.push_back(ok_put(1, "b", "x", 0, 1));
  entries.push_back(ok_get(1, "b", std::nullopt, 2, 3));
  const CheckResult r = check_linearizable(entries, 10);
  EXPECT_FALSE(r.linearizable);
  EXPECT_TRUE(r.complete);
  EXPECT_TRUE(contains(r.explanation, "key \"b\"")) << r.explanation;
}

TEST(Linearizability, MalformedEntriesAreRejectedWithAReason) {
  Entry no_return = ok_put(1, "k", "a", 10, 20);
  no_return.return_ns.reset();
  CheckResult r = check_linearizable({ok_get(1, "k", std::nullopt, 0, 1), no_return});
  EXPECT_FALSE(r.linearizable);
  EXPECT_FALSE(r.complete);
  EXPECT_TRUE(contains(r.explanation, "entry 1")) << r.explanation;

  r = check_linearizable({ok_put(1, "k", "a", 20, 10)});
  EXPECT_FALSE(r.complete);
  EXPECT_TRUE(contains(r.explanation, "before call_ns")) << r.explanation;

  Entry no_value = ok_append(1, "k", "a", 0, 1);
  no_value.value.reset();
  EXPECT_FALSE(check_linearizable({no_value}).complete);
  EXPECT_FALSE(check_linearizable({unknown(no_value)}).complete) << "whatever the outcome";
}

// --- Randomized ------------------------------------------------------------------

// Random small histories with no structure at all: the checker and the
// oracle must agree on every one.
TEST(LinearizabilityRandom, AgreesWithBruteForceOnArbitrarySmallHistories) {
  std::mt19937_64 rng(12345);
  const std::vector<std::optional<std::string>> reads = {std::nullopt, "a", "b", "ab", "ba", "aa", ""};
  int violations = 0;
  const int histories = 6000;
  for (int h = 0; h < histories; ++h) {
    std::vector<Entry> entries;
    const int n = 1 + static_cast<int>(rng() % 8);
    const bool two_keys = rng() % 4 == 0;
    for (int i = 0; i < n; ++i) {
      const std::string key = two_keys && rng() % 2 ? "y" : "x";
      const uint64_t call = rng() % 20;
      const uint64_t ret = call + rng() % 10;
      Entry e;
      switch (rng() % 5) {
        case 0: e = ok_put(ClientId(i), key, rng() % 2 ? "a" : "b", call, ret); break;
        case 1: e = ok_append(ClientId(i), key, rng() % 2 ? "a" : "b", call, ret); break;
        case 2: e = ok_delete(ClientId(i), key, call, ret); break;
        default: e = ok_get(ClientId(i), key, reads[rng() % reads.size()], call, ret); break;
      }
      const uint64_t status = rng() % 10;
      if (status == 0) e = unknown(e);
      if (status == 1) e = failed(e);
      entries.push_back(e);
    }
    const bool expected = Oracle(entries).linearizable();
    const CheckResult r = check_linearizable(entries);
    ASSERT_TRUE(r.complete);
    ASSERT_EQ(r.linearizable, expected) << r.explanation << "\n" << dump(entries);
    if (!expected) {
      ++violations;
      ASSERT_TRUE(contains(r.explanation, "key \"")) << r.explanation;
    }
  }
  // Both verdicts must be well represented for the agreement to mean much.
  EXPECT_GT(violations, histories / 5);
  EXPECT_LT(violations, histories * 4 / 5);
}

// The entry indices listed in each part of an explanation.
struct ExplainedWindow {
  std::vector<size_t> window;
  std::vector<size_t> concurrent;
  std::vector<size_t> before;
};

ExplainedWindow parse_explanation(const std::string& text) {
  ExplainedWindow parsed;
  std::vector<size_t>* part = &parsed.window;
  size_t line_start = 0;
  while (line_start < text.size()) {
    size_t line_end = text.find('\n', line_start);
    if (line_end == std::string::npos) line_end = text.size();
    const std::string line = text.substr(line_start, line_end - line_start);
    if (contains(line, "overlapping writes")) part = &parsed.concurrent;
    if (contains(line, "before them")) part = &parsed.before;
    if (const size_t at = line.find("entry "); at != std::string::npos && line.find(':', at) != std::string::npos) {
      part->push_back(std::stoul(line.substr(at + 6)));
    }
    line_start = line_end + 1;
  }
  return parsed;
}

// The window an explanation shows must be real evidence: rebuilt here from
// the history alone, without trusting the checker's lists of concurrent and
// earlier operations, it must have no linearization. The rebuild: the
// window's operations as recorded; every other operation that had not
// returned when the window's first operation was called, as optional (it
// may be left out; an unknown one stays unknown); and, as the starting
// state, what one of the last writes that had returned left (writes that no
// other such write follows in real time). The rebuilt history is at least
// as permissive as the window, so this checks that the window does not
// blame operations that another order would explain. (An earlier append
// leaves "some value ending in its argument", which the oracle cannot
// enumerate; such histories are skipped.)
TEST(LinearizabilityRandom, ExplainedWindowsAreEvidenceOnTheirOwn) {
  std::mt19937_64 rng(31337);
  const std::vector<std::optional<std::string>> reads = {std::nullopt, "a", "b", "ab", "ba", "c"};
  int checked = 0;
  int shorter = 0;
  for (int h = 0; h < 3000; ++h) {
    std::vector<Entry> entries;
    const int n = 3 + static_cast<int>(rng() % 9);
    for (int i = 0; i < n; ++i) {
      const uint64_t call = 2 + rng() % 30;  // after the starting write placed at [0, 1]
      const uint64_t ret = call + rng() % 8;
      Entry e;
      switch (rng() % 5) {
        case 0: e = ok_put(ClientId(i), "k", rng() % 2 ? "a" : "b", call, ret); break;
        case 1: e = ok_append(ClientId(i), "k", rng() % 2 ? "a" : "b", call, ret); break;
        case 2: e = ok_delete(ClientId(i), "k", call, ret); break;
        default: e = ok_get(ClientId(i), "k", reads[rng() % reads.size()], call, ret); break;
      }
      if (rng() % 8 == 0) e = unknown(e);
      entries.push_back(e);
    }
    const CheckResult r = check_linearizable(entries);
    if (r.linearizable) continue;
    const ExplainedWindow w = parse_explanation(r.explanation);
    ASSERT_FALSE(w.window.empty()) << r.explanation;

    const std::set<size_t> window(w.window.begin(), w.window.end());
    uint64_t start = UINT64_MAX;
    for (size_t k : window) start = std::min(start, entries[k].call_ns);
    std::vector<size_t> earlier_writes;
    std::vector<Entry> rebuilt;
    std::set<size_t> optional;
    for (size_t k = 0; k < entries.size(); ++k) {
      const Entry& e = entries[k];
      if (window.count(k)) {
        rebuilt.push_back(e);
      } else if (e.status == Outcome::ok && *e.return_ns < start) {
        if (e.op != OpKind::get) earlier_writes.push_back(k);
      } else {
        optional.insert(rebuilt.size());
        rebuilt.push_back(e);
      }
    }
    std::vector<size_t> last_writes;
    bool after_append = false;
    for (size_t k : earlier_writes) {
      bool followed = false;
      for (size_t o : earlier_writes) followed |= *entries[k].return_ns < entries[o].call_ns;
      if (followed) continue;
      last_writes.push_back(k);
      after_append |= entries[k].op == OpKind::append;
    }
    EXPECT_EQ(std::set<size_t>(w.before.begin(), w.before.end()),
              std::set<size_t>(last_writes.begin(), last_writes.end()))
        << r.explanation << "\n" << dump(entries);
    if (after_append) continue;
    if (last_writes.empty()) {
      EXPECT_FALSE(Oracle(rebuilt, optional).linearizable()) << r.explanation << "\n" << dump(entries);
    }
    for (size_t k : last_writes) {
      std::vector<Entry> from_start = rebuilt;
      Entry first = entries[k];
      first.call_ns = 0;
      first.return_ns = 1;
      from_start.push_back(first);
      EXPECT_FALSE(Oracle(from_start, optional).linearizable()) << r.explanation << "\n" << dump(entries);
    }
    ++checked;
    if (window.size() < entries.size()) ++shorter;
  }
  EXPECT_GT(checked, 500);
  EXPECT_GT(shorter, checked / 2) << "windows are usually shorter than the history";
}

struct GeneratorOptions {
  int operations = 8;
  int keys = 1;
  int clients = 3;
  bool unique_values = false;  // else values from a small alphabet, so mutations may stay legal
  int unknown_percent = 10;
  int fail_percent = 5;
};

// A history of a real sequential store: each client issues operations one
// after another; each operation takes effect at a point inside its
// interval, and the store runs them in the order of those points.
std::vector<Entry> generate_linearizable(std::mt19937_64& rng, const GeneratorOptions& options) {
  struct Planned {
    Entry entry;
    uint64_t point;   // the linearization point
    bool takes_effect;
  };
  std::vector<Planned> planned;
  std::vector<uint64_t> client_free(options.clients, 0);
  for (int i = 0; i < options.operations; ++i) {
    const auto client = static_cast<ClientId>(rng() % options.clients);
    const uint64_t call = client_free[client] + rng() % 20;
    const uint64_t point = call + rng() % 40;
    const uint64_t ret = point + rng() % 40;
    client_free[client] = ret + 1 + rng() % 10;
    const std::string key = "k" + std::to_string(rng() % options.keys);
    const std::string value =
        options.unique_values ? "c" + std::to_string(client) + "." + std::to_string(i) + ";"
                              : std::string(1, static_cast<char>('a' + rng() % 2));
    Entry e;
    switch (rng() % 10) {
      case 0:
      case 1: e = ok_put(client, key, value, call, ret); break;
      case 2:
      case 3: e = ok_append(client, key, value, call, ret); break;
      case 4: e = ok_delete(client, key, call, ret); break;
      default: e = ok_get(client, key, std::nullopt, call, ret); break;
    }
    bool takes_effect = true;
    const int status = static_cast<int>(rng() % 100);
    if (status < options.unknown_percent) {
      e.status = Outcome::unknown;
      e.return_ns.reset();
      takes_effect = rng() % 2;  // an unknown outcome may or may not have happened
      // A client that lost track of an operation moves on.
    } else if (status < options.unknown_percent + options.fail_percent) {
      e.status = Outcome::fail;
      takes_effect = false;
    }
    planned.push_back({e, point, takes_effect});
  }
  std::vector<size_t> order(planned.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return planned[a].point < planned[b].point; });
  kv::Store store;
  for (size_t i : order) {
    Planned& p = planned[i];
    if (!p.takes_effect) continue;
    Entry& e = p.entry;
    const Bytes key(e.key.begin(), e.key.end());
    switch (e.op) {
      case OpKind::get: {
        auto r = store.apply(0, {kv::OpType::get, key, {}});
        if (e.status == Outcome::ok && r.code == kv::Code::ok) {
          e.value = std::string(r.value.begin(), r.value.end());
        }
        break;
      }
      case OpKind::put: store.apply(0, {kv::OpType::put, key, Bytes(e.value->begin(), e.value->end())}); break;
      case OpKind::del: store.apply(0, {kv::OpType::del, key, {}}); break;
      case OpKind::append:
        store.apply(0, {kv::OpType::append, key, Bytes(e.value->begin(), e.value->end())});
        break;
    }
  }
  std::vector<Entry> entries;
  for (const Planned& p : planned) entries.push_back(p.entry);
  return entries;
}

// Changes one completed get's result; returns false if there is none.
bool mutate_one_read(std::mt19937_64& rng, std::vector<Entry>& entries,
                     const std::vector<std::optional<std::string>>& candidates) {
  std::vector<size_t> reads;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].op == OpKind::get && entries[i].status == Outcome::ok) reads.push_back(i);
  }
  if (reads.empty()) return false;
  Entry& e = entries[reads[rng() % reads.size()]];
  std::vector<std::optional<std::string>> others;
  for (const auto& c : candidates) {
    if (c != e.value) others.push_back(c);
  }
  e.value = others[rng() % others.size()];
  return true;
}

TEST(LinearizabilityRandom, GeneratedHistoriesAreLinearizableAndMutationsMatchBruteForce) {
  std::mt19937_64 rng(777);
  const std::vector<std::optional<std::string>> candidates = {std::nullopt, "a", "b", "ab", "ba", "bb"};
  int still_legal = 0;
  int caught = 0;
  for (int h = 0; h < 3000; ++h) {
    GeneratorOptions options;
    options.operations = 2 + static_cast<int>(rng() % 8);
    options.keys = 1 + static_cast<int>(rng() % 2);
    std::vector<Entry> entries = generate_linearizable(rng, options);
    const CheckResult clean = check_linearizable(entries);
    ASSERT_TRUE(clean.linearizable) << clean.explanation << "\n" << dump(entries);
    ASSERT_TRUE(clean.complete);

    if (!mutate_one_read(rng, entries, candidates)) continue;
    const bool expected = Oracle(entries).linearizable();
    const CheckResult mutated = check_linearizable(entries);
    ASSERT_TRUE(mutated.complete);
    ASSERT_EQ(mutated.linearizable, expected) << mutated.explanation << "\n" << dump(entries);
    (expected ? still_legal : caught)++;
  }
  EXPECT_GT(caught, 500);
  EXPECT_GT(still_legal, 50) << "some mutations must land on another legal value";
}

TEST(LinearizabilityRandom, LargeGeneratedHistoriesAndAReadOfANeverWrittenValue) {
  std::mt19937_64 rng(4242);
  for (int h = 0; h < 20; ++h) {
    GeneratorOptions options;
    options.operations = 400;
    options.keys = 3;
    options.clients = 6;
    options.unique_values = true;
    std::vector<Entry> entries = generate_linearizable(rng, options);
    const CheckResult clean = check_linearizable(entries);
    ASSERT_TRUE(clean.linearizable) << clean.explanation;
    // No write contains '#', so no sequence of writes can produce this value.
    if (!mutate_one_read(rng, entries, {"#never"})) continue;
    const CheckResult mutated = check_linearizable(entries);
    EXPECT_FALSE(mutated.linearizable);
    EXPECT_TRUE(mutated.complete);
    EXPECT_TRUE(contains(mutated.explanation, "get -> \"#never\"")) << mutated.explanation;
  }
}

// --- Performance ------------------------------------------------------------------

TEST(LinearizabilityPerformance, FiveThousandOperationsTwentyKeysEightClients) {
  std::mt19937_64 rng(99);
  GeneratorOptions options;
  options.operations = 5000;
  options.keys = 20;
  options.clients = 8;
  options.unique_values = true;
  options.unknown_percent = 2;
  options.fail_percent = 2;
  std::vector<Entry> entries = generate_linearizable(rng, options);

  auto start = std::chrono::steady_clock::now();
  const CheckResult clean = check_linearizable(entries);
  const auto clean_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(clean.linearizable) << clean.explanation;
  EXPECT_TRUE(clean.complete);

  ASSERT_TRUE(mutate_one_read(rng, entries, {"#never"}));
  start = std::chrono::steady_clock::now();
  const CheckResult mutated = check_linearizable(entries);
  const auto mutated_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  EXPECT_FALSE(mutated.linearizable);

  std::cout << "5000 ops / 20 keys / 8 clients: linearizable in " << clean_ms
            << " ms; with one bad read, violation and explanation in " << mutated_ms << " ms\n";
  RecordProperty("linearizable_ms", std::to_string(clean_ms));
  RecordProperty("violation_ms", std::to_string(mutated_ms));
  EXPECT_LT(clean_ms, 1000.0);
  EXPECT_LT(mutated_ms, 1000.0);
}

}  // namespace
}  // namespace pbft::history
