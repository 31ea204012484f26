// `pbft bench` end to end, briefly: it must work and write what it
// documents (docs/PERFORMANCE.md). No figure is asserted: performance lives
// in the benchmark, not in the test suite.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/integration_harness.h"

namespace pbft::integration {
namespace {

using ::testing::HasSubstr;

std::filesystem::path temp_dir() {
  char pattern[] = "/tmp/pbft-itest-bench-XXXXXX";
  return mkdtemp(pattern);
}

nlohmann::json read_json(const std::filesystem::path& file) {
  nlohmann::json j = nlohmann::json::parse(read_text(file), nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << file << " is not JSON";
  return j;
}

void expect_documented_keys(const nlohmann::json& j, uint32_t servers) {
  ASSERT_TRUE(j.is_object());
  ASSERT_TRUE(j.contains("throughput_ops_per_s"));
  EXPECT_GT(j["throughput_ops_per_s"].get<double>(), 0);
  const nlohmann::json& l = j.at("latency_us");
  for (const char* key : {"p50", "p90", "p99", "p999", "max"}) {
    ASSERT_TRUE(l.contains(key)) << key;
  }
  EXPECT_GT(l["p50"].get<uint64_t>(), 0u);
  EXPECT_LE(l["p50"].get<uint64_t>(), l["p90"].get<uint64_t>());
  EXPECT_LE(l["p90"].get<uint64_t>(), l["p99"].get<uint64_t>());
  EXPECT_LE(l["p99"].get<uint64_t>(), l["p999"].get<uint64_t>());
  EXPECT_LE(l["p999"].get<uint64_t>(), l["max"].get<uint64_t>());
  EXPECT_GT(j.at("operations").get<uint64_t>(), 0u);
  EXPECT_TRUE(j.at("commit").is_string());
  EXPECT_GE(j.at("machine").at("cores").get<int>(), 1);
  EXPECT_TRUE(j.at("machine").at("cpu_model").is_string());
  EXPECT_TRUE(j.at("options").is_object());
  EXPECT_GE(j.at("load_generator").at("cpu_s").get<double>(), 0);
  ASSERT_EQ(j.at("replicas").size(), servers);
}

TEST(IntegrationBench, LocalClusterRunWritesTheDocumentedJson) {
  const std::filesystem::path dir = temp_dir();
  const std::filesystem::path json = dir / "bench.json";
  ProcessResult r = run_pbft({"bench", "--duration", "1.5", "--warmup", "0.5", "--clients", "2",
                              "--outstanding", "4", "--json", json.string(), "--dir",
                              (dir / "cluster").string()},
                             dir, seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("measuring"));
  EXPECT_THAT(r.out, HasSubstr("throughput"));
  EXPECT_THAT(r.out, HasSubstr("p99.9"));
  const nlohmann::json j = read_json(json);
  expect_documented_keys(j, 4);
  EXPECT_EQ(j["options"]["replicas"], 4);
  EXPECT_EQ(j["options"]["sessions"], 8);
  // The bench's default is the cluster's, signed requests; the JSON keeps
  // its own words for it ("sig" or "mac").
  EXPECT_EQ(j["options"]["auth"], "sig");
  for (const nlohmann::json& replica : j["replicas"]) {
    EXPECT_GT(replica.at("cpu_s_per_1000_ops").get<double>(), 0);
    EXPECT_GT(replica.at("messages_sent_per_op").get<double>(), 0);
    EXPECT_GT(replica.at("rss_kib").get<uint64_t>(), 0u);
  }
  EXPECT_GE(j.at("batch_size_mean").get<double>(), 1.0);
  EXPECT_EQ(j.at("view_changes"), 0);
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);
}

TEST(IntegrationBench, UnreplicatedBaselineAndQuietJsonLine) {
  const std::filesystem::path dir = temp_dir();
  ProcessResult r = run_pbft({"bench", "--unreplicated", "--duration", "1", "--warmup", "0.3",
                              "--clients", "1", "--outstanding", "2", "--request-size", "100",
                              "--reply-size", "200", "--quiet", "--dir",
                              (dir / "cluster").string()},
                             dir, seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << "--quiet prints one JSON object: " << r.out;
  expect_documented_keys(j, 1);
  EXPECT_EQ(j["options"]["unreplicated"], true);
  EXPECT_EQ(j["options"]["replicas"], 1);
  EXPECT_EQ(j["options"]["reply_size"], 200);
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);
}

TEST(IntegrationBench, KvWorkloadHistoryIsLinearizable) {
  const std::filesystem::path dir = temp_dir();
  const std::filesystem::path history_file = dir / "history.jsonl";
  ProcessResult r = run_pbft({"bench", "--workload", "kv", "--keys", "4", "--history",
                              history_file.string(), "--duration", "1", "--warmup", "0.3",
                              "--clients", "2", "--outstanding", "2", "--client-auth", "signature", "--dir",
                              (dir / "cluster").string()},
                             dir, seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  Result<std::vector<history::Entry>> entries = history::read_file(history_file.string());
  ASSERT_TRUE(entries.is_ok()) << entries.reason();
  ASSERT_GT(entries->size(), 10u);
  const uint64_t year_2020_ns = 1'577'836'800ull * 1'000'000'000ull;
  EXPECT_GT(entries->front().call_ns, year_2020_ns) << "times are wall-clock nanoseconds";
  const history::CheckResult check = history::check_linearizable(*entries);
  EXPECT_TRUE(check.complete) << check.explanation;
  EXPECT_TRUE(check.linearizable) << check.explanation;
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);
}

TEST(IntegrationBench, DrivesARunningClusterFromItsFile) {
  TestCluster cluster;
  cluster.start_all();
  ASSERT_TRUE(eventually(seconds(10), [&] { return cluster.all_connected(); }));
  const std::filesystem::path json = cluster.dir() / "bench.json";
  ProcessResult r = run_pbft({"bench", "--config", cluster.config().string(), "--duration", "1",
                              "--warmup", "0.3", "--clients", "2", "--outstanding", "3", "--json",
                              json.string()},
                             cluster.dir(), seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  expect_documented_keys(read_json(json), 4);
}

TEST(IntegrationBench, RefusesWhatItCannotMeasure) {
  const std::filesystem::path dir = temp_dir();
  ProcessResult r = run_pbft({"bench", "--history", (dir / "h.jsonl").string()}, dir);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("--history needs --workload kv"));
  r = run_pbft({"bench", "--clients", "1024", "--outstanding", "1024"}, dir);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("more sessions"));
  r = run_pbft({"bench", "--workload", "kv", "--request-size", "10"}, dir);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("--workload null only"));
  TestCluster cluster;  // 8 clients in its file
  r = run_pbft({"bench", "--config", cluster.config().string(), "--clients", "3",
                "--outstanding", "3"},
               dir);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("need that many clients"));
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace pbft::integration
