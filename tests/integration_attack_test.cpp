// Every attack mode of src/attack (test-only) against real replica
// processes, briefly: `pbft bench --attack MODE` for a few seconds on a
// small cluster (n = 4, 2 clients x 8 outstanding, MAC'd requests, nothing
// on disk), checking issue 18's promises under each attack:
//   - the cluster still completes honest requests;
//   - no replica's resident memory goes past a bound (memory_bound_kib);
//   - no honest client waits longer than 2 view-change timeouts.
// Throughput is not asserted: scripts/bench.sh --attacks-only measures it
// against the baseline on a quiet machine (docs/PERFORMANCE.md).
//
// A promise that an attack is known to break today is listed in
// known_weaknesses with the reason: its check then reports instead of
// failing (and says so when the weakness no longer shows), so that the
// list is the record of what is still open, not a test that was loosened.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "src/attack/attacker.h"
#include "tests/integration_harness.h"

namespace pbft::integration {
namespace {

using ::testing::HasSubstr;

std::filesystem::path temp_dir() {
  char pattern[] = "/tmp/pbft-itest-attack-XXXXXX";
  return mkdtemp(pattern);
}

// What a replica may hold at most here, whatever an attacker sends: the
// frames it reads but has not checked yet (constants::verify_bytes_max,
// 128 MiB), its store (bytes_max below, 16 MiB, and the checkpoints'
// copies of what changed), its send queues and the program itself (~15
// MiB). An attack that made a replica hold more would be a leak or a
// missing bound.
constexpr uint64_t memory_bound_kib = 384 * 1024;

// The bounds are the release build's promise: under AddressSanitizer (the
// asan stage of scripts/test.sh) every allocation carries its shadow and
// quarantine, and the code runs several times slower, so there the test
// checks that the cluster serves, not the resource bounds.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool sanitized = true;
#else
constexpr bool sanitized = false;
#endif

enum class Promise : uint8_t { served, memory, latency };

struct KnownWeakness {
  attack::Mode mode;
  Promise promise;
  const char* why;
};
constexpr KnownWeakness known_weaknesses[] = {
    {attack::Mode::partial_auth, Promise::latency,
     "the big-MAC attack (client_auth = \"mac\" only; docs/operations.md): every batch with a "
     "forged request is refused by the backups, and the primary is voted out in every view, so "
     "an honest client waits a view change or more; signed requests (the default) close it"},
};

const KnownWeakness* known(attack::Mode mode, Promise promise) {
  for (const KnownWeakness& k : known_weaknesses) {
    if (k.mode == mode && k.promise == promise) return &k;
  }
  return nullptr;
}

// Checks one promise: a failure fails the test unless it is a known
// weakness, which is reported instead.
void check(attack::Mode mode, Promise promise, bool kept, const std::string& what) {
  const KnownWeakness* weakness = known(mode, promise);
  if (sanitized && promise != Promise::served) {
    if (!kept) std::cout << "not checked under the sanitizers: " << what << "\n";
  } else if (weakness == nullptr) {
    EXPECT_TRUE(kept) << what;
  } else if (!kept) {
    std::cout << "KNOWN WEAKNESS (" << attack::info(mode).name << "): " << what << ": "
              << weakness->why << "\n";
  } else {
    std::cout << "note: the known weakness of " << attack::info(mode).name
              << " did not show in this short run (" << what << "); it does in longer ones "
              << "(docs/PERFORMANCE.md, \"Under attack\"): once it is fixed, remove it from "
              << "known_weaknesses\n";
  }
}

// A short bench under `attack`, its JSON object parsed.
nlohmann::json run_bench(const std::string& attack, const std::filesystem::path& dir,
                         ProcessResult& r) {
  r = run_pbft({"bench", "--attack", attack, "--duration", "4", "--warmup", "1", "--clients", "2",
                "--outstanding", "8", "--client-auth", "mac", "--durability", "none",
                // memory-fill meets the client quota (1 MiB: 16 of its largest values)
                // and the store's total (16 MiB: its 16 clients' quotas) within seconds.
                "--kv-bytes-max", "16777216", "--kv-client-bytes-max", "1048576", "--quiet",
                "--dir", (dir / "cluster").string()},
               dir, seconds(90));
  return nlohmann::json::parse(r.out, nullptr, false);
}

}  // namespace
}  // namespace pbft::integration

namespace pbft::attack {
// The mode's name in test names and messages (not its byte).
void PrintTo(Mode mode, std::ostream* out) { *out << info(mode).name; }
}  // namespace pbft::attack

namespace pbft::integration {
namespace {

class AttackMode : public ::testing::TestWithParam<attack::Mode> {};

TEST_P(AttackMode, HonestClientsAreServedWithinBoundsUnderAttack) {
  const attack::ModeInfo& mode = attack::info(GetParam());
  const std::filesystem::path dir = temp_dir();
  ProcessResult r;
  const nlohmann::json j = run_bench(std::string(mode.name), dir, r);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ASSERT_TRUE(j.is_object() && j.contains("attack")) << r.out;
  const nlohmann::json& a = j["attack"];
  EXPECT_EQ(a["mode"], mode.name);
  EXPECT_EQ(a["family"], attack::family_name(mode.family));

  // The attacker attacked.
  EXPECT_GT(a["bytes_sent"].get<uint64_t>(), 0u);
  EXPECT_GT(a["connect_attempts"].get<uint64_t>(), 0u);

  // 1. Honest requests complete.
  check(mode.mode, Promise::served, j["operations"].get<uint64_t>() > 0,
        "honest operations completed: " + j["operations"].dump());

  // 2. No replica's memory went past the bound.
  ASSERT_EQ(a["replicas_peak_rss_kib"].size(), 4u);
  for (size_t i = 0; i < 4; i++) {
    const nlohmann::json& kib = a["replicas_peak_rss_kib"][i];
    if (mode.family == attack::Family::replica && i == 3) {
      EXPECT_TRUE(kib.is_null()) << "replica 3 is the attacker";
      continue;
    }
    ASSERT_TRUE(kib.is_number()) << "replica " << i;
    check(mode.mode, Promise::memory, kib.get<uint64_t>() < memory_bound_kib,
          "replica " + std::to_string(i) + "'s peak RSS " + kib.dump() + " KiB (bound " +
              std::to_string(memory_bound_kib) + ")");
  }

  // 3. No honest client waited longer than 2 view-change timeouts.
  const double bound_us = 2 * a["view_change_timeout_ms"].get<double>() * 1000;
  check(mode.mode, Promise::latency, a["honest_latency_max_us"].get<double>() < bound_us,
        "the longest honest wait " + a["honest_latency_max_us"].dump() + " us (bound " +
            std::to_string(static_cast<uint64_t>(bound_us)) + " us)");

  switch (mode.family) {
    case attack::Family::network:
      EXPECT_GT(a["connections_opened"].get<uint64_t>(), 0u);
      break;
    case attack::Family::client:
      EXPECT_GT(a["requests_sent"].get<uint64_t>(), 0u);
      break;
    case attack::Family::replica:
      EXPECT_EQ(a["replaced_replica"], 3);
      EXPECT_GT(a["frames_sent"].get<uint64_t>(), 0u);
      break;
  }
  if (GetParam() == attack::Mode::memory_fill) {
    // It went on past its quota.
    EXPECT_GT(a["writes_quota"].get<uint64_t>() + a["writes_full"].get<uint64_t>(), 0u);
  }
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);
}

std::vector<attack::Mode> implemented_modes() {
  std::vector<attack::Mode> modes;
  for (const attack::ModeInfo& m : attack::mode_table) {
    // (slow-primary has no attacker process: its own test below.)
    if (m.implemented && m.mode != attack::Mode::slow_primary) modes.push_back(m.mode);
  }
  return modes;
}

INSTANTIATE_TEST_SUITE_P(Every, AttackMode, ::testing::ValuesIn(implemented_modes()),
                         [](const ::testing::TestParamInfo<attack::Mode>& p) {
                           std::string name(attack::info(p.param).name);
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(IntegrationAttack, NoneIsTheBaselineWithTheSameReport) {
  const std::filesystem::path dir = temp_dir();
  ProcessResult r;
  const nlohmann::json j = run_bench("none", dir, r);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ASSERT_TRUE(j.contains("attack")) << "--attack given, even none: the report has the object";
  EXPECT_EQ(j["attack"]["mode"], "none");
  EXPECT_FALSE(j["attack"].contains("frames_sent"));
  EXPECT_EQ(j["attack"]["replicas_peak_rss_kib"].size(), 4u);
  EXPECT_GT(j["attack"]["honest_latency_max_us"].get<uint64_t>(), 0u);
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);
}

// View 0's primary holds each pre-prepare back 90% of the view-change
// timeout (2 s): the backups' throughput expectation (src/core/
// primary_monitor.h) replaces it, and no honest client waits 2 timeouts.
TEST(IntegrationAttack, ASlowPrimaryIsReplaced) {
  const std::filesystem::path dir = temp_dir();
  ProcessResult r;
  const nlohmann::json j = run_bench("slow-primary", dir, r);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ASSERT_TRUE(j.is_object() && j.contains("attack")) << r.out;
  const nlohmann::json& a = j["attack"];
  EXPECT_EQ(a["mode"], "slow-primary");
  EXPECT_GT(j["operations"].get<uint64_t>(), 0u);
  const double bound_us = 2 * a["view_change_timeout_ms"].get<double>() * 1000;
  if (!sanitized) {
    EXPECT_LT(a["honest_latency_max_us"].get<double>(), bound_us) << r.out;
  }
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);
}

TEST(IntegrationAttack, AWrongModeStartsNothing) {
  const std::filesystem::path dir = temp_dir();
  ProcessResult r = run_pbft({"bench", "--attack", "partial-auth", "--client-auth", "signature"}, dir);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("--client-auth mac"));
  r = run_pbft({"bench", "--attack", "no-such-attack"}, dir);
  EXPECT_NE(r.exit_code, 0);
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace pbft::integration
