// The crash-loop test (issue 17, "Real processes"): n `pbft replica`
// processes under closed-loop key-value load, killed with kill -9 again and
// again and started again from their disks. Each cycle, drawn from a seeded
// generator: one replica (often the primary), f+1 at once, or all n at once
// (a power cut), at a random moment of the load; a random time down; the
// same processes started again with neither --init nor --recover, so each
// must resume from what it persisted. Then the test waits, with a deadline,
// until operations complete again and the restarted replicas have caught
// up; now and then it kills again before they have (a crash during replay
// or catch-up). At the end it stops the load, reads back every key the
// workload wrote with a client of its own, and checks the whole history,
// those reads included, for linearizability: so every acknowledged write is
// present and nothing came back that was never written. A replica that
// exits on its own, or logs an error, fails the test.
//
// This is not a simulation: kills land wherever the processes happen to be
// (in a sync, in RocksDB's recovery, in a replay, in a view change), so a
// run does not replay exactly; the seed replays the schedule of kills.
//
//   pbft_crash_loop [--cycles N] [--seed S] [--pbft PATH] [--dir D]
//                   [--replicas N] [--clients C] [--deadline S]
//
// Exit status 0 when every cycle served again and the history is
// linearizable, 1 otherwise (the reason and where the logs are on stdout), 2
// for bad arguments. ctest runs it as the test crash_loop (label
// integration; tests/crash_loop/CMakeLists.txt), with 100 cycles.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "pbft/cluster_config.h"
#include "pbft/history.h"
#include "pbft/kv.h"
#include "pbft/load.h"
#include "pbft/runtime.h"
#include "src/workload/random.h"
#include "src/workload/workload.h"
#include "tools/local_cluster.h"
#include "tools/runtime_support.h"

#ifndef PBFT_BINARY
#define PBFT_BINARY "pbft"
#endif

namespace pbft::crash_loop {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct Options {
  uint32_t cycles = 100;
  std::optional<uint64_t> seed;  // default: a fresh one, printed
  std::string pbft = PBFT_BINARY;
  std::string dir;  // default: a new temporary directory, removed on success
  uint32_t replicas = 4;
  uint32_t clients = 4;
  double deadline_s = 30;
};

// What the cluster file says (tools::tune_cluster_file), chosen so that a
// cycle is short: checkpoints and the window of the demo, few partitions
// (a checkpoint and a state transfer stay cheap), a view change after 1 s
// of waiting, and clients that re-send after 100 ms (at most 1.6 s: the
// ClientPool caps the doubling at 16x), so that they notice a cluster that
// came back soon.
const std::map<std::string, std::string> cluster_tuning = {
    {"tick_ms", "10"},
    {"checkpoint_interval", "64"},
    {"log_window", "128"},
    {"view_change_timeout_ticks", "100"},
    {"client_retransmit_ticks", "10"},
    {"durability", "\"fsync\""},
    {"kv.partitions", "256"},
};

// Keys of the workload (k0..k31): few, so that clients contend on them.
constexpr uint32_t workload_keys = 32;

// Log lines that no correct run writes: errors, the replica's refusals to
// resume, failed assertions, and the sanitizers' reports ("ERROR:
// AddressSanitizer: ...", "ERROR: LeakSanitizer: ...", UBSan's "runtime
// error: ...").
const std::vector<std::string> bad_log_markers = {
    "] error:",           "] critical:", "cannot resume",  "corrupt",          "disk failed",
    "invariant violated", "Sanitizer:",  "runtime error:", "terminate called",
};

enum class KillKind : uint8_t { single, f_plus_1, all };

const char* kind_name(KillKind k) {
  switch (k) {
    case KillKind::single: return "one";
    case KillKind::f_plus_1: return "f+1";
    case KillKind::all: return "all";
  }
  return "?";
}

// One cycle of the schedule, drawn from the seeded generator.
struct CyclePlan {
  KillKind kind = KillKind::single;
  std::vector<ReplicaId> victims;
  milliseconds before_kill{0};  // load time between the last cycle and the kill
  milliseconds down{0};         // between the kill and the restart
  // Kill again `early_after` after the restart, without waiting for the
  // restarted replicas to serve or catch up.
  bool early = false;
  milliseconds early_after{0};
};

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

class CrashLoop {
 public:
  explicit CrashLoop(Options options) : options_(std::move(options)) {}
  int run();

 private:
  Status set_up();
  CyclePlan plan_cycle(uint32_t cycle, const std::vector<ReplicaId>& restarted_early);
  // One cycle; an empty string, or why it failed.
  std::string run_cycle(uint32_t cycle, const CyclePlan& plan);
  // Waits until operations complete after `restarted_at` and `victims`
  // have caught up; an empty string, or why not.
  std::string wait_served(const std::vector<ReplicaId>& victims, uint64_t completed_at_restart,
                          Clock::time_point restarted_at, double& serve_s, double& catch_up_s);
  // Waits up to `limit` for `done`, watching for replicas that exit on their
  // own and client errors (which end the wait with failure_ set).
  bool wait_until(Clock::duration limit, const std::function<bool()>& done);
  std::optional<View> cluster_view() const;
  std::string describe_replicas() const;
  // Reads every key the workload wrote; the reads go into `entries`.
  std::string read_back(std::vector<history::Entry>& entries);
  // Lines of the replicas' logs that no correct run writes.
  std::vector<std::string> bad_log_lines() const;
  int finish(bool ok, std::string problem);

  Options options_;
  uint64_t seed_ = 0;
  Random random_{0};
  std::filesystem::path dir_;
  bool remove_dir_ = false;
  ClusterConfig cluster_;
  std::unique_ptr<tools::LocalCluster> replicas_;
  std::unique_ptr<load::LoadGenerator> load_;
  std::string failure_;  // set by wait_until
  Clock::time_point started_ = Clock::now();

  // For the summary.
  std::map<KillKind, uint32_t> kills_;
  uint32_t cycles_done_ = 0;
  uint32_t early_kills_ = 0;
  std::vector<double> power_cut_serve_s_;
  std::vector<double> serve_s_;
};

Status CrashLoop::set_up() {
  if (!std::filesystem::exists(options_.pbft)) {
    return Status::error("the pbft binary " + options_.pbft + " does not exist (--pbft PATH)");
  }
  remove_dir_ = options_.dir.empty();
  if (!options_.dir.empty()) std::filesystem::create_directories(options_.dir);
  // One client more than the load's: the reader of the final values.
  Result<tools::GeneratedCluster> generated = tools::generate_local_cluster(
      "crashloop", options_.dir, options_.replicas, options_.clients + 1, cluster_tuning);
  if (!generated) return generated.status();
  dir_ = generated->dir;
  cluster_ = std::move(generated->cluster);
  fmt::print(
      "crash loop: {} replicas (f = {}) on 127.0.0.1:{}.., {} clients, {} cycles, seed {}; "
      "files in {}\n",
      options_.replicas, cluster_.protocol.f, cluster_.replicas.front().port, options_.clients,
      options_.cycles, seed_, dir_.string());
  std::fflush(stdout);

  replicas_ = std::make_unique<tools::LocalCluster>(
      dir_, options_.replicas, std::vector<std::string>{"--log-level", "info"}, options_.pbft);
  for (ReplicaId r = 0; r < options_.replicas; r++) {
    if (Status s = replicas_->start(r); !s) return s;
  }
  const bool connected = wait_until(std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(options_.deadline_s)),
                                    [&] {
                                      for (ReplicaId r = 0; r < options_.replicas; r++) {
                                        std::optional<runtime::ReplicaStatus> s =
                                            replicas_->status(r);
                                        if (!s) return false;
                                        for (bool up : s->peers_up) {
                                          if (!up) return false;
                                        }
                                      }
                                      return true;
                                    });
  if (!connected) {
    return Status::error(
        failure_.empty()
            ? fmt::format("the replicas did not all connect within {:.0f} s", options_.deadline_s)
            : failure_);
  }

  std::vector<runtime::ClientPool::Member> members;
  for (ClientId c = 0; c < options_.clients; c++) {
    Result<SecretKey> key = tools::load_client_key(cluster_, c);
    if (!key) return key.status();
    members.push_back({c, key.value()});
  }
  load::Workload workload;
  workload.kind = load::Workload::Kind::kv;
  workload.keys = workload_keys;
  workload.seed = seed_;
  workload.record_history = true;
  Result<std::unique_ptr<load::LoadGenerator>> generator =
      load::LoadGenerator::start(cluster_, {std::move(members)}, workload, tools::wall_clock_ns());
  if (!generator) return generator.status();
  load_ = std::move(generator).value();
  // The cluster serves before the first kill.
  const bool serving = wait_until(std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(options_.deadline_s)),
                                  [&] { return load_->completed() >= 100; });
  if (!serving) {
    return Status::error(failure_.empty()
                             ? fmt::format("the new cluster did not complete 100 operations "
                                           "within {:.0f} s",
                                           options_.deadline_s)
                             : failure_);
  }
  return Status::ok();
}

CyclePlan CrashLoop::plan_cycle(uint32_t cycle, const std::vector<ReplicaId>& restarted_early) {
  const uint32_t n = options_.replicas;
  const uint32_t f = cluster_.protocol.f;
  CyclePlan plan;
  const uint64_t draw = random_.uniform(100);
  plan.kind = draw < 65 ? KillKind::single : draw < 85 ? KillKind::f_plus_1 : KillKind::all;
  if (plan.kind == KillKind::single) {
    if (!restarted_early.empty()) {
      // Kill again one that is still replaying or catching up.
      plan.victims = {restarted_early[random_.uniform(restarted_early.size())]};
    } else if (random_.chance(0.3)) {
      // The primary, as most replicas see it: a restarted primary resumes
      // in its view, or a view change replaces it.
      plan.victims = {cluster_.protocol.primary(cluster_view().value_or(0))};
    } else {
      plan.victims = {static_cast<ReplicaId>(random_.uniform(n))};
    }
  } else {
    std::vector<ReplicaId> all(n);
    for (ReplicaId r = 0; r < n; r++) all[r] = r;
    // A seeded shuffle (Fisher-Yates): std::shuffle's draws are the
    // library's, and would not replay across standard libraries.
    for (size_t i = n - 1; i > 0; i--) std::swap(all[i], all[random_.uniform(i + 1)]);
    all.resize(plan.kind == KillKind::all ? n : f + 1);
    std::sort(all.begin(), all.end());
    plan.victims = all;
  }
  plan.before_kill = milliseconds(random_.uniform_between(0, 300));
  plan.down = milliseconds(random_.uniform_between(0, 500));
  // Never two in a row, and never the last cycle: the run ends serving.
  plan.early = restarted_early.empty() && cycle < options_.cycles && random_.chance(0.15);
  plan.early_after = milliseconds(random_.uniform_between(0, 300));
  return plan;
}

std::string CrashLoop::run_cycle(uint32_t cycle, const CyclePlan& plan) {
  // The clients run all the time: the kill lands wherever the replicas are.
  std::this_thread::sleep_for(plan.before_kill);
  const std::optional<View> view = cluster_view();
  const std::string line = fmt::format(
      "cycle {:4}/{}  kill {:3} {:12}  (view {}, primary {})  down {:3} ms", cycle, options_.cycles,
      kind_name(plan.kind), fmt::format("{}", plan.victims), view ? std::to_string(*view) : "?",
      view ? std::to_string(cluster_.protocol.primary(*view)) : "?", plan.down.count());
  for (ReplicaId r : plan.victims) replicas_->kill_hard(r);
  kills_[plan.kind]++;
  std::this_thread::sleep_for(plan.down);
  for (ReplicaId r : plan.victims) {
    if (Status s = replicas_->start(r); !s) {
      return fmt::format("cycle {}: cannot start replica {}: {}", cycle, r, s.reason());
    }
  }
  const Clock::time_point restarted_at = Clock::now();
  const uint64_t completed_at_restart = load_->completed();

  if (plan.early) {
    if (!wait_until(plan.early_after, [] { return false; }) && !failure_.empty()) {
      return fmt::format("cycle {}: {}", cycle, failure_);
    }
    early_kills_++;
    fmt::print("{}: killed again {} ms after the restart, before catching up\n", line,
               plan.early_after.count());
    std::fflush(stdout);
    return "";
  }
  double serve_s = 0;
  double catch_up_s = 0;
  if (std::string problem =
          wait_served(plan.victims, completed_at_restart, restarted_at, serve_s, catch_up_s);
      !problem.empty()) {
    fmt::print("{}: FAILED\n", line);
    return fmt::format("cycle {} (kill {} {}): {}", cycle, kind_name(plan.kind),
                       fmt::format("{}", plan.victims), problem);
  }
  serve_s_.push_back(serve_s);
  if (plan.kind == KillKind::all) power_cut_serve_s_.push_back(serve_s);
  fmt::print("{}: serving after {:5.2f} s, caught up after {:5.2f} s\n", line, serve_s, catch_up_s);
  std::fflush(stdout);
  return "";
}

std::string CrashLoop::wait_served(const std::vector<ReplicaId>& victims,
                                   uint64_t completed_at_restart, Clock::time_point restarted_at,
                                   double& serve_s, double& catch_up_s) {
  const auto deadline = restarted_at + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(options_.deadline_s));
  // Serving: an operation completes after the restart.
  if (!wait_until(deadline - Clock::now(),
                  [&] { return load_->completed() > completed_at_restart; })) {
    if (!failure_.empty()) return failure_;
    return fmt::format("no operation completed within {:.0f} s after the restart; {}",
                       options_.deadline_s, describe_replicas());
  }
  serve_s = seconds_since(restarted_at);
  // Caught up: each restarted replica runs, is past recovery and state
  // transfer, and has executed what the furthest replica had executed when
  // the cluster served again (by replay, by its peers' messages or by state
  // transfer).
  Seq target = 0;
  for (ReplicaId r = 0; r < options_.replicas; r++) {
    if (std::optional<runtime::ReplicaStatus> s = replicas_->status(r)) {
      target = std::max(target, s->last_executed);
    }
  }
  const bool caught_up = wait_until(deadline - Clock::now(), [&] {
    for (ReplicaId r : victims) {
      std::optional<runtime::ReplicaStatus> s = replicas_->status(r);
      if (!s || s->recovering || s->transferring || s->last_executed < target) return false;
    }
    return true;
  });
  if (!caught_up) {
    if (!failure_.empty()) return failure_;
    return fmt::format(
        "the restarted replicas did not catch up with seq {} within {:.0f} s "
        "after the restart (serving again after {:.2f} s); {}",
        target, options_.deadline_s, serve_s, describe_replicas());
  }
  catch_up_s = seconds_since(restarted_at);
  return "";
}

bool CrashLoop::wait_until(Clock::duration limit, const std::function<bool()>& done) {
  const auto deadline = Clock::now() + limit;
  for (;;) {
    if (std::optional<ReplicaId> r = replicas_->exited()) {
      failure_ = fmt::format("replica {} exited on its own ({}); its log: {}", *r,
                             replicas_->exit_description(*r), replicas_->log_file(*r).string());
      return false;
    }
    if (load_) {
      if (std::optional<std::string> e = load_->error()) {
        failure_ = "client error: " + *e;
        return false;
      }
    }
    if (done()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(10));
  }
}

// The view most running replicas report.
std::optional<View> CrashLoop::cluster_view() const {
  std::map<View, int> votes;
  for (ReplicaId r = 0; r < options_.replicas; r++) {
    if (std::optional<runtime::ReplicaStatus> s = replicas_->status(r)) votes[s->view]++;
  }
  if (votes.empty()) return std::nullopt;
  return std::max_element(votes.begin(), votes.end(),
                          [](const auto& a, const auto& b) { return a.second < b.second; })
      ->first;
}

std::string CrashLoop::describe_replicas() const {
  std::string out = "replicas:";
  for (ReplicaId r = 0; r < options_.replicas; r++) {
    std::optional<runtime::ReplicaStatus> s = replicas_->status(r);
    if (!replicas_->running(r)) {
      out += fmt::format(" r{} down;", r);
    } else if (!s) {
      out += fmt::format(" r{} no status yet;", r);
    } else {
      out += fmt::format(" r{} view {} executed {} stable {}{}{};", r, s->view, s->last_executed,
                         s->low_watermark, s->recovering ? " recovering" : "",
                         s->transferring ? " transferring" : "");
    }
  }
  return out;
}

std::string CrashLoop::read_back(std::vector<history::Entry>& entries) {
  std::set<std::string> keys;
  for (const history::Entry& e : entries) {
    if (e.op != history::OpKind::get && e.status != history::Outcome::fail) keys.insert(e.key);
  }
  const ClientId reader = options_.clients;
  Result<SecretKey> key = tools::load_client_key(cluster_, reader);
  if (!key) return key.reason();
  Result<std::unique_ptr<runtime::ClientPool>> pool =
      runtime::ClientPool::start(cluster_, {{reader, key.value()}}, tools::wall_clock_ns());
  if (!pool) return pool.reason();
  for (const std::string& k : keys) {
    history::Entry entry;
    entry.client = reader;
    entry.op = history::OpKind::get;
    entry.key = k;
    entry.call_ns = tools::wall_clock_ns();
    auto done = std::make_shared<std::promise<Result<Completion>>>();
    std::future<Result<Completion>> outcome = done->get_future();
    (*pool)->submit(0, kv::encode_op({kv::OpType::get, Bytes(k.begin(), k.end()), {}, 0}),
                    [done](Result<Completion> c) { done->set_value(std::move(c)); });
    bool ready = false;
    wait_until(std::chrono::duration_cast<Clock::duration>(
                   std::chrono::duration<double>(options_.deadline_s)),
               [&] {
                 ready = outcome.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
                 return ready;
               });
    if (!ready) {
      (*pool)->stop();
      if (!failure_.empty()) return failure_;
      return fmt::format("reading {} back: no result within {:.0f} s; {}", k, options_.deadline_s,
                         describe_replicas());
    }
    Result<Completion> completion = outcome.get();
    if (!completion) return fmt::format("reading {} back: {}", k, completion.reason());
    entry.return_ns = tools::wall_clock_ns();
    if (Status s = workload::record_result(entry, completion->result); !s) {
      return fmt::format("reading {} back: {}", k, s.reason());
    }
    entries.push_back(std::move(entry));
  }
  (*pool)->stop();
  return "";
}

std::vector<std::string> CrashLoop::bad_log_lines() const {
  std::vector<std::string> bad;
  for (ReplicaId r = 0; r < options_.replicas; r++) {
    std::ifstream in(replicas_->log_file(r));
    for (std::string line; std::getline(in, line);) {
      for (const std::string& marker : bad_log_markers) {
        if (line.find(marker) != std::string::npos) {
          bad.push_back(fmt::format("replica-{}.log: {}", r, line));
          break;
        }
      }
    }
  }
  return bad;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 == 1 ? v[m] : (v[m - 1] + v[m]) / 2;
}

int CrashLoop::run() {
  seed_ = options_.seed ? *options_.seed
                        : (uint64_t{std::random_device{}()} << 32) | std::random_device{}();
  random_ = Random(seed_);
  if (Status s = set_up(); !s) return finish(false, s.reason());
  std::vector<ReplicaId> restarted_early;
  for (uint32_t cycle = 1; cycle <= options_.cycles; cycle++) {
    const CyclePlan plan = plan_cycle(cycle, restarted_early);
    if (std::string problem = run_cycle(cycle, plan); !problem.empty()) {
      return finish(false, problem);
    }
    cycles_done_ = cycle;
    restarted_early = plan.early ? plan.victims : std::vector<ReplicaId>{};
  }
  return finish(true, "");
}

int CrashLoop::finish(bool ok, std::string problem) {
  const double loop_s = seconds_since(started_);
  std::vector<history::Entry> entries;
  if (load_) {
    load_->stop();
    if (std::optional<std::string> e = load_->error(); e && problem.empty()) {
      problem = "client error: " + *e;
    }
    entries = load_->history();
  }
  uint64_t completed = 0;
  uint64_t writes_acknowledged = 0;
  uint64_t unknown = 0;
  for (const history::Entry& e : entries) {
    completed += e.status == history::Outcome::ok;
    writes_acknowledged += e.status == history::Outcome::ok && e.op != history::OpKind::get;
    unknown += e.status == history::Outcome::unknown;
  }
  const size_t issued = entries.size();
  // Every key written, read back from the cluster as it is now.
  size_t reads = 0;
  if (ok && load_) {
    if (std::string p = read_back(entries); !p.empty()) {
      ok = false;
      problem = "after the last cycle: " + p;
    }
    reads = entries.size() - issued;
  }
  if (replicas_) {
    if (std::optional<ReplicaId> r = replicas_->exited(); r && ok) {
      ok = false;
      problem = fmt::format("replica {} exited on its own ({}); its log: {}", *r,
                            replicas_->exit_description(*r), replicas_->log_file(*r).string());
    }
    replicas_->stop_all();
    const std::vector<std::string> bad = bad_log_lines();
    if (!bad.empty()) {
      fmt::print("\n{} log line(s) that no correct run writes:\n", bad.size());
      for (size_t i = 0; i < bad.size() && i < 20; i++) fmt::print("  {}\n", bad[i]);
      if (ok) {
        ok = false;
        problem = "a replica logged an error: " + bad.front();
      }
    }
  }

  std::string verdict_history = "not checked";
  if (!entries.empty()) {
    const std::filesystem::path file = dir_ / "history.jsonl";
    if (Status s = history::write_file(file.string(), entries); !s) {
      fmt::print("cannot write the history: {}\n", s.reason());
    }
    const auto check_started = Clock::now();
    const history::CheckResult check = history::check_linearizable(entries);
    const bool linearizable = check.complete && check.linearizable;
    verdict_history = linearizable     ? "linearizable"
                      : check.complete ? "NOT linearizable: " + check.explanation
                                       : "the checker gave up: " + check.explanation;
    fmt::print("\nhistory: {} ({} operations and {} final reads; {}; checked in {:.1f} s)\n",
               file.string(), issued, reads, verdict_history, seconds_since(check_started));
    if (!linearizable && ok) {
      ok = false;
      problem = "the history is " + verdict_history;
    }
  }
  const double serve_median = median(power_cut_serve_s_);
  const double serve_max =
      power_cut_serve_s_.empty()
          ? 0
          : *std::max_element(power_cut_serve_s_.begin(), power_cut_serve_s_.end());
  const double any_max = serve_s_.empty() ? 0 : *std::max_element(serve_s_.begin(), serve_s_.end());
  fmt::print(
      "crash loop: {} of {} cycles in {:.1f} s, seed {}: kills {} one, {} f+1, {} all (power "
      "cuts), {} killed again before catching up; {} operations completed ({} writes "
      "acknowledged, {} in flight at the stop) and {} read back; serving again after a power "
      "cut: median {:.2f} s, max {:.2f} s (any kill: max {:.2f} s); history {}\n",
      cycles_done_, options_.cycles, loop_s, seed_, kills_[KillKind::single],
      kills_[KillKind::f_plus_1], kills_[KillKind::all], early_kills_, completed,
      writes_acknowledged, unknown, reads, serve_median, serve_max, any_max, verdict_history);
  if (!ok) {
    fmt::print("problem: {}\n", problem.empty() ? "unknown" : problem);
    if (!dir_.empty()) {
      fmt::print("logs: {}/logs/replica-*.log (kept); rerun the schedule with --seed {}\n",
                 dir_.string(), seed_);
    }
  }
  replicas_.reset();
  if (ok && remove_dir_ && !dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
    fmt::print("removed {} (--dir keeps the files)\n", dir_.string());
  }
  fmt::print("verdict: {}\n", ok ? "PASS" : "FAIL");
  std::fflush(stdout);
  return ok ? 0 : 1;
}

}  // namespace

}  // namespace pbft::crash_loop

int main(int argc, char** argv) {
  pbft::crash_loop::Options options;
  CLI::App app{
      "The crash-loop test: replica processes under load, killed -9 (one, f+1 or all at once) "
      "and started again from their disks, cycle after cycle; the client history must be "
      "linearizable and every acknowledged write present at the end"};
  app.add_option("--cycles", options.cycles, "Kill-and-restart cycles")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1'000'000u));
  app.add_option("--seed", options.seed,
                 "Seed of the schedule of kills and of the workload (default: a fresh one, "
                 "printed)");
  app.add_option("--pbft", options.pbft, "The pbft binary the replicas run")->capture_default_str();
  app.add_option("--dir", options.dir,
                 "Directory for keys, data, logs and history, kept (default: a new "
                 "/tmp/pbft-crashloop-XXXXXX, removed on success, kept on failure)");
  app.add_option("--replicas", options.replicas, "Replicas n (3f+1)")
      ->capture_default_str()
      ->check(CLI::IsMember({4u, 7u}));
  app.add_option("--clients", options.clients, "Closed-loop clients")
      ->capture_default_str()
      ->check(CLI::Range(1u, 64u));
  app.add_option("--deadline", options.deadline_s,
                 "Seconds a cycle may take to serve again and catch up after its restart")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 3600.0));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // --help is a success
  }
  pbft::crash_loop::CrashLoop loop(options);
  return loop.run();
}
