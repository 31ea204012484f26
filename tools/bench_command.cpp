// `pbft bench`: throughput and latency of a cluster, measured like the
// papers: closed-loop clients (each session one operation outstanding), a
// warm-up, then a measured period. By default it starts n replica processes
// on loopback (or, with --unreplicated, the same store behind the same
// transport on one server); with --config it drives a running cluster.
// Prints progress every second, then a table; --json writes everything,
// --history the client history. With --attack MODE an attacker (`pbft
// attack`, src/attack: test-only) runs against the local cluster meanwhile,
// and the report says what it sent, each replica's peak memory and the
// honest clients' longest wait. docs/PERFORMANCE.md has the method and the
// results.
#include <fmt/format.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "pbft/cluster_config.h"
#include "pbft/constants.h"
#include "pbft/history.h"
#include "pbft/load.h"
#include "pbft/runtime.h"
#include "src/attack/attacker.h"
#include "tools/commands.h"
#include "tools/knob_options.h"
#include "tools/local_cluster.h"
#include "tools/runtime_support.h"

#include "pbft_commit.h"  // generated at build time: PBFT_COMMIT

namespace pbft::tools {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

struct BenchArgs {
  std::string config;
  uint32_t replicas = 4;
  uint32_t clients = 8;
  uint32_t outstanding = 64;
  uint32_t request_size = 0;
  uint32_t reply_size = 0;
  double duration_s = 10;
  double warmup_s = 3;
  double read_only_ratio = 0;
  // The protocol's knobs given (--client-auth, --batch-size-max, ...); the
  // others keep the generated cluster file's defaults.
  KnobValues knobs;
  bool unreplicated = false;
  std::string durability = "fsync";  // the local cluster's (knob_choices::durability)
  std::string encryption = "tls";    // the local cluster's links (knob_choices::encryption)
  std::string json;
  std::string history;
  std::string workload = "null";
  uint32_t keys = 32;
  unsigned verify_threads = 2;
  unsigned client_threads = 1;
  std::string dir;
  bool quiet = false;
  // --attack: "none" or a mode of src/attack/attacker.h; given at all, the
  // report has an "attack" object (none: the baseline's figures).
  std::string attack = "none";
  bool attack_given = false;
};

std::atomic<bool> interrupted{false};
void on_interrupt(int) { interrupted = true; }

double seconds_of(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown";
}

double self_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// The attacker's place in the run: its process, and what it reported.
struct AttackRun {
  const attack::ModeInfo* mode = nullptr;  // null: --attack none
  pid_t pid = -1;
  std::optional<ReplicaId> replaced;        // replica modes: the replica it stands for
  std::filesystem::path stats_file;
  std::optional<double> cpu_before;          // when the measured period began
  std::optional<double> cpu_s;               // over the measured period
  attack::AttackCounters counters;           // from its stats file, at the end
  std::vector<std::optional<uint64_t>> peak_rss_kib;  // per replica (VmHWM)
  uint64_t honest_latency_max_us = 0;        // completed in the measured period
  uint64_t honest_wait_max_us = 0;           // the oldest still in flight at its end
};

// One replica's figures at a point in time.
struct ReplicaSample {
  std::optional<double> cpu_s;
  std::optional<runtime::ReplicaStatus> status;
  std::optional<uint64_t> rss_kib;
};

class Bench {
 public:
  explicit Bench(const BenchArgs& args) : args_(args) {}
  int run();

 private:
  Status validate() const;
  Status set_up_local();
  Status start_attacker();
  void stop_attacker();
  Status set_up_load();
  std::vector<ReplicaSample> sample() const;
  void report(const load::LatencyHistogram& latency, uint64_t operations, double measured_s,
              const std::vector<ReplicaSample>& before, const std::vector<ReplicaSample>& after,
              double client_cpu_s, const runtime::RuntimeCounters& client_counters);
  uint32_t sessions() const { return args_.clients * args_.outstanding; }  // validated
  uint32_t servers() const { return args_.unreplicated ? 1 : cluster_.protocol.n; }
  // The client ids the attacker needs beyond the sessions'.
  uint32_t attacker_clients() const {
    return attack_.mode ? attack::clients_needed(attack_.mode->mode) : 0;
  }
  void report_attack(nlohmann::json& j, const load::LatencyHistogram& latency, double measured_s);

  BenchArgs args_;
  std::filesystem::path dir_;
  ClusterConfig cluster_;   // as the replicas see it
  ClusterConfig clients_;   // as the clients see it (one server when unreplicated)
  std::unique_ptr<LocalCluster> local_;
  std::unique_ptr<load::LoadGenerator> load_;
  std::vector<uint64_t> rss_max_kib_;  // per server, over the measured period
  AttackRun attack_;
};

Status Bench::validate() const {
  if (args_.workload == "kv") {
    if (args_.request_size != 0 || args_.reply_size != 0) {
      return Status::error("--request-size and --reply-size apply to --workload null only");
    }
    if (args_.read_only_ratio != 0) {
      return Status::error("--read-only-ratio applies to --workload null only");
    }
  } else if (!args_.history.empty()) {
    return Status::error("--history needs --workload kv: the null and fill operations have no "
                         "place in the key-value history");
  }
  if (args_.workload == "fill" && (args_.reply_size != 0 || args_.read_only_ratio != 0)) {
    return Status::error("--reply-size and --read-only-ratio apply to --workload null only");
  }
  if (static_cast<uint64_t>(args_.clients) * args_.outstanding > constants::clients_max) {
    return Status::error(fmt::format("{} clients x {} outstanding is more sessions (client ids) "
                                     "than a cluster may have ({})",
                                     args_.clients, args_.outstanding, constants::clients_max));
  }
  if (!args_.config.empty() && args_.unreplicated) {
    return Status::error("--unreplicated starts its own server: it does not take --config");
  }
  if (args_.attack != "none") {
    const attack::ModeInfo* mode = attack::find_mode(args_.attack);
    if (mode == nullptr) {
      return Status::error(fmt::format("--attack {}: no such mode (none, {})", args_.attack,
                                       attack::mode_names()));
    }
    if (!mode->implemented) {
      return Status::error(fmt::format("--attack {} is not implemented yet: {}", mode->name,
                                       mode->help));
    }
    if (!args_.config.empty() || args_.unreplicated) {
      return Status::error("--attack runs against the local cluster it starts: not with "
                           "--config or --unreplicated");
    }
    if (mode->mode == attack::Mode::partial_auth &&
        args_.knobs.count(KnobId::client_auth) != 0 &&
        args_.knobs.at(KnobId::client_auth) != static_cast<uint64_t>(RequestAuth::authenticator)) {
      return Status::error("--attack partial-auth needs --client-auth mac (with signatures "
                           "every replica checks the same tag)");
    }
  }
  return Status::ok();
}

Status Bench::set_up_local() {
  // The generated file's defaults, but for what the options set.
  std::map<std::string, std::string> values = cluster_file_values(args_.knobs);
  values["log_level"] = "\"warn\"";
  values["durability"] = "\"" + args_.durability + "\"";
  values["encryption"] = "\"" + args_.encryption + "\"";
  Result<GeneratedCluster> generated = generate_local_cluster(
      "bench", args_.dir, args_.replicas, sessions() + attacker_clients(), values);
  if (!generated) return generated.status();
  dir_ = generated->dir;
  cluster_ = std::move(generated->cluster);

  std::vector<std::string> extra = {"--verify-threads", std::to_string(args_.verify_threads)};
  if (args_.unreplicated) extra.push_back("--unreplicated");
  local_ = std::make_unique<LocalCluster>(dir_, servers(), extra);
  // A replica attacker takes the last replica's place: that one is not
  // started, and the others wait for each other only.
  if (attack_.mode && attack_.mode->mode == attack::Mode::slow_primary) {
    // Played by view 0's primary itself, just under the view-change timeout.
    const uint64_t timeout_ms = cluster_.tick_ms * cluster_.protocol.view_change_timeout_ticks;
    local_->set_replica_args(0, {"--slow-primary-ms", std::to_string(timeout_ms * 9 / 10)});
  } else if (attack_.mode && attack_.mode->family == attack::Family::replica) {
    attack_.replaced = servers() - 1;
  }
  for (ReplicaId r = 0; r < servers(); r++) {
    if (r == attack_.replaced) continue;
    if (Status s = local_->start(r); !s) return s;
  }
  if (args_.unreplicated) return Status::ok();  // the clients' connections show it is up
  const auto deadline = Clock::now() + seconds(10);
  for (;;) {
    bool up = true;
    for (ReplicaId r = 0; r < servers() && up; r++) {
      if (r == attack_.replaced) continue;
      std::optional<runtime::ReplicaStatus> s = local_->status(r);
      up = s.has_value();
      if (!s) break;
      for (ReplicaId peer = 0; peer < s->peers_up.size(); peer++) {
        if (peer != attack_.replaced) up = up && s->peers_up[peer];
      }
    }
    if (up) return Status::ok();
    if (std::optional<ReplicaId> r = local_->exited()) {
      return Status::error(fmt::format("replica {} exited (see {})", *r,
                                       local_->log_file(*r).string()));
    }
    if (Clock::now() > deadline || interrupted) {
      return Status::error("the replicas did not all connect within 10 s (logs in " +
                           (dir_ / "logs").string() + ")");
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
}

// The attacker runs as a process of its own (`pbft attack`), so that its
// CPU and memory are its own and the load generator's figures stay the
// clients'. It uses the client ids after the sessions', and a replica
// attacker the key of the replica it replaces.
Status Bench::start_attacker() {
  const attack::ModeInfo& mode = *attack_.mode;
  attack_.stats_file = dir_ / "attacker-stats.json";
  std::error_code ignored;
  std::filesystem::remove(attack_.stats_file, ignored);
  std::vector<std::string> args = {"pbft", "attack", "--config", (dir_ / "cluster.toml").string(),
                                   "--mode", std::string(mode.name), "--stats",
                                   attack_.stats_file.string()};
  if (attack_.replaced) {
    args.insert(args.end(), {"--replica", std::to_string(*attack_.replaced)});
  }
  if (mode.family == attack::Family::network) {
    // An outsider is another host: its address backs off, not the clients'.
    args.insert(args.end(), {"--from", "127.0.0.2"});
  }
  if (attacker_clients() > 0) {
    // The sessions take the file's first ids (set_up_load): the attacker the next ones.
    auto id = cluster_.clients.begin();
    std::advance(id, sessions());
    args.insert(args.end(), {"--first-client", std::to_string(id->first)});
  }
  Result<pid_t> pid = spawn_process("/proc/self/exe", std::move(args), dir_ / "logs" / "attacker.log");
  if (!pid) return pid.status();
  attack_.pid = pid.value();
  // Started once it writes its stats (its links and listener are up).
  const auto deadline = Clock::now() + seconds(10);
  while (!std::filesystem::exists(attack_.stats_file)) {
    std::string how;
    if (process_exited(attack_.pid, &how)) {
      attack_.pid = -1;
      return Status::error(fmt::format("the attacker exited ({}; see {})", how,
                                       (dir_ / "logs" / "attacker.log").string()));
    }
    if (Clock::now() > deadline || interrupted) {
      return Status::error("the attacker did not start within 10 s");
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  return Status::ok();
}

void Bench::stop_attacker() {
  if (attack_.pid <= 0) return;
  stop_process(attack_.pid, seconds(3));
  attack_.pid = -1;
  std::ifstream in(attack_.stats_file);
  std::stringstream text;
  text << in.rdbuf();
  const nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, false);
  if (j.is_object() && j.contains("counters")) {
    Result<attack::AttackCounters> counters = attack::counters_from_json(j["counters"].dump());
    if (counters) attack_.counters = counters.value();
  }
}

Status Bench::set_up_load() {
  clients_ = args_.unreplicated ? runtime::unreplicated_view(cluster_) : cluster_;
  if (cluster_.clients.size() < sessions()) {
    return Status::error(fmt::format("{} sessions ({} clients x {} outstanding) need that many "
                                     "clients in the cluster file, which lists {}",
                                     sessions(), args_.clients, args_.outstanding,
                                     cluster_.clients.size()));
  }
  // Each client thread gets a contiguous block of ids, so that its
  // sessions share one connection per replica (a client group).
  const unsigned threads = std::max(1u, std::min(args_.client_threads, sessions()));
  std::vector<std::vector<runtime::ClientPool::Member>> pools(threads);
  uint32_t session = 0;
  for (const auto& [id, public_key] : cluster_.clients) {
    if (session == sessions()) break;
    Result<SecretKey> key = load_client_key(cluster_, id);
    if (!key) return key.status();
    pools[static_cast<uint64_t>(session) * threads / sessions()].push_back({id, key.value()});
    session++;
  }
  load::Workload workload;
  workload.kind = args_.workload == "kv"     ? load::Workload::Kind::kv
                  : args_.workload == "fill" ? load::Workload::Kind::fill
                                             : load::Workload::Kind::null;
  workload.keys = args_.keys;
  workload.request_size = args_.request_size;
  workload.reply_size = args_.reply_size;
  workload.read_only_ratio = args_.read_only_ratio;
  workload.record_history = !args_.history.empty();
  Result<std::unique_ptr<load::LoadGenerator>> generator =
      load::LoadGenerator::start(clients_, std::move(pools), workload, wall_clock_ns());
  if (!generator) return generator.status();
  load_ = std::move(generator).value();
  return Status::ok();
}

std::vector<ReplicaSample> Bench::sample() const {
  std::vector<ReplicaSample> out(servers());
  if (!local_) return out;
  for (ReplicaId r = 0; r < servers(); r++) {
    if (!local_->running(r)) continue;
    out[r].cpu_s = process_cpu_seconds(local_->pid(r));
    out[r].rss_kib = process_rss_kib(local_->pid(r));
    if (!args_.unreplicated) out[r].status = local_->status(r);
  }
  return out;
}

int Bench::run() {
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  auto fail = [](const std::string& why) {
    fmt::print(stderr, "pbft bench: {}\n", why);
    return 1;
  };
  if (Status s = validate(); !s) return fail(s.reason());
  if (args_.attack != "none") attack_.mode = attack::find_mode(args_.attack);
  if (args_.config.empty()) {
    if (Status s = set_up_local(); !s) return fail(s.reason());
    if (attack_.mode && attack_.mode->mode != attack::Mode::slow_primary) {
      if (Status s = start_attacker(); !s) {
        local_->stop_all();
        return fail(s.reason() + " (logs in " + (dir_ / "logs").string() + ")");
      }
    }
  } else {
    Result<ClusterConfig> cluster = load_cluster_config(args_.config);
    if (!cluster) return fail(cluster.reason());
    cluster_ = std::move(cluster).value();
  }
  if (!args_.quiet) {
    fmt::print("bench: {} ({}), {} clients x {} outstanding, {} B requests / {} B replies, "
               "{} workload, auth {}, batch <= {}; warm-up {:.0f} s, measured {:.0f} s\n",
               args_.unreplicated ? "unreplicated server"
                                  : fmt::format("n = {}, f = {}", cluster_.protocol.n,
                                                cluster_.protocol.f),
               args_.config.empty() ? "local processes on loopback" : args_.config,
               args_.clients, args_.outstanding, args_.request_size, args_.reply_size,
               args_.workload,
               cluster_.protocol.client_auth == RequestAuth::signature ? "sig" : "mac",
               cluster_.protocol.batch_size_max, args_.warmup_s, args_.duration_s);
    if (attack_.mode) {
      fmt::print("attack: {} ({}{}), TEST-ONLY: {}\n", attack_.mode->name,
                 attack::family_name(attack_.mode->family),
                 attack_.replaced ? fmt::format(", in replica {}'s place", *attack_.replaced) : "",
                 attack_.mode->help);
    }
    std::fflush(stdout);
  }
  if (Status s = set_up_load(); !s) {
    stop_attacker();
    return fail(s.reason());
  }

  const auto started = Clock::now();
  const auto measure_from = started + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(args_.warmup_s));
  const auto measure_until = measure_from + std::chrono::duration_cast<Clock::duration>(
                                                std::chrono::duration<double>(args_.duration_s));
  bool measuring = false;
  load::LatencyHistogram latency;
  uint64_t operations = 0;
  std::vector<ReplicaSample> before;
  double client_cpu_before = 0;
  runtime::RuntimeCounters client_before;
  Clock::time_point measure_started;
  auto next_line = started + seconds(1);
  std::string problem;
  for (;;) {
    std::this_thread::sleep_for(milliseconds(20));
    const auto now = Clock::now();
    if (interrupted) {
      problem = "interrupted";
      break;
    }
    if (local_) {
      if (std::optional<ReplicaId> r = local_->exited()) {
        problem = fmt::format("replica {} exited (see {})", *r, local_->log_file(*r).string());
        break;
      }
    }
    if (std::string how; attack_.pid > 0 && process_exited(attack_.pid, &how)) {
      attack_.pid = -1;
      problem = fmt::format("the attacker exited ({}; see {})", how,
                            (dir_ / "logs" / "attacker.log").string());
      break;
    }
    if (std::optional<std::string> e = load_->error()) {
      problem = *e;
      break;
    }
    if (!measuring && now >= measure_from) {
      load_->take_window();  // the warm-up's operations are not measured
      before = sample();
      rss_max_kib_.assign(servers(), 0);
      for (ReplicaId r = 0; r < servers(); r++) {
        rss_max_kib_[r] = before[r].rss_kib.value_or(0);
      }
      client_cpu_before = self_cpu_seconds();
      client_before = load_->counters();
      if (attack_.pid > 0) attack_.cpu_before = process_cpu_seconds(attack_.pid);
      measure_started = Clock::now();
      measuring = true;
    } else if (measuring && now >= measure_until) {
      break;
    }
    if (now >= next_line) {
      next_line += seconds(1);
      if (!measuring) continue;
      // Memory over the measured period: each server's resident set, once a second.
      if (local_) {
        for (ReplicaId r = 0; r < servers(); r++) {
          if (std::optional<uint64_t> kib = process_rss_kib(local_->pid(r))) {
            rss_max_kib_[r] = std::max(rss_max_kib_[r], *kib);
          }
        }
      }
      const load::LoadWindow w = load_->take_window();
      latency.merge(w.latency);
      operations += w.completed;
      if (!args_.quiet) {
        fmt::print("[{:5.1f}s] measuring  {:8} ops in the last second  p50 {:7.3f} ms  p99 "
                   "{:7.3f} ms\n",
                   seconds_of(now - started), w.completed, w.latency.percentile(0.5) / 1e3,
                   w.latency.percentile(0.99) / 1e3);
        std::fflush(stdout);
      }
    } else if (!measuring && now + milliseconds(20) >= next_line && !args_.quiet) {
      fmt::print("[{:5.1f}s] warming up  {} operations so far\n", seconds_of(now - started),
                 load_->completed());
      std::fflush(stdout);
    }
  }
  if (!problem.empty()) {
    load_->stop();
    stop_attacker();
    if (local_) local_->stop_all();
    return fail(problem + (dir_.empty() ? "" : " (logs in " + (dir_ / "logs").string() + ")"));
  }
  const load::LoadWindow last = load_->take_window();
  latency.merge(last.latency);
  operations += last.completed;
  const double measured_s = seconds_of(Clock::now() - measure_started);
  const std::vector<ReplicaSample> after = sample();
  if (args_.attack_given) {
    // What the attack did to the replicas' memory (their peaks over their
    // whole life) and to the honest clients: their longest wait, counting
    // the operations still waiting now.
    attack_.honest_wait_max_us = load_->longest_wait_us();
    attack_.peak_rss_kib.assign(servers(), std::nullopt);
    for (ReplicaId r = 0; r < servers() && local_; r++) {
      if (local_->running(r)) attack_.peak_rss_kib[r] = process_peak_rss_kib(local_->pid(r));
    }
    if (attack_.pid > 0 && attack_.cpu_before) {
      if (std::optional<double> cpu = process_cpu_seconds(attack_.pid)) {
        attack_.cpu_s = *cpu - *attack_.cpu_before;
      }
    }
  }
  const double client_cpu_s = self_cpu_seconds() - client_cpu_before;
  runtime::RuntimeCounters client_counters = load_->counters();
  client_counters.frames_sent -= client_before.frames_sent;
  client_counters.frames_received -= client_before.frames_received;
  load_->stop();
  const std::optional<std::string> load_error = load_->error();
  stop_attacker();
  if (local_) local_->stop_all();

  report(latency, operations, measured_s, before, after, client_cpu_s, client_counters);
  if (!args_.history.empty()) {
    const std::vector<history::Entry> entries = load_->history();
    if (Status s = history::write_file(args_.history, entries); !s) {
      return fail("cannot write the history: " + s.reason());
    }
    if (!args_.quiet) fmt::print("history: {} ({} operations)\n", args_.history, entries.size());
  }
  if (operations == 0) return fail("no operation completed in the measured period");
  return 0;
}

void Bench::report(const load::LatencyHistogram& latency, uint64_t operations, double measured_s,
                   const std::vector<ReplicaSample>& before,
                   const std::vector<ReplicaSample>& after, double client_cpu_s,
                   const runtime::RuntimeCounters& client_counters) {
  const double throughput = measured_s > 0 ? static_cast<double>(operations) / measured_s : 0;
  const double kops = static_cast<double>(operations) / 1000.0;
  nlohmann::json j;
  j["throughput_ops_per_s"] = throughput;
  j["latency_us"] = {{"p50", latency.percentile(0.50)},  {"p90", latency.percentile(0.90)},
                     {"p99", latency.percentile(0.99)},  {"p999", latency.percentile(0.999)},
                     {"max", latency.max()},             {"mean", latency.mean()}};
  j["operations"] = operations;
  j["measured_s"] = measured_s;
  j["options"] = {{"config", args_.config},
                  {"replicas", args_.unreplicated ? 1 : cluster_.protocol.n},
                  {"f", args_.unreplicated ? 0 : cluster_.protocol.f},
                  {"clients", args_.clients},
                  {"outstanding", args_.outstanding},
                  {"sessions", sessions()},
                  {"request_size", args_.request_size},
                  {"reply_size", args_.reply_size},
                  {"duration_s", args_.duration_s},
                  {"warmup_s", args_.warmup_s},
                  // The JSON's names and words ("auth": "sig" or "mac", "batch_max")
                  // are an external contract older than the knob table: they stay.
                  {"auth", cluster_.protocol.client_auth == RequestAuth::signature ? "sig" : "mac"},
                  {"read_only_ratio", args_.read_only_ratio},
                  {"batch_max", cluster_.protocol.batch_size_max},
                  {"in_flight_max", cluster_.protocol.in_flight_max},
                  {"unreplicated", args_.unreplicated},
                  {"durability", std::string(knob_choices::durability[cluster_.durability])},
                  {"encryption", std::string(knob_choices::encryption[cluster_.encryption])},
                  {"workload", args_.workload},
                  {"verify_threads", args_.verify_threads},
                  {"client_threads", args_.client_threads}};
  j["machine"] = {{"cores", std::thread::hardware_concurrency()}, {"cpu_model", cpu_model()}};
  j["commit"] = PBFT_COMMIT;
  j["allocator"] = PBFT_ALLOCATOR;  // of this build (and of local replicas, the same binary)
  j["load_generator"] = {
      {"cpu_s", client_cpu_s},
      {"cpu_share", measured_s > 0 ? client_cpu_s / measured_s : 0},
      {"cpu_s_per_1000_ops", kops > 0 ? client_cpu_s / kops : 0},
      {"frames_sent", client_counters.frames_sent},
      {"frames_received", client_counters.frames_received}};

  nlohmann::json replicas = nlohmann::json::array();
  uint64_t batches = 0, requests = 0;
  std::optional<View> view_before, view_after;
  for (size_t r = 0; r < after.size(); r++) {
    nlohmann::json rj;
    rj["id"] = r;
    const ReplicaSample& a = after[r];
    const ReplicaSample& b = r < before.size() ? before[r] : ReplicaSample{};
    if (a.cpu_s && b.cpu_s) {
      rj["cpu_s"] = *a.cpu_s - *b.cpu_s;
      rj["cpu_s_per_1000_ops"] = kops > 0 ? (*a.cpu_s - *b.cpu_s) / kops : 0;
    }
    if (a.rss_kib) rj["rss_kib"] = *a.rss_kib;
    // Resident memory when the measured period started and at its end,
    // and the largest once-a-second sample in between.
    if (b.rss_kib) rj["rss_kib_start"] = *b.rss_kib;
    if (r < rss_max_kib_.size() && rss_max_kib_[r] > 0) {
      rj["rss_kib_max"] = std::max(rss_max_kib_[r], a.rss_kib.value_or(0));
    }
    if (a.status && b.status) {
      const runtime::RuntimeCounters& ca = a.status->counters;
      const runtime::RuntimeCounters& cb = b.status->counters;
      // The status files are written every 200 ms: the counters' interval
      // is the files', close to the measured one.
      const double ops = static_cast<double>(operations);
      if (ops > 0) {
        rj["messages_sent_per_op"] = static_cast<double>(ca.frames_sent - cb.frames_sent) / ops;
        rj["messages_received_per_op"] =
            static_cast<double>(ca.frames_received - cb.frames_received) / ops;
        rj["bytes_sent_per_op"] = static_cast<double>(ca.bytes_sent - cb.bytes_sent) / ops;
        rj["bytes_received_per_op"] =
            static_cast<double>(ca.bytes_received - cb.bytes_received) / ops;
        rj["disk_syncs_per_op"] = static_cast<double>(ca.disk_syncs - cb.disk_syncs) / ops;
      }
      if (measured_s > 0) {
        rj["disk_syncs_per_s"] = static_cast<double>(ca.disk_syncs - cb.disk_syncs) / measured_s;
      }
      rj["dropped_sends"] = (ca.send_dropped_queue_full - cb.send_dropped_queue_full) +
                            (ca.send_dropped_no_link - cb.send_dropped_no_link) +
                            (ca.send_dropped_no_route - cb.send_dropped_no_route);
      batches = std::max(batches, a.status->batches_executed - b.status->batches_executed);
      requests = std::max(requests, a.status->requests_executed - b.status->requests_executed);
      view_before = view_before ? std::min(*view_before, b.status->view) : b.status->view;
      view_after = view_after ? std::max(*view_after, a.status->view) : a.status->view;
    }
    replicas.push_back(rj);
  }
  j["replicas"] = replicas;
  if (batches > 0) j["batch_size_mean"] = static_cast<double>(requests) / batches;
  if (view_before && view_after) j["view_changes"] = *view_after - *view_before;
  if (args_.attack_given) report_attack(j, latency, measured_s);

  if (!args_.quiet) {
    fmt::print("\n");
    fmt::print("  throughput        {:>12.0f} ops/s ({} operations in {:.1f} s)\n", throughput,
               operations, measured_s);
    fmt::print("  latency (ms)      p50 {:.3f}  p90 {:.3f}  p99 {:.3f}  p99.9 {:.3f}  max {:.3f}\n",
               latency.percentile(0.5) / 1e3, latency.percentile(0.9) / 1e3,
               latency.percentile(0.99) / 1e3, latency.percentile(0.999) / 1e3,
               static_cast<double>(latency.max()) / 1e3);
    if (j.contains("batch_size_mean")) {
      fmt::print("  batch size        {:>12.1f} requests per batch (mean)\n",
                 j["batch_size_mean"].get<double>());
    }
    if (j.contains("view_changes")) {
      fmt::print("  view changes      {:>12}\n", j["view_changes"].get<uint64_t>());
    }
    fmt::print("  load generator    {:>12.2f} CPU s per 1,000 ops ({:.0f}% of a core)\n",
               kops > 0 ? client_cpu_s / kops : 0, measured_s > 0 ? 100 * client_cpu_s / measured_s : 0);
    fmt::print("\n  {:<8} {:>16} {:>14} {:>14} {:>14} {:>14} {:>10}\n", "server", "CPU s/1000 ops",
               "msgs sent/op", "msgs recv/op", "bytes sent/op", "bytes recv/op", "RSS MiB");
    for (const nlohmann::json& rj : replicas) {
      auto num = [&](const char* key, const char* format) -> std::string {
        return rj.contains(key) ? fmt::format(fmt::runtime(format), rj[key].get<double>()) : "-";
      };
      fmt::print("  {:<8} {:>16} {:>14} {:>14} {:>14} {:>14} {:>10}\n",
                 fmt::format("{}{}", args_.unreplicated ? "server " : "replica ", rj["id"].get<int>()),
                 num("cpu_s_per_1000_ops", "{:.3f}"), num("messages_sent_per_op", "{:.2f}"),
                 num("messages_received_per_op", "{:.2f}"), num("bytes_sent_per_op", "{:.0f}"),
                 num("bytes_received_per_op", "{:.0f}"),
                 rj.contains("rss_kib")
                     ? fmt::format("{:.1f}", rj["rss_kib"].get<double>() / 1024.0)
                     : std::string("-"));
    }
    if (j.contains("attack")) {
      const nlohmann::json& a = j["attack"];
      fmt::print("\n  attack            {}", a["mode"].get<std::string>());
      if (attack_.mode) {
        fmt::print(" ({}): {} frames, {:.1f} MB sent; {} connections opened ({} open at most); "
                   "attacker {:.0f}% of a core",
                   a["family"].get<std::string>(), a["frames_sent"].get<uint64_t>(),
                   static_cast<double>(a["bytes_sent"].get<uint64_t>()) / 1e6,
                   a["connections_opened"].get<uint64_t>(),
                   a["connections_open_max"].get<uint64_t>(),
                   100 * a.value("attacker_cpu_share", 0.0));
      }
      fmt::print("\n  peak RSS (MiB)   ");
      for (const nlohmann::json& kib : a["replicas_peak_rss_kib"]) {
        fmt::print(" {}", kib.is_null() ? std::string("-")
                                        : fmt::format("{:.1f}", kib.get<double>() / 1024.0));
      }
      fmt::print("\n  honest max wait   {:.1f} ms (2 view-change timeouts: {:.0f} ms)\n",
                 static_cast<double>(a["honest_latency_max_us"].get<uint64_t>()) / 1e3,
                 2 * a["view_change_timeout_ms"].get<double>());
    }
    std::fflush(stdout);
  }
  if (!args_.json.empty()) {
    std::ofstream out(args_.json, std::ios::trunc);
    out << j.dump(2) << "\n";
    if (!out) {
      fmt::print(stderr, "pbft bench: cannot write {}\n", args_.json);
    } else if (!args_.quiet) {
      fmt::print("\njson: {}\n", args_.json);
    }
  }
  if (args_.quiet) fmt::print("{}\n", j.dump());
}

// The "attack" object (docs/operations.md, "The benchmark"): the mode, what
// the attacker sent (its counters, src/attack/attacker.h), each replica's
// peak resident memory, and the honest clients' longest wait.
void Bench::report_attack(nlohmann::json& j, const load::LatencyHistogram& latency,
                          double measured_s) {
  nlohmann::json a;
  a["mode"] = attack_.mode ? std::string(attack_.mode->name) : "none";
  a["family"] = attack_.mode ? attack::family_name(attack_.mode->family) : "none";
  if (attack_.replaced) a["replaced_replica"] = *attack_.replaced;
  if (attack_.mode) {
    const nlohmann::json counters = nlohmann::json::parse(attack::to_json(attack_.counters));
    for (const auto& [name, value] : counters.items()) a[name] = value;
    if (attack_.cpu_s) {
      a["attacker_cpu_s"] = *attack_.cpu_s;
      a["attacker_cpu_share"] = measured_s > 0 ? *attack_.cpu_s / measured_s : 0;
    }
  }
  nlohmann::json peaks = nlohmann::json::array();
  for (const std::optional<uint64_t>& kib : attack_.peak_rss_kib) {
    peaks.push_back(kib ? nlohmann::json(*kib) : nlohmann::json());
  }
  a["replicas_peak_rss_kib"] = peaks;
  attack_.honest_latency_max_us = latency.max();
  a["honest_latency_max_us"] = std::max(attack_.honest_latency_max_us, attack_.honest_wait_max_us);
  a["honest_completed_latency_max_us"] = attack_.honest_latency_max_us;
  a["honest_in_flight_wait_max_us"] = attack_.honest_wait_max_us;
  a["kv_bytes_max"] = cluster_.kv.bytes_max;
  a["kv_client_bytes_max"] = cluster_.kv.client_bytes_max;
  a["view_change_timeout_ms"] =
      static_cast<double>(cluster_.tick_ms) * static_cast<double>(cluster_.protocol.view_change_timeout_ticks);
  j["attack"] = a;
}

}  // namespace

void add_bench_command(CLI::App& app, int& exit_status) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand(
      "bench",
      "Measure throughput and latency: closed-loop clients against n local replica processes "
      "(or a running cluster, or one unreplicated server), a warm-up, a measured period, a "
      "table and optionally JSON");
  cmd->add_option("--config", args->config,
                  "Drive a running cluster described by this cluster file (it must list at "
                  "least clients x outstanding clients with key files) instead of starting one");
  cmd->add_option("--replicas", args->replicas, "Replicas n (3f+1) of the local cluster")
      ->capture_default_str()
      ->check(CLI::IsMember({4u, 7u, 10u, 13u}));
  cmd->add_option("--clients", args->clients, "Closed-loop clients")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1024u));
  cmd->add_option("--outstanding", args->outstanding,
                  "Requests each client keeps outstanding (one session, i.e. one client id, "
                  "per outstanding request: a PBFT client has one at a time)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1024u));
  cmd->add_option("--request-size", args->request_size, "Bytes of argument per operation")
      ->capture_default_str()
      ->check(CLI::Range(0u, 60u * 1024u));
  cmd->add_option("--reply-size", args->reply_size, "Bytes of result per operation")
      ->capture_default_str()
      ->check(CLI::Range(0u, 60u * 1024u));
  cmd->add_option("--duration", args->duration_s, "Seconds measured")
      ->capture_default_str()
      ->check(CLI::Range(0.5, 86400.0));
  cmd->add_option("--warmup", args->warmup_s, "Seconds of warm-up before measuring")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3600.0));
  cmd->add_option("--read-only-ratio", args->read_only_ratio,
                  "Fraction of the operations sent read-only")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  // The protocol's knobs, for the local cluster (a running cluster's file
  // decides its own), with the cluster file's defaults.
  add_protocol_knob_options(*cmd, ProtocolConfig{}, args->knobs);
  cmd->add_flag("--unreplicated", args->unreplicated,
                "Run the same store behind the same transport on one server, without "
                "replication: the baseline");
  cmd->add_option("--durability", args->durability,
                  "What the local cluster's replicas keep on disk: fsync (their state, synced "
                  "before what depends on it is sent) or none (nothing: unsafe, to measure "
                  "the protocol alone)")
      ->capture_default_str()
      ->check(CLI::IsMember({"fsync", "none"}));
  cmd->add_option("--encryption", args->encryption,
                  "The local cluster's links: tls (TLS 1.3 with the cluster's keys) or none "
                  "(cleartext, still mutually authenticated: to measure what encryption costs)")
      ->capture_default_str()
      ->check(CLI::IsMember({"tls", "none"}));
  cmd->add_option("--json", args->json, "Write the results, options, machine and commit here");
  cmd->add_option("--history", args->history,
                  "Write the client history (JSON lines, wall-clock ns) here; needs --workload kv");
  cmd->add_option("--workload", args->workload,
                  "null: the papers' null operation of the given sizes; kv: the simulator's "
                  "get/put/append/delete mix, checkable for linearizability; fill: puts of "
                  "--request-size bytes to --keys keys in turn (a large state)")
      ->capture_default_str()
      ->check(CLI::IsMember({"null", "kv", "fill"}));
  cmd->add_option("--keys", args->keys, "Keys of the kv workload")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1u << 20));
  cmd->add_option("--verify-threads", args->verify_threads,
                  "Each local replica's verification threads (0: on its event loop)")
      ->capture_default_str()
      ->check(CLI::Range(0u, 64u));
  cmd->add_option("--client-threads", args->client_threads,
                  "Event-loop threads of the load generator")
      ->capture_default_str()
      ->check(CLI::Range(1u, 64u));
  cmd->add_option("--dir", args->dir,
                  "Directory for the local cluster's keys and logs (default: a new "
                  "/tmp/pbft-bench-XXXXXX)");
  cmd->add_flag("--quiet", args->quiet,
                "No progress or table: print the JSON object on one line instead");
  // The [kv] knobs of the local cluster's file (memory-fill's bounds).
  add_kv_knob_options(*cmd, args->knobs);
  std::string attack_help =
      "TEST-ONLY: run this attacker (`pbft attack`) against the local cluster while measuring, "
      "and report it (\"attack\" in the JSON); none measures the baseline the same way. Modes:";
  std::vector<std::string> attack_names = {"none"};
  for (const attack::ModeInfo& m : attack::mode_table) {
    attack_help += fmt::format("\n  {} ({}{}): {}", m.name, attack::family_name(m.family),
                               m.implemented ? "" : ", not yet", m.help);
    attack_names.emplace_back(m.name);
  }
  cmd->add_option("--attack", args->attack, attack_help)
      ->capture_default_str()
      ->check(CLI::IsMember(attack_names))
      ->each([args](const std::string&) { args->attack_given = true; });
  cmd->callback([args, &exit_status] {
    Bench bench(*args);
    exit_status = bench.run();
  });
}

}  // namespace pbft::tools
