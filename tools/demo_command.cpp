// `pbft demo`: a real local cluster with no set-up. Generates keys and a
// cluster file in a temporary directory on free loopback ports, starts n
// `pbft replica` processes, runs closed-loop clients in this process, shows
// a status line every second, kills the primary with kill -9, shows the view
// change and the service going on, restarts the killed replica (it comes
// back recovering and catches up by state transfer), then stops everything
// and checks the client history for linearizability.
#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "pbft/cluster_config.h"
#include "pbft/history.h"
#include "pbft/runtime.h"
#include "sim/random.h"
#include "sim/workload.h"
#include "tools/commands.h"
#include "tools/runtime_support.h"

namespace pbft::tools {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

struct DemoArgs {
  uint32_t replicas = 4;
  uint32_t clients = 4;
  double duration_s = 10;
  bool no_fault = false;
  bool keep_running = false;
  double view_change_timeout_s = 15;
  unsigned verify_threads = 2;
  std::string kill = "primary";  // or "backup"
  std::string dir;
};

std::atomic<bool> interrupted{false};
void on_interrupt(int) { interrupted = true; }

// Replaces `key = ...` lines of the generated file: the demo wants
// checkpoints and the recovery horizon to come quickly.
Status tune_cluster_file(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  const std::map<std::string, std::string> values = {{"checkpoint_interval", "64"},
                                                     {"log_window", "128"},
                                                     {"kv_partitions", "1024"}};
  for (const auto& [key, value] : values) {
    const size_t at = s.find("\n" + key + " = ");
    if (at == std::string::npos) return Status::error("generated file has no " + key);
    const size_t end = s.find('\n', at + 1);
    s.replace(at + 1, end - at - 1, key + " = " + value);
  }
  std::ofstream out(file, std::ios::trunc);
  out << s;
  return out ? Status::ok() : Status::error("cannot rewrite " + file.string());
}

// The replica processes, their logs and status files.
class Cluster {
 public:
  Cluster(std::filesystem::path dir, uint32_t n, unsigned verify_threads)
      : dir_(std::move(dir)), pids_(n, -1), verify_threads_(std::to_string(verify_threads)) {}
  ~Cluster() { kill_all(); }

  Status start(ReplicaId r) {
    const std::filesystem::path log = dir_ / "logs" / fmt::format("replica-{}.log", r);
    const std::string config = (dir_ / "cluster.toml").string();
    const std::string id = std::to_string(r);
    const pid_t pid = fork();
    if (pid < 0) return Status::error("fork failed");
    if (pid == 0) {
      // The child dies with the demo, however the demo ends.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
      }
      const int devnull = open("/dev/null", O_RDONLY);
      if (devnull >= 0) dup2(devnull, STDIN_FILENO);
      execl("/proc/self/exe", "pbft", "replica", "--config", config.c_str(), "--id", id.c_str(),
            "--log-level", "info", "--verify-threads", verify_threads_.c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    pids_[r] = pid;
    return Status::ok();
  }

  void kill_hard(ReplicaId r) {
    if (pids_[r] <= 0) return;
    kill(pids_[r], SIGKILL);
    waitpid(pids_[r], nullptr, 0);
    pids_[r] = -1;
  }

  // SIGTERM, then SIGKILL for any still running after 3 s.
  void stop_all() {
    for (pid_t pid : pids_) {
      if (pid > 0) kill(pid, SIGTERM);
    }
    const auto deadline = Clock::now() + seconds(3);
    for (pid_t& pid : pids_) {
      while (pid > 0) {
        if (waitpid(pid, nullptr, WNOHANG) == pid) {
          pid = -1;
        } else if (Clock::now() > deadline) {
          kill(pid, SIGKILL);
          waitpid(pid, nullptr, 0);
          pid = -1;
        } else {
          std::this_thread::sleep_for(milliseconds(10));
        }
      }
    }
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

  bool running(ReplicaId r) const { return pids_[r] > 0; }

  // A replica that exited by itself (it should not).
  std::optional<ReplicaId> exited() {
    for (ReplicaId r = 0; r < pids_.size(); r++) {
      if (pids_[r] > 0 && waitpid(pids_[r], nullptr, WNOHANG) == pids_[r]) {
        pids_[r] = -1;
        return r;
      }
    }
    return std::nullopt;
  }

  std::optional<runtime::ReplicaStatus> status(ReplicaId r) const {
    if (!running(r)) return std::nullopt;
    Result<runtime::ReplicaStatus> s =
        runtime::read_replica_status(dir_ / "data" / fmt::format("replica-{}", r) / "status.json");
    if (!s || !s->running) return std::nullopt;
    return s.value();
  }

  uint32_t size() const { return static_cast<uint32_t>(pids_.size()); }

 private:
  std::filesystem::path dir_;
  std::vector<pid_t> pids_;
  std::string verify_threads_;
};

// Closed-loop clients: each issues its next operation when the last one
// completes, and every operation goes into the history.
class Workload {
 public:
  Workload(runtime::ClientPool& pool, std::vector<ClientId> ids, Clock::time_point epoch)
      : pool_(pool), ids_(std::move(ids)), epoch_(epoch), random_(0x5eed) {
    outstanding_.assign(ids_.size(), std::nullopt);
    issued_.assign(ids_.size(), 0);
  }

  void start() {
    for (size_t i = 0; i < ids_.size(); i++) issue(i);
  }

  void stop() {
    std::lock_guard<std::mutex> lock(mutex_);
    stopped_ = true;
  }

  struct Window {
    uint64_t ops = 0;
    double p50_ms = 0;
    double p99_ms = 0;
  };
  // Operations completed since the last call, and their latency percentiles.
  Window take_window() {
    std::lock_guard<std::mutex> lock(mutex_);
    Window w;
    w.ops = window_latencies_.size();
    if (!window_latencies_.empty()) {
      std::sort(window_latencies_.begin(), window_latencies_.end());
      auto at = [&](double q) {
        const size_t i = std::min(window_latencies_.size() - 1,
                                  static_cast<size_t>(q * window_latencies_.size()));
        return window_latencies_[i] / 1e6;
      };
      w.p50_ms = at(0.50);
      w.p99_ms = at(0.99);
    }
    window_latencies_.clear();
    return w;
  }

  uint64_t completed() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return completed_;
  }
  std::vector<history::Entry> history() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return history_;
  }
  std::optional<std::string> error() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return error_;
  }

 private:
  uint64_t now_ns() const {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - epoch_).count());
  }

  void issue(size_t i) {
    Bytes operation;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopped_) return;
      sim::PlannedOperation planned =
          sim::plan_operation(random_, ids_[i], ++issued_[i], /*keys=*/32);
      planned.entry.call_ns = now_ns();
      planned.entry.status = history::Outcome::unknown;
      outstanding_[i] = history_.size();
      history_.push_back(std::move(planned.entry));
      operation = kv::encode_op(planned.op);
    }
    pool_.submit(i, std::move(operation), [this, i](Result<Completion> done) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!outstanding_[i]) return;
        history::Entry& entry = history_[*outstanding_[i]];
        outstanding_[i].reset();
        if (!done) {
          if (!error_) error_ = fmt::format("client {}: {}", ids_[i], done.reason());
          return;
        }
        if (stopped_) return;  // after the stop: stays unknown, like any late result
        entry.return_ns = now_ns();
        if (Status s = sim::record_result(entry, done->result); !s) {
          entry.return_ns.reset();
          if (!error_) error_ = fmt::format("client {}: {}", ids_[i], s.reason());
          return;
        }
        completed_++;
        window_latencies_.push_back(*entry.return_ns - entry.call_ns);
      }
      issue(i);
    });
  }

  runtime::ClientPool& pool_;
  std::vector<ClientId> ids_;
  Clock::time_point epoch_;
  mutable std::mutex mutex_;
  sim::Random random_;
  std::vector<std::optional<size_t>> outstanding_;  // history index per client
  std::vector<uint32_t> issued_;
  std::vector<history::Entry> history_;
  std::vector<uint64_t> window_latencies_;
  uint64_t completed_ = 0;
  bool stopped_ = false;
  std::optional<std::string> error_;
};

class Demo {
 public:
  explicit Demo(const DemoArgs& args) : args_(args) {}
  int run();

 private:
  Status set_up();
  void print_status_line();
  // Runs for `d`, printing a status line every second; false if interrupted
  // or a replica exited on its own.
  bool run_for(Clock::duration d);
  // Waits up to `limit` for `done`, printing status lines; false on timeout.
  bool wait_until(Clock::duration limit, const std::function<bool()>& done);
  std::optional<View> cluster_view() const;
  int finish(bool ok, const std::string& problem);

  DemoArgs args_;
  std::filesystem::path dir_;
  ClusterConfig cluster_;
  std::unique_ptr<Cluster> replicas_;
  std::unique_ptr<runtime::ClientPool> pool_;
  std::unique_ptr<Workload> workload_;
  Clock::time_point epoch_ = Clock::now();
  Clock::time_point next_line_ = Clock::now();
};

Status Demo::set_up() {
  if (args_.dir.empty()) {
    char pattern[] = "/tmp/pbft-demo-XXXXXX";
    if (mkdtemp(pattern) == nullptr) return Status::error("cannot create a temporary directory");
    dir_ = pattern;
  } else {
    dir_ = args_.dir;
  }
  Result<uint16_t> base = runtime::pick_free_base_port(args_.replicas);
  if (!base) return base.status();
  ClusterSpec spec;
  spec.replicas = args_.replicas;
  spec.clients = args_.clients;
  spec.base_port = base.value();
  spec.force = true;
  Result<std::vector<std::filesystem::path>> written = generate_cluster(dir_, spec);
  if (!written) return written.status();
  if (Status s = tune_cluster_file(dir_ / "cluster.toml"); !s) return s;
  Result<ClusterConfig> cluster = load_cluster_config(dir_ / "cluster.toml");
  if (!cluster) return cluster.status();
  cluster_ = std::move(cluster).value();
  std::filesystem::create_directories(dir_ / "logs");
  fmt::print("cluster: {} replicas (f = {}) on 127.0.0.1:{}..{}, {} clients; files in {}\n",
             args_.replicas, cluster_.protocol.f, spec.base_port,
             spec.base_port + args_.replicas - 1, args_.clients, dir_.string());

  replicas_ = std::make_unique<Cluster>(dir_, args_.replicas, args_.verify_threads);
  for (ReplicaId r = 0; r < args_.replicas; r++) {
    if (Status s = replicas_->start(r); !s) return s;
  }
  const bool up = wait_until(seconds(10), [&] {
    for (ReplicaId r = 0; r < args_.replicas; r++) {
      std::optional<runtime::ReplicaStatus> s = replicas_->status(r);
      if (!s) return false;
      for (bool peer : s->peers_up) {
        if (!peer) return false;
      }
    }
    return true;
  });
  if (!up) return Status::error("the replicas did not all connect within 10 s (see the logs)");
  fmt::print("replicas up and connected; starting {} closed-loop clients\n", args_.clients);

  std::vector<runtime::ClientPool::Member> members;
  std::vector<ClientId> ids;
  for (ClientId c = 0; c < args_.clients; c++) {
    Result<SecretKey> key = load_client_key(cluster_, c);
    if (!key) return key.status();
    members.push_back({c, key.value()});
    ids.push_back(c);
  }
  Result<std::unique_ptr<runtime::ClientPool>> pool =
      runtime::ClientPool::start(cluster_, std::move(members), wall_clock_ns());
  if (!pool) return pool.status();
  pool_ = std::move(pool).value();
  workload_ = std::make_unique<Workload>(*pool_, ids, epoch_);
  workload_->start();
  return Status::ok();
}

void Demo::print_status_line() {
  const Workload::Window w = workload_ ? workload_->take_window() : Workload::Window{};
  const double t = std::chrono::duration<double>(Clock::now() - epoch_).count();
  std::string line = fmt::format("[{:5.1f}s] {:5} ops/s  p50 {:6.1f} ms  p99 {:6.1f} ms", t,
                                 w.ops, w.p50_ms, w.p99_ms);
  const std::optional<View> view = cluster_view();
  line += view ? fmt::format("  view {}", *view) : std::string("  view ?");
  for (ReplicaId r = 0; r < args_.replicas; r++) {
    std::optional<runtime::ReplicaStatus> s = replicas_->status(r);
    if (!replicas_->running(r)) {
      line += fmt::format(" | r{} DOWN", r);
    } else if (!s) {
      line += fmt::format(" | r{} starting", r);
    } else {
      line += fmt::format(" | r{} {}/{}{}", r, s->last_executed, s->low_watermark,
                          s->transferring ? " xfer" : s->recovering ? " rec" : "");
    }
  }
  fmt::print("{}\n", line);
  std::fflush(stdout);
}

// The view most running replicas report.
std::optional<View> Demo::cluster_view() const {
  std::map<View, int> votes;
  for (ReplicaId r = 0; r < args_.replicas; r++) {
    if (std::optional<runtime::ReplicaStatus> s = replicas_->status(r)) votes[s->view]++;
  }
  if (votes.empty()) return std::nullopt;
  return std::max_element(votes.begin(), votes.end(), [](const auto& a, const auto& b) {
           return a.second < b.second;
         })->first;
}

bool Demo::wait_until(Clock::duration limit, const std::function<bool()>& done) {
  const auto deadline = Clock::now() + limit;
  while (!done()) {
    if (interrupted || Clock::now() > deadline) return false;
    if (std::optional<ReplicaId> r = replicas_->exited()) {
      fmt::print("replica {} exited on its own (see {})\n", *r,
                 (dir_ / "logs" / fmt::format("replica-{}.log", *r)).string());
      return false;
    }
    if (Clock::now() >= next_line_) {
      if (workload_) print_status_line();
      next_line_ += seconds(1);
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  return true;
}

bool Demo::run_for(Clock::duration d) {
  wait_until(d, [] { return false; });
  return !interrupted;
}

int Demo::run() {
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  if (Status s = set_up(); !s) return finish(false, s.reason());
  next_line_ = Clock::now() + seconds(1);

  if (args_.no_fault) {
    if (!run_for(std::chrono::duration_cast<Clock::duration>(
            std::chrono::duration<double>(args_.duration_s)))) {
      return finish(false, "interrupted");
    }
    return finish(true, "");
  }

  // Warm up, then kill the primary (or a backup).
  if (!run_for(seconds(4))) return finish(false, "interrupted");
  const View before = cluster_view().value_or(0);
  const ReplicaId primary = cluster_.protocol.primary(before);
  const bool kill_primary = args_.kill == "primary";
  const ReplicaId victim = kill_primary ? primary : (primary + 1) % args_.replicas;
  const uint64_t done_before = workload_->completed();
  fmt::print("== killing the {}, replica {} (view {}), with kill -9\n",
             kill_primary ? "primary" : "backup", victim, before);
  replicas_->kill_hard(victim);
  const auto killed_at = Clock::now();

  if (kill_primary) {
    // A view change: most replicas move past `before`, and operations
    // complete again.
    uint64_t done_at_view_change = 0;
    const bool changed = wait_until(
        std::chrono::duration_cast<Clock::duration>(
            std::chrono::duration<double>(args_.view_change_timeout_s)),
        [&] {
          const std::optional<View> v = cluster_view();
          if (!v || *v <= before) return false;
          if (done_at_view_change == 0) done_at_view_change = workload_->completed();
          return workload_->completed() > done_at_view_change;
        });
    if (!changed) {
      if (interrupted) return finish(false, "interrupted");
      return finish(false,
                    fmt::format("no view change within {:.0f} s after the primary died: the "
                                "service stalled ({} operations before the kill, {} after). This "
                                "build may not implement view changes yet; `pbft demo --no-fault` "
                                "or `pbft demo --kill backup` run without it",
                                args_.view_change_timeout_s, done_before,
                                workload_->completed() - done_before));
    }
    fmt::print("== view change: view {} -> {} in {:.1f} s; the service goes on (primary is now "
               "replica {})\n",
               before, cluster_view().value_or(0),
               std::chrono::duration<double>(Clock::now() - killed_at).count(),
               cluster_.protocol.primary(cluster_view().value_or(0)));
  } else {
    const bool going_on =
        wait_until(seconds(15), [&] { return workload_->completed() > done_before + 100; });
    if (!going_on) {
      if (interrupted) return finish(false, "interrupted");
      return finish(false, "the service stopped when a backup died");
    }
    fmt::print("== the service goes on without replica {} (n - 1 = 2f + 1 replicas left)\n",
               victim);
  }
  if (!run_for(seconds(3))) return finish(false, "interrupted");

  // Restart it: its data directory says it ran before, so it recovers.
  fmt::print("== restarting replica {}: no state, so it recovers by state transfer\n", victim);
  if (Status s = replicas_->start(victim); !s) return finish(false, s.reason());
  const auto restarted_at = Clock::now();
  const bool caught_up = wait_until(seconds(30), [&] {
    std::optional<runtime::ReplicaStatus> s = replicas_->status(victim);
    if (!s || s->recovering || s->state_transfers_completed == 0) return false;
    for (ReplicaId r = 0; r < args_.replicas; r++) {
      if (r == victim) continue;
      std::optional<runtime::ReplicaStatus> other = replicas_->status(r);
      if (other && other->low_watermark > s->last_executed) return false;
    }
    return true;
  });
  if (!caught_up) {
    if (interrupted) return finish(false, "interrupted");
    return finish(false, fmt::format("replica {} did not catch up within 30 s (see its log)",
                                     victim));
  }
  std::optional<runtime::ReplicaStatus> s = replicas_->status(victim);
  fmt::print("== replica {} caught up in {:.1f} s: state transfer done, executing at seq {}, "
             "voting again\n",
             victim, std::chrono::duration<double>(Clock::now() - restarted_at).count(),
             s ? s->last_executed : 0);
  if (!run_for(seconds(2))) return finish(false, "interrupted");
  return finish(true, "");
}

int Demo::finish(bool ok, const std::string& problem) {
  if (!problem.empty()) fmt::print("\nproblem: {}\n", problem);
  if (workload_) workload_->stop();
  if (pool_) pool_->stop();
  const bool keep = args_.keep_running && replicas_ && !interrupted;
  if (replicas_ && !keep) replicas_->stop_all();

  bool linearizable = false;
  if (workload_) {
    const std::vector<history::Entry> entries = workload_->history();
    const std::filesystem::path history_file = dir_ / "history.jsonl";
    if (Status s = history::write_file(history_file.string(), entries); !s) {
      fmt::print("cannot write the history: {}\n", s.reason());
      ok = false;
    }
    const history::CheckResult check = history::check_linearizable(entries);
    linearizable = check.complete && check.linearizable;
    uint64_t unknown = 0;
    for (const history::Entry& e : entries) unknown += e.status == history::Outcome::unknown;
    const double t = std::chrono::duration<double>(Clock::now() - epoch_).count();
    fmt::print("\n{} operations completed in {:.1f} s by {} clients ({} still in flight at the "
               "stop)\n",
               workload_->completed(), t, args_.clients, unknown);
    fmt::print("history: {} ({})\n", history_file.string(),
               linearizable  ? "linearizable"
               : check.complete ? "NOT linearizable: " + check.explanation
                                : "the checker gave up: " + check.explanation);
    if (std::optional<std::string> e = workload_->error()) {
      fmt::print("client error: {}\n", *e);
      ok = false;
    }
    if (workload_->completed() == 0) ok = false;
  }
  if (!dir_.empty()) fmt::print("logs: {}/logs/replica-*.log\n", dir_.string());
  ok = ok && linearizable;
  fmt::print("verdict: {}\n", ok ? "PASS" : "FAIL");
  std::fflush(stdout);
  if (keep) {
    fmt::print("\nthe cluster keeps running; try\n  {} client --config {}/cluster.toml --id {} "
               "put hello world\nCtrl-C stops it.\n",
               "pbft", dir_.string(), args_.clients);
    std::fflush(stdout);
    while (!interrupted) std::this_thread::sleep_for(milliseconds(100));
    replicas_->stop_all();
  }
  return ok ? 0 : 1;
}

}  // namespace

void add_demo_command(CLI::App& app, int& exit_status) {
  auto args = std::make_shared<DemoArgs>();
  CLI::App* cmd = app.add_subcommand(
      "demo",
      "Run a real local cluster: n replica processes on loopback ports, closed-loop clients, "
      "kill -9 of the primary, a restart that catches up, and a linearizability verdict");
  cmd->add_option("--replicas", args->replicas, "Replicas n (3f+1)")
      ->capture_default_str()
      ->check(CLI::IsMember({4u, 7u, 10u}));
  cmd->add_option("--clients", args->clients, "Closed-loop clients")
      ->capture_default_str()
      ->check(CLI::Range(1u, 64u));
  cmd->add_option("--duration", args->duration_s, "Seconds to run with --no-fault")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 3600.0));
  cmd->add_flag("--no-fault", args->no_fault, "Do not kill any replica");
  cmd->add_option("--kill", args->kill,
                  "Which replica the fault kills and restarts: the primary (a view change "
                  "replaces it) or a backup")
      ->capture_default_str()
      ->check(CLI::IsMember({"primary", "backup"}));
  cmd->add_flag("--keep-running", args->keep_running,
                "Leave the cluster running after the verdict (Ctrl-C stops it)");
  cmd->add_option("--view-change-timeout", args->view_change_timeout_s,
                  "Seconds to wait for a view change after the kill")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 600.0));
  cmd->add_option("--verify-threads", args->verify_threads,
                  "Each replica's verification threads (0: on its event loop)")
      ->capture_default_str()
      ->check(CLI::Range(0u, 64u));
  cmd->add_option("--dir", args->dir, "Directory for keys, logs and history (default: a new "
                                      "/tmp/pbft-demo-XXXXXX)");
  cmd->callback([args, &exit_status] {
    Demo demo(*args);
    exit_status = demo.run();
  });
}

}  // namespace pbft::tools
