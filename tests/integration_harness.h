// Real processes on real sockets for the integration tests: a cluster of
// `pbft replica` processes on free loopback ports (the binary's path comes
// from the PBFT_BINARY compile definition), `pbft client` runs with a time
// limit, and an in-process closed-loop load. Every child is killed when the
// harness goes, whatever the test did.
#pragma once

#include <algorithm>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "pbft/cluster_config.h"
#include "pbft/history.h"
#include "pbft/load.h"
#include "pbft/runtime.h"
#include "src/runtime/link_hello.h"

namespace pbft::integration {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void write_text(const std::filesystem::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::trunc);
  out << text;
}

// Replaces the line `key = ...` of a generated cluster file; a key in a
// table is written with its table ("kv.partitions": `partitions = ...`
// after `[kv]`).
inline std::string set_key(std::string text, const std::string& key, const std::string& value) {
  const size_t dot = key.find('.');
  const std::string name = dot == std::string::npos ? key : key.substr(dot + 1);
  const size_t from = dot == std::string::npos ? 0 : text.find("\n[" + key.substr(0, dot) + "]\n");
  const size_t at = from == std::string::npos ? from : text.find("\n" + name + " = ", from);
  if (at == std::string::npos) {
    ADD_FAILURE() << "no key " << key;
    return text;
  }
  const size_t end = text.find('\n', at + 1);
  text.replace(at + 1, end - at - 1, name + " = " + value);
  return text;
}

inline uint16_t free_base_port(uint32_t n) {
  Result<uint16_t> base = runtime::pick_free_base_port(n);
  EXPECT_TRUE(base.is_ok()) << base.reason();
  return base ? base.value() : 0;
}

// The argv of `pbft ARGS...` for execv. Made before fork: other threads
// (the in-process clients) may hold the allocator's lock at that moment.
// The pointers point into `args`, which must outlive the result.
inline std::vector<char*> pbft_argv(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>("pbft"));
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  return argv;
}

struct ProcessResult {
  int exit_code = -1;  // -1: killed for running too long
  std::string out;
  std::string err;
};

// Runs the pbft binary with args; kills it after `limit`.
inline ProcessResult run_pbft(const std::vector<std::string>& args, const std::filesystem::path& dir,
                              Clock::duration limit = seconds(20)) {
  static std::atomic<int> counter{0};
  const int n = counter++;
  const std::filesystem::path out = dir / ("run-" + std::to_string(n) + ".out");
  const std::filesystem::path err = dir / ("run-" + std::to_string(n) + ".err");
  // Everything the child needs is made before fork (see pbft_argv).
  std::vector<char*> argv = pbft_argv(args);
  const pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    const int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int in = open("/dev/null", O_RDONLY);
    dup2(o, STDOUT_FILENO);
    dup2(e, STDERR_FILENO);
    dup2(in, STDIN_FILENO);
    execv(PBFT_BINARY, argv.data());
    _exit(127);
  }
  ProcessResult r;
  const auto deadline = Clock::now() + limit;
  int status = 0;
  for (;;) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    if (Clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      break;
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
  r.out = read_text(out);
  r.err = read_text(err);
  return r;
}

// Polls `done` every 50 ms until it holds or `limit` passes.
inline bool eventually(Clock::duration limit, const std::function<bool()>& done) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(milliseconds(50));
  }
  return done();
}

// A generated cluster in a fresh directory, and its replica processes.
class TestCluster {
 public:
  // Parameters overridden in cluster.toml (e.g. {"checkpoint_interval", "16"}).
  explicit TestCluster(std::map<std::string, std::string> overrides = {}, uint32_t n = 4,
                       uint32_t clients = 8) {
    char pattern[] = "/tmp/pbft-itest-XXXXXX";
    dir_ = mkdtemp(pattern);
    ClusterSpec spec;
    spec.replicas = n;
    spec.clients = clients;
    spec.base_port = free_base_port(n);
    Result<std::vector<std::filesystem::path>> written = generate_cluster(dir_, spec);
    EXPECT_TRUE(written.is_ok()) << written.reason();
    std::string text = read_text(config());
    for (const auto& [key, value] : overrides) text = set_key(text, key, value);
    write_text(config(), text);
    Result<ClusterConfig> loaded = load_cluster_config(config());
    EXPECT_TRUE(loaded.is_ok()) << loaded.reason();
    if (loaded) cluster_ = loaded.value();
    pids_.assign(n, -1);
    started_.assign(n, false);
    exits_.assign(n, std::nullopt);
    mount_holders_.assign(n, 0);
    std::filesystem::create_directories(dir_ / "logs");
  }

  ~TestCluster() {
    kill_all();
    if (::testing::Test::HasFailure()) {
      std::fprintf(stderr, "kept %s for inspection (logs/, data/)\n", dir_.c_str());
    } else {
      std::error_code ignored;
      std::filesystem::remove_all(dir_, ignored);
    }
  }

  TestCluster(const TestCluster&) = delete;
  TestCluster& operator=(const TestCluster&) = delete;

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path config() const { return dir_ / "cluster.toml"; }
  const ClusterConfig& cluster() const { return cluster_; }
  uint32_t n() const { return static_cast<uint32_t>(pids_.size()); }
  uint16_t port(ReplicaId r) const { return cluster_.replicas[r].port; }
  std::filesystem::path data_dir(ReplicaId r) const {
    return dir_ / "data" / ("replica-" + std::to_string(r));
  }

  // The first start of a replica is --init (a new cluster's replica),
  // unless `extra` says how it starts; later ones resume from its disk.
  void start(ReplicaId r, std::vector<std::string> extra = {}) {
    const std::filesystem::path log = dir_ / "logs" / ("replica-" + std::to_string(r) + ".log");
    std::vector<std::string> args = {"replica", "--config", config().string(), "--id",
                                     std::to_string(r), "--log-level", "debug"};
    const bool says_how = std::find(extra.begin(), extra.end(), "--recover") != extra.end() ||
                          std::find(extra.begin(), extra.end(), "--init") != extra.end();
    if (!started_[r] && !says_how) args.push_back("--init");
    started_[r] = true;
    args.insert(args.end(), extra.begin(), extra.end());
    // A status file left by a run killed -9 still says "running": it is not this run's.
    std::error_code ignored;
    std::filesystem::remove(data_dir_seen(r) / "status.json", ignored);
    std::vector<char*> argv = pbft_argv(args);  // made before fork
    const int mount_namespace =
        mount_holders_[r] > 0
            ? open(("/proc/" + std::to_string(mount_holders_[r]) + "/ns/mnt").c_str(),
                   O_RDONLY | O_CLOEXEC)
            : -1;
    if (mount_holders_[r] > 0) {
      ASSERT_GE(mount_namespace, 0) << "no mount namespace holder";
    }
    const pid_t pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
      if (mount_namespace >= 0 && setns(mount_namespace, CLONE_NEWNS) != 0) _exit(126);
      execv(PBFT_BINARY, argv.data());
      _exit(127);
    }
    if (mount_namespace >= 0) close(mount_namespace);
    pids_[r] = pid;
    exits_[r].reset();
  }

  // Replica r's later starts run in the mount namespace of process `holder`
  // (one that mounted a file system of its own on r's data directory), and
  // the test reads r's files through /proc/<holder>/root; 0 undoes it.
  void use_mount_namespace(ReplicaId r, pid_t holder) { mount_holders_[r] = holder; }

  // Replica r's data directory as this process sees it.
  std::filesystem::path data_dir_seen(ReplicaId r) const {
    if (mount_holders_[r] <= 0) return data_dir(r);
    return std::filesystem::path("/proc/" + std::to_string(mount_holders_[r]) + "/root") /
           data_dir(r).relative_path();
  }

  // Waits up to `limit` for replica r to exit: its exit status (128 + the
  // signal that ended it), or nothing while it runs.
  std::optional<int> wait_exit(ReplicaId r, Clock::duration limit) {
    eventually(limit, [&] { return !alive(r); });
    return exits_[r];
  }

  void start_all() {
    for (ReplicaId r = 0; r < n(); r++) start(r);
    ASSERT_TRUE(eventually(seconds(15), [&] { return all_connected(); }))
        << "the replicas did not connect; see " << dir_ / "logs";
  }

  bool all_connected() const {
    for (ReplicaId r = 0; r < n(); r++) {
      std::optional<runtime::ReplicaStatus> s = status(r);
      if (!s) return false;
      for (bool up : s->peers_up) {
        if (!up) return false;
      }
    }
    return true;
  }

  void signal(ReplicaId r, int sig) {
    ASSERT_GT(pids_[r], 0);
    kill(pids_[r], sig);
    if (sig == SIGKILL) {
      waitpid(pids_[r], nullptr, 0);
      pids_[r] = -1;
    }
  }

  // Reaps it if it exited (wait_exit says how).
  bool alive(ReplicaId r) const {
    if (pids_[r] <= 0) return false;
    int status = 0;
    const pid_t reaped = waitpid(pids_[r], &status, WNOHANG);
    if (reaped == 0) return true;
    if (reaped == pids_[r]) {
      exits_[r] = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    pids_[r] = -1;
    return false;
  }

  // The replica's status file (none while it is not running).
  std::optional<runtime::ReplicaStatus> status(ReplicaId r) const {
    if (pids_[r] <= 0) return std::nullopt;
    Result<runtime::ReplicaStatus> s =
        runtime::read_replica_status(data_dir_seen(r) / "status.json");
    if (!s || !s->running) return std::nullopt;
    return s.value();
  }

  ProcessResult client(std::vector<std::string> args, Clock::duration limit = seconds(20)) {
    std::vector<std::string> all = {"client", "--config", config().string(), "--timeout", "10"};
    all.insert(all.end(), args.begin(), args.end());
    return run_pbft(all, dir_, limit);
  }

  void kill_all() {
    for (pid_t& pid : pids_) {
      if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
        pid = -1;
      }
    }
  }

  std::string log(ReplicaId r) const {
    return read_text(dir_ / "logs" / ("replica-" + std::to_string(r) + ".log"));
  }

 private:
  std::filesystem::path dir_;
  ClusterConfig cluster_;
  mutable std::vector<pid_t> pids_;  // -1: not running (alive() reaps)
  std::vector<bool> started_;  // started once: a restart resumes
  mutable std::vector<std::optional<int>> exits_;  // how each last ended
  std::vector<pid_t> mount_holders_;  // use_mount_namespace
};

// Closed-loop clients in this process (ids first..first+count-1), recording
// a history: the load generator of pbft demo and pbft bench.
class Load {
 public:
  Load(const TestCluster& cluster, ClientId first, uint32_t count) {
    std::vector<runtime::ClientPool::Member> members;
    for (ClientId c = first; c < first + count; c++) {
      Result<SecretKey> key = load_secret_key(cluster.cluster().client_key_files.at(c),
                                              cluster.cluster().clients.at(c));
      EXPECT_TRUE(key.is_ok()) << key.reason();
      members.push_back({c, key.value()});
    }
    const uint64_t now = static_cast<uint64_t>(
        std::chrono::system_clock::now().time_since_epoch() / std::chrono::nanoseconds(1));
    load::Workload workload;
    workload.keys = 16;
    Result<std::unique_ptr<load::LoadGenerator>> generator =
        load::LoadGenerator::start(cluster.cluster(), {std::move(members)}, workload, now);
    EXPECT_TRUE(generator.is_ok()) << generator.reason();
    if (generator) generator_ = std::move(generator).value();
  }

  void stop() {
    if (generator_) generator_->stop();
  }
  uint64_t completed() const { return generator_ ? generator_->completed() : 0; }
  std::vector<history::Entry> history() const {
    return generator_ ? generator_->history() : std::vector<history::Entry>{};
  }
  std::string error() const {
    return generator_ ? generator_->error().value_or("") : "no load generator";
  }

 private:
  std::unique_ptr<load::LoadGenerator> generator_;
};

// A TCP connection to 127.0.0.1:port, from `source` (a loopback address)
// when given: a file descriptor, or -1.
inline int connect_to(uint16_t port, const char* source = nullptr) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (source != nullptr) {
    sockaddr_in from{};
    from.sin_family = AF_INET;
    inet_pton(AF_INET, source, &from.sin_addr);
    if (bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) {
      close(fd);
      return -1;
    }
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  timeval limit{10, 0};  // no read below waits longer
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  return fd;
}

inline void send_all(int fd, const Bytes& bytes) {
  size_t at = 0;
  while (at < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL);
    if (n <= 0) return;  // the replica may close first: that is the point
    at += static_cast<size_t>(n);
  }
}

inline bool read_exactly(int fd, uint8_t* out, size_t size) {
  size_t at = 0;
  while (at < size) {
    const ssize_t n = ::recv(fd, out + at, size - at, 0);
    if (n <= 0) return false;
    at += static_cast<size_t>(n);
  }
  return true;
}

// Whether the other end closed fd (a read sees the end, or a reset) within
// the socket's read limit.
inline bool closed_by_peer(int fd) {
  uint8_t buffer[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n == 0) return true;
    if (n < 0) return errno == ECONNRESET;
  }
}

// The dialer's side of a cleartext link (a cluster with encryption "none")
// to replica `dialed` at 127.0.0.1:port, done by hand as `who`, signing with
// `keys` (one per id): the greetings and the hello. What is written on the returned
// descriptor next is read as frames. -1 on failure.
inline int raw_link(uint16_t port, ReplicaId dialed, const runtime::Hello& who,
                    const std::vector<SecretKey>& keys) {
  const int fd = connect_to(port);
  if (fd < 0) return -1;
  const runtime::Nonce mine = runtime::fresh_nonce();
  send_all(fd, runtime::encode_greeting(runtime::Greeting{runtime::Encryption::none, mine}));
  Bytes theirs(runtime::greeting_size);
  Result<runtime::Greeting> greeting = Status::error("none");
  if (read_exactly(fd, theirs.data(), theirs.size())) greeting = runtime::decode_greeting(theirs);
  if (!greeting) {
    close(fd);
    return -1;
  }
  const Bytes binding =
      runtime::link_binding(runtime::Encryption::none, {}, dialed, mine, greeting->nonce);
  send_all(fd, runtime::encode_hello(
                   runtime::sign_hello(who, runtime::LinkRole::dialer, binding, keys)));
  return fd;
}

// A principal's secret key from the cluster's key files.
inline SecretKey key_of(const ClusterConfig& cluster, const runtime::Hello& who, uint32_t k = 0) {
  const uint32_t id = who.id + k;
  Result<SecretKey> key =
      who.kind == runtime::Hello::Kind::replica
          ? load_secret_key(cluster.replicas.at(id).key_file, cluster.replicas.at(id).public_key)
          : load_secret_key(cluster.client_key_files.at(id), cluster.clients.at(id));
  EXPECT_TRUE(key.is_ok()) << key.reason();
  return key ? key.value() : SecretKey{};
}

// The largest last-executed sequence number among the running replicas but `except`.
inline Seq max_executed(const TestCluster& c, std::optional<ReplicaId> except = std::nullopt) {
  Seq m = 0;
  for (ReplicaId r = 0; r < c.n(); r++) {
    if (except && r == *except) continue;
    if (auto s = c.status(r)) m = std::max(m, s->last_executed);
  }
  return m;
}

}  // namespace pbft::integration
