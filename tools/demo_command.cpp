// `pbft demo`: a real local cluster with no set-up. Generates keys and a
// cluster file in a temporary directory on free loopback ports, starts n
// `pbft replica` processes, runs closed-loop clients in this process, shows
// a status line every second, kills the primary with kill -9, shows the view
// change and the service going on, restarts the killed replica (it resumes
// from its disk and catches up), then cuts the power: every replica killed
// -9 at once and started again, and values written before are read back.
// Then it stops everything and checks the client history for
// linearizability.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <future>
#include <map>
#include <thread>

#include "pbft/cluster_config.h"
#include "pbft/history.h"
#include "pbft/kv.h"
#include "pbft/load.h"
#include "pbft/runtime.h"
#include "tools/commands.h"
#include "tools/local_cluster.h"
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
  std::string encryption = "tls";  // the links' (knob_choices::encryption)
  std::string dir;
};

std::atomic<bool> interrupted{false};
void on_interrupt(int) { interrupted = true; }

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
  // One operation by the probe client (the id after the workload's),
  // waiting up to `limit`; the result, or why there is none.
  Result<kv::OpResult> probe(const kv::Op& op, Clock::duration limit);
  // Every replica killed -9 at once and started again: values written
  // before must be read back. An empty string when they were.
  std::string power_cut();
  int finish(bool ok, const std::string& problem);

  DemoArgs args_;
  std::filesystem::path dir_;
  ClusterConfig cluster_;
  std::unique_ptr<LocalCluster> replicas_;
  std::unique_ptr<load::LoadGenerator> workload_;
  std::unique_ptr<runtime::ClientPool> prober_;
  Clock::time_point epoch_ = Clock::now();
  Clock::time_point next_line_ = Clock::now();
};

Status Demo::set_up() {
  // Checkpoints and the recovery horizon come quickly.
  Result<GeneratedCluster> generated = generate_local_cluster(
      "demo", args_.dir, args_.replicas, args_.clients + 1,  // the last one probes
      {{"checkpoint_interval", "64"},
       {"log_window", "128"},
       {"kv.partitions", "1024"},
       {"encryption", "\"" + args_.encryption + "\""}});
  if (!generated) return generated.status();
  dir_ = generated->dir;
  cluster_ = std::move(generated->cluster);
  const uint16_t base_port = cluster_.replicas.front().port;
  std::filesystem::create_directories(dir_ / "logs");
  fmt::print("cluster: {} replicas (f = {}) on 127.0.0.1:{}..{}, {} clients, links {}; files in "
             "{}\n",
             args_.replicas, cluster_.protocol.f, base_port, base_port + args_.replicas - 1,
             args_.clients, args_.encryption == "tls" ? "TLS 1.3" : "cleartext (authenticated)",
             dir_.string());

  replicas_ = std::make_unique<LocalCluster>(
      dir_, args_.replicas,
      std::vector<std::string>{"--log-level", "info", "--verify-threads",
                               std::to_string(args_.verify_threads)});
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
  for (ClientId c = 0; c < args_.clients; c++) {
    Result<SecretKey> key = load_client_key(cluster_, c);
    if (!key) return key.status();
    members.push_back({c, key.value()});
  }
  load::Workload workload;
  workload.kind = load::Workload::Kind::kv;
  workload.keys = 32;
  workload.seed = 0x5eed;
  Result<std::unique_ptr<load::LoadGenerator>> generator =
      load::LoadGenerator::start(cluster_, {std::move(members)}, workload, wall_clock_ns());
  if (!generator) return generator.status();
  workload_ = std::move(generator).value();
  Result<SecretKey> probe_key = load_client_key(cluster_, args_.clients);
  if (!probe_key) return probe_key.status();
  Result<std::unique_ptr<runtime::ClientPool>> pool = runtime::ClientPool::start(
      cluster_, {{args_.clients, probe_key.value()}}, wall_clock_ns());
  if (!pool) return pool.status();
  prober_ = std::move(pool).value();
  return Status::ok();
}

Result<kv::OpResult> Demo::probe(const kv::Op& op, Clock::duration limit) {
  auto done = std::make_shared<std::promise<Result<Completion>>>();
  std::future<Result<Completion>> outcome = done->get_future();
  prober_->submit(0, kv::encode_op(op), [done](Result<Completion> c) { done->set_value(c); },
                  op.type == kv::OpType::get);
  bool ready = false;
  wait_until(limit, [&] {
    ready = outcome.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
    return ready;
  });
  if (!ready) return Status::error("no result in time");
  Result<Completion> completion = outcome.get();
  if (!completion) return completion.status();
  return kv::decode_result(completion->result);
}

std::string Demo::power_cut() {
  // Values the cluster acknowledged, each written by the probe client.
  constexpr int keys = 8;
  std::vector<std::pair<std::string, std::string>> written;
  for (int i = 0; i < keys; i++) {
    const std::string key = fmt::format("power-cut-{}", i);
    const std::string value = fmt::format("written before the power cut ({}, {})", i,
                                          wall_clock_ns());
    Result<kv::OpResult> r = probe({kv::OpType::put, Bytes(key.begin(), key.end()),
                                    Bytes(value.begin(), value.end()), 0},
                                   seconds(20));
    if (!r || r->code != kv::Code::ok) {
      return fmt::format("put {} before the power cut failed: {}", key,
                         r ? kv::code_name(r->code) : r.reason());
    }
    written.emplace_back(key, value);
  }
  fmt::print("== {} values written and acknowledged; power cut: every replica killed with kill "
             "-9 at once\n",
             written.size());
  for (ReplicaId r = 0; r < args_.replicas; r++) replicas_->kill_hard(r);
  if (!run_for(seconds(1))) return "interrupted";
  fmt::print("== power back: every replica starts again from its disk\n");
  const auto restarted_at = Clock::now();
  for (ReplicaId r = 0; r < args_.replicas; r++) {
    if (Status s = replicas_->start(r); !s) return s.reason();
  }
  const uint64_t done_before = workload_->completed();
  const bool serving = wait_until(seconds(40), [&] { return workload_->completed() > done_before; });
  if (!serving) return "the cluster did not serve again within 40 s after the power cut";
  fmt::print("== serving again {:.1f} s after the restart; reading the values back\n",
             std::chrono::duration<double>(Clock::now() - restarted_at).count());
  for (const auto& [key, value] : written) {
    Result<kv::OpResult> r =
        probe({kv::OpType::get, Bytes(key.begin(), key.end()), {}, 0}, seconds(20));
    if (!r) return fmt::format("get {} after the power cut failed: {}", key, r.reason());
    const std::string got(r->value.begin(), r->value.end());
    if (r->code != kv::Code::ok || got != value) {
      return fmt::format("get {} after the power cut: {} \"{}\", but \"{}\" was acknowledged",
                         key, kv::code_name(r->code), got, value);
    }
  }
  fmt::print("== all {} values read back after the power cut\n", written.size());
  return "";
}

void Demo::print_status_line() {
  const load::LoadWindow w = workload_ ? workload_->take_window() : load::LoadWindow{};
  const double t = std::chrono::duration<double>(Clock::now() - epoch_).count();
  std::string line = fmt::format("[{:5.1f}s] {:5} ops/s  p50 {:6.1f} ms  p99 {:6.1f} ms", t,
                                 w.completed, w.latency.percentile(0.50) / 1e3,
                                 w.latency.percentile(0.99) / 1e3);
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
                 replicas_->log_file(*r).string());
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
                                "service stalled ({} operations before the kill, {} after); the "
                                "replicas' logs say why (a machine too loaded to keep the "
                                "timers, or a bug: please report it with the logs)",
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

  // Restart it: it resumes from its disk and catches up.
  fmt::print("== restarting replica {}: it resumes from its disk and catches up\n", victim);
  if (Status s = replicas_->start(victim); !s) return finish(false, s.reason());
  const auto restarted_at = Clock::now();
  const bool caught_up = wait_until(seconds(30), [&] {
    std::optional<runtime::ReplicaStatus> s = replicas_->status(victim);
    if (!s || s->recovering) return false;
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
  fmt::print("== replica {} caught up in {:.1f} s ({}), executing at seq {}, voting again\n",
             victim, std::chrono::duration<double>(Clock::now() - restarted_at).count(),
             s && s->state_transfers_completed > 0 ? "by state transfer" : "from its log",
             s ? s->last_executed : 0);
  if (!run_for(seconds(2))) return finish(false, "interrupted");
  if (std::string problem = power_cut(); !problem.empty()) {
    return finish(false, interrupted ? "interrupted" : problem);
  }
  if (!run_for(seconds(2))) return finish(false, "interrupted");
  return finish(true, "");
}

int Demo::finish(bool ok, const std::string& problem) {
  if (!problem.empty()) fmt::print("\nproblem: {}\n", problem);
  if (workload_) workload_->stop();
  if (prober_) prober_->stop();
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
  cmd->add_option("--encryption", args->encryption,
                  "The links: tls (TLS 1.3 with the cluster's keys) or none (cleartext, still "
                  "mutually authenticated)")
      ->capture_default_str()
      ->check(CLI::IsMember({"tls", "none"}));
  cmd->add_option("--dir", args->dir, "Directory for keys, logs and history (default: a new "
                                      "/tmp/pbft-demo-XXXXXX)");
  cmd->callback([args, &exit_status] {
    Demo demo(*args);
    exit_status = demo.run();
  });
}

}  // namespace pbft::tools
