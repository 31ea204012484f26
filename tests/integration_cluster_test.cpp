// Integration tests: real `pbft replica` processes on 127.0.0.1, driven by
// `pbft client` runs and in-process clients over TCP. Each test has its own
// cluster on free ports and kills every child it started when it ends.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "pbft/wire.h"
#include "tests/integration_harness.h"

namespace pbft::integration {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Small checkpoint interval and window, so that checkpoints, a lag beyond
// the window and the recovery horizon come after a few hundred requests.
const std::map<std::string, std::string> fast_checkpoints = {
    {"checkpoint_interval", "16"}, {"log_window", "32"}, {"kv.partitions", "256"}};

TEST(IntegrationCluster, ClientOperationsThroughTheCommandLine) {
  TestCluster cluster;
  cluster.start_all();
  ProcessResult r = cluster.client({"put", "colour", "blue"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "ok\n");
  // Whatever follows the operation is its arguments, even with a '-'.
  r = cluster.client({"--id", "1", "append", "colour", "-green"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = cluster.client({"--id", "2", "get", "colour"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "blue-green\n");
  r = cluster.client({"delete", "colour"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = cluster.client({"get", "colour"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "(not found)\n");
  // Usage errors: non-zero, with the reason.
  r = cluster.client({"get"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("get takes KEY"));
  r = cluster.client({"--id", "4000", "get", "k"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("client 4000 is not listed"));
}

TEST(IntegrationCluster, ClientTimesOutWhenTheClusterIsDown) {
  TestCluster cluster;  // never started
  ProcessResult r = run_pbft({"client", "--config", cluster.config().string(), "--timeout", "1",
                              "put", "k", "v"},
                             cluster.dir());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("timed out after 1.0 s"));
}

TEST(IntegrationCluster, InteractiveShellReadsCommandsFromStdin) {
  TestCluster cluster;
  cluster.start_all();
  write_text(cluster.dir() / "commands", "help\nput a 1 2 3\nappend a !\nget a\nquit\n");
  const std::string command = std::string(PBFT_BINARY) + " client --config " +
                              cluster.config().string() + " < " +
                              (cluster.dir() / "commands").string();
  FILE* p = popen(command.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buffer[256];
  while (fgets(buffer, sizeof buffer, p) != nullptr) out += buffer;
  EXPECT_EQ(pclose(p), 0);
  EXPECT_THAT(out, HasSubstr("commands:"));
  EXPECT_THAT(out, HasSubstr("ok\nok\n1 2 3!\n"));
}

// A backup stopped (SIGSTOP) does not stop the others; continued, it
// catches up (here beyond the log window: by state transfer).
TEST(IntegrationCluster, StoppedBackupCatchesUpAfterContinue) {
  TestCluster cluster(fast_checkpoints);
  cluster.start_all();
  Load load(cluster, 0, 4);
  ASSERT_TRUE(eventually(seconds(10), [&] { return load.completed() > 50; }));
  cluster.signal(3, SIGSTOP);
  const uint64_t before = load.completed();
  ASSERT_TRUE(eventually(seconds(20), [&] { return load.completed() > before + 1000; }))
      << "no progress with one backup stopped";
  const Seq target = max_executed(cluster, 3);
  cluster.signal(3, SIGCONT);
  EXPECT_TRUE(eventually(seconds(30), [&] {
    auto s = cluster.status(3);
    return s && s->last_executed >= target;
  })) << "replica 3 did not catch up to " << target;
  load.stop();
  EXPECT_EQ(load.error(), "");
  EXPECT_TRUE(cluster.alive(3));
  // Signed requests: the backups took turns leaving batches to the others'
  // certificate, and kept going while one of them was stopped.
  uint64_t left_unchecked = 0;
  for (ReplicaId r = 1; r < 4; r++) {
    if (auto s = cluster.status(r)) left_unchecked += s->batches_left_unchecked;
  }
  EXPECT_GT(left_unchecked, 0u);
}

// kill -9 of a backup, restarted: it resumes from its disk (its view, its
// log, its state at its last checkpoint plus the batches it executed since),
// catches up with the others and votes again; no recovery.
TEST(IntegrationCluster, KilledBackupResumesFromItsDiskAndCatchesUp) {
  TestCluster cluster(fast_checkpoints);
  cluster.start_all();
  Load load(cluster, 0, 4);
  ASSERT_TRUE(eventually(seconds(10), [&] { return load.completed() > 100; }));
  cluster.signal(2, SIGKILL);
  const uint64_t before = load.completed();
  ASSERT_TRUE(eventually(seconds(15), [&] { return load.completed() > before + 200; }));
  cluster.start(2);  // same data directory: it resumes
  EXPECT_TRUE(eventually(seconds(40), [&] {
    auto s = cluster.status(2);
    if (!s || s->recovering) return false;
    for (ReplicaId r : {0u, 1u, 3u}) {
      auto other = cluster.status(r);
      if (other && other->low_watermark > s->last_executed) return false;
    }
    return true;
  })) << cluster.log(2);
  load.stop();
  EXPECT_EQ(load.error(), "");
  EXPECT_THAT(cluster.log(2), HasSubstr("resumed from"));
  EXPECT_THAT(cluster.log(2), Not(HasSubstr("recovering (restarted without state)")));
  const history::CheckResult check = history::check_linearizable(load.history());
  EXPECT_TRUE(check.complete && check.linearizable) << check.explanation;
}

// A replica whose data directory is gone is told to recover with --recover.
TEST(IntegrationCluster, WipedBackupWithRecoverFlagCatchesUp) {
  TestCluster cluster(fast_checkpoints);
  cluster.start_all();
  Load load(cluster, 0, 4);
  ASSERT_TRUE(eventually(seconds(10), [&] { return load.completed() > 100; }));
  cluster.signal(1, SIGKILL);
  std::filesystem::remove_all(cluster.data_dir(1));
  cluster.start(1, {"--recover"});
  EXPECT_TRUE(eventually(seconds(40), [&] {
    auto s = cluster.status(1);
    return s && !s->recovering && s->state_transfers_completed > 0 &&
           s->last_executed + 32 >= max_executed(cluster, 1);
  })) << cluster.log(1);
  load.stop();
  EXPECT_EQ(load.error(), "");
}

// ----------------------------------------------------------- bad input

Bytes random_bytes(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  Bytes b(n);
  for (uint8_t& x : b) x = static_cast<uint8_t>(gen());
  return b;
}

// Every kind of bad input on a link, each on its own connection (a bad frame
// closes its link). Cleartext links, so that the test can write frames by
// hand after a hello it signs; no back-off, so that the flood below is
// about the listener's bound alone.
TEST(IntegrationCluster, BadInputIsDroppedAndCountedAndTheReplicaKeepsServing) {
  TestCluster cluster(std::map<std::string, std::string>{{"encryption", "\"none\""}});
  for (ReplicaId r = 0; r < 4; r++) {
    cluster.start(r, r == 1 ? std::vector<std::string>{"--max-connections", "64", "--backoff-ms",
                                                       "0"}
                            : std::vector<std::string>{});
  }
  ASSERT_TRUE(eventually(seconds(15), [&] { return cluster.all_connected(); }));
  const uint16_t port = cluster.port(1);
  std::vector<int> fds;
  // Random bytes instead of a greeting.
  {
    const int fd = connect_to(port);
    ASSERT_GE(fd, 0);
    send_all(fd, random_bytes(4096, 1));
    fds.push_back(fd);
  }
  // A link as replica 2 (which is up, with its own link: a few more are
  // within its share), then frames.
  const runtime::Hello replica2{runtime::Hello::Kind::replica, 2};
  const std::vector<SecretKey> keys2 = {key_of(cluster.cluster(), replica2)};
  auto open_with = [&](const Bytes& bytes) {
    const int fd = raw_link(port, 1, replica2, keys2);
    ASSERT_GE(fd, 0);
    send_all(fd, bytes);
    fds.push_back(fd);
  };
  // A frame with a bad magic.
  Prepare prepare;
  prepare.sender = 2;
  Bytes frame = wire::encode(Message(prepare));
  Bytes bad_header = frame;
  bad_header[0] ^= 0xff;
  open_with(bad_header);
  // A valid header announcing 100 MiB.
  Bytes header(frame.begin(), frame.begin() + 16);
  const uint32_t huge = 100u << 20;
  for (int i = 0; i < 4; i++) header[12 + i] = static_cast<uint8_t>(huge >> (8 * i));
  open_with(header);
  // A well-formed prepare of its own with a wrong signature: decoded, not authentic.
  open_with(frame);
  // A request from a client the cluster file does not list (as a backup's forward).
  Request request;
  request.client = 4000;
  request.operation = {1, 2, 3};
  request.auth = RequestAuth::signature;
  const Bytes unknown_frame = wire::encode(Message(request));
  open_with(unknown_frame);
  // A frame whose body does not decode (a byte after the request).
  Bytes corrupt_frame = unknown_frame;
  corrupt_frame.push_back(0);
  corrupt_frame[12]++;  // the body length, little-endian (no carry for a small body)
  open_with(corrupt_frame);
  EXPECT_TRUE(eventually(seconds(10), [&] {
    auto s = cluster.status(1);
    if (!s) return false;
    const runtime::RuntimeCounters& c = s->counters;
    return c.hello_rejected >= 1 && c.frames_bad_header >= 1 && c.frames_oversized >= 1 &&
           c.frames_unauthentic >= 1 && c.frames_unknown_sender >= 1 &&
           c.frames_undecodable >= 1 && c.links_closed_bad_frame >= 2;
  })) << read_text(cluster.data_dir(1) / "status.json");
  // Then a flood of connections that say nothing (half-open): more than the
  // listener keeps, so the oldest silent ones are evicted, and the rest
  // time out waiting for their hello.
  for (int i = 0; i < 150; i++) {
    const int fd = connect_to(port);
    if (fd >= 0) fds.push_back(fd);
  }
  // The replica keeps serving meanwhile.
  ProcessResult r = cluster.client({"put", "k", "v"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(eventually(seconds(15), [&] {
    auto s = cluster.status(1);
    return s && s->counters.connections_evicted >= 80 && s->counters.hello_timeouts >= 1;
  })) << read_text(cluster.data_dir(1) / "status.json");
  for (int fd : fds) close(fd);
  EXPECT_TRUE(cluster.alive(1));
  r = cluster.client({"--id", "3", "get", "k"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "v\n");
  EXPECT_TRUE(eventually(seconds(5), [&] {
    auto s = cluster.status(1);
    return s && s->requests_executed >= 2;
  }));
}

// ------------------------------------------------ broken cluster files

struct BrokenFile {
  const char* name;
  std::function<std::string(const std::string&)> edit;
  const char* expected;
};

std::string replace_first(std::string s, const std::string& from, const std::string& to) {
  const size_t at = s.find(from);
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

std::string nth_key(const std::string& text, int n) {
  size_t at = 0;
  for (int i = 0; i <= n; i++) at = text.find("public_key = \"", at) + 14;
  return text.substr(at, 64);
}

TEST(IntegrationCluster, ReplicaRejectsEveryKindOfBrokenClusterFile) {
  TestCluster cluster;
  const std::string valid = read_text(cluster.config());
  const std::vector<BrokenFile> cases = {
      {"syntax", [](const std::string& t) { return "f = = 1\n" + t; }, "TOML syntax error"},
      {"f missing", [](const std::string& t) { return replace_first(t, "f = 1\n", ""); },
       "f: "},
      {"f zero", [](const std::string& t) { return replace_first(t, "f = 1\n", "f = 0\n"); },
       "must be in 1.."},
      {"n not 3f+1", [](const std::string& t) { return replace_first(t, "f = 1\n", "f = 2\n"); },
       "n must be 3f+1"},
      {"duplicate id",
       [](const std::string& t) { return replace_first(t, "id = 2\nhost", "id = 1\nhost"); },
       "is listed twice"},
      {"duplicate endpoint",
       [&](const std::string& t) {
         return replace_first(t, "port = " + std::to_string(cluster.port(2)),
                              "port = " + std::to_string(cluster.port(0)));
       },
       "is already used by replicas[0]"},
      {"port range",
       [&](const std::string& t) {
         return replace_first(t, "port = " + std::to_string(cluster.port(1)), "port = 70000");
       },
       "must be in 1..65535"},
      {"short key",
       [](const std::string& t) { return replace_first(t, nth_key(t, 1), "abcd"); },
       "must be 64 hex characters"},
      {"not a point",
       [](const std::string& t) { return replace_first(t, nth_key(t, 2), std::string(64, '0')); },
       "is not a valid Ed25519 public key"},
      {"duplicate key",
       [](const std::string& t) { return replace_first(t, nth_key(t, 1), nth_key(t, 0)); },
       "is the same key as"},
      {"client id range",
       [](const std::string& t) {
         return replace_first(t, "[[clients]]\nid = 0", "[[clients]]\nid = 65536");
       },
       "must be in 0..65535"},
      {"window below interval",
       [](const std::string& t) { return set_key(t, "log_window", "64"); },
       "log_window"},
      {"client_auth",
       [](const std::string& t) { return set_key(t, "client_auth", "\"macs\""); },
       "must be \"mac\" or \"signature\""},
      {"log_level", [](const std::string& t) { return set_key(t, "log_level", "\"loud\""); },
       "log_level"},
      {"kv.partitions", [](const std::string& t) { return set_key(t, "kv.partitions", "0"); },
       "kv.partitions"},
      {"tick_ms", [](const std::string& t) { return set_key(t, "tick_ms", "0"); }, "tick_ms"},
      {"unknown key", [](const std::string& t) { return "checkpoint_intervall = 8\n" + t; },
       "is not a known key"},
  };
  for (const BrokenFile& c : cases) {
    const std::filesystem::path file = cluster.dir() / "broken.toml";
    write_text(file, c.edit(valid));
    ProcessResult r = run_pbft({"replica", "--config", file.string(), "--id", "0"}, cluster.dir(),
                               seconds(10));
    EXPECT_NE(r.exit_code, 0) << c.name;
    EXPECT_THAT(r.err, HasSubstr(c.expected)) << c.name;
    EXPECT_THAT(r.err, HasSubstr("broken.toml")) << c.name;
  }
  // The files around the cluster file.
  ProcessResult r = run_pbft({"replica", "--config", (cluster.dir() / "none.toml").string(),
                              "--id", "0"},
                             cluster.dir());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("cannot open the cluster file"));
  r = run_pbft({"replica", "--config", cluster.config().string(), "--id", "4"}, cluster.dir());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("--id 4 is not a replica"));
  std::filesystem::permissions(cluster.dir() / "replica-0.key",
                               std::filesystem::perms::group_read, std::filesystem::perm_options::add);
  r = run_pbft({"replica", "--config", cluster.config().string(), "--id", "0"}, cluster.dir());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("readable by its owner only"));
  std::filesystem::remove(cluster.dir() / "replica-1.key");
  r = run_pbft({"replica", "--config", cluster.config().string(), "--id", "1"}, cluster.dir());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("does not exist"));
}

TEST(IntegrationCluster, ReplicaExitsNonZeroWhenItsPortIsTaken) {
  TestCluster cluster;
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  addr.sin_port = htons(cluster.port(0));
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  ProcessResult r =
      run_pbft({"replica", "--config", cluster.config().string(), "--id", "0", "--init"},
               cluster.dir(), seconds(10));
  close(fd);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("cannot listen on port"));
  // It never ran, so the next start is still a first start (--init).
  EXPECT_FALSE(std::filesystem::exists(cluster.data_dir(0) / "state"));
}

TEST(IntegrationCluster, DemoWithoutFaultPasses) {
  char pattern[] = "/tmp/pbft-itest-demo-XXXXXX";
  const std::filesystem::path dir = mkdtemp(pattern);
  ProcessResult r = run_pbft({"demo", "--no-fault", "--duration", "3", "--dir",
                              (dir / "cluster").string()},
                             dir, seconds(60));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("ops/s"));
  EXPECT_THAT(r.out, HasSubstr("linearizable"));
  EXPECT_THAT(r.out, HasSubstr("verdict: PASS"));
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);
}

// The demo's fault path with a backup (the primary needs view changes):
// kill -9, the service goes on, the restart catches up by state transfer.
TEST(IntegrationCluster, DemoKillingABackupPasses) {
  char pattern[] = "/tmp/pbft-itest-demo-XXXXXX";
  const std::filesystem::path dir = mkdtemp(pattern);
  ProcessResult r = run_pbft({"demo", "--kill", "backup", "--dir", (dir / "cluster").string()},
                             dir, seconds(90));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("== killing the backup"));
  EXPECT_THAT(r.out, HasSubstr("caught up"));
  EXPECT_THAT(r.out, HasSubstr("verdict: PASS"));
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace pbft::integration
