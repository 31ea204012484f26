// `pbft sim`: runs the deterministic simulator on one seed (a readable
// report) or on seeds 1..N (one line per failed seed, with the checker, the
// reason and the command that replays it; then aggregate lines: speed,
// node faults, state transfer and log size; then "N passed, M failed";
// then one line per protocol situation (sim/coverage.h): in how many runs
// it occurred and how often, or that a required one was never reached).
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "pbft/history.h"
#include "pbft/mutant.h"
#include "sim/coverage.h"
#include "sim/options.h"
#include "sim/report.h"
#include "sim/simulator.h"
#include "tools/commands.h"
#include "tools/knob_options.h"

namespace pbft::tools {

namespace {

// What the command line says, before it becomes sim::Options.
struct SimArgs {
  uint64_t seed = 1;
  uint64_t seeds = 0;  // 0: run the single seed `seed`
  uint64_t max_failures = 0;  // with --seeds: stop after this many failed seeds (0: never)
  std::string faults = "none";
  std::string history_path;
  std::string mutant = "none";
  std::string require_coverage;  // situations that must occur (--require-coverage)
  KnobValues knobs;  // --client-auth, --batch-size-max, ...
  // The phases in whole milliseconds (the options hold nanoseconds).
  uint64_t fault_time_ms = sim::Options().fault_phase_ns / sim::ns_per_ms;
  uint64_t liveness_bound_ms = sim::Options().liveness_bound_ns / sim::ns_per_ms;
  bool json = false;
  int verbosity = 0;
  sim::Options options;
};

std::string_view mutant_name(mutant::Id id) {
  for (const mutant::Info& m : mutant::all) {
    if (m.id == id) return m.name;
  }
  return "none";
}

// The command that replays `options` exactly: the seed and every option
// that differs from its default.
std::string replay_command(const sim::Options& o) {
  const sim::Options d;
  std::string command = fmt::format("pbft sim --seed {}", o.seed);
  auto add = [&command](bool differs, const char* flag, const auto& value) {
    if (differs) command += fmt::format(" {} {}", flag, value);
  };
  add(o.replicas != d.replicas, "--replicas", o.replicas);
  add(o.clients != d.clients, "--clients", o.clients);
  add(o.requests != d.requests, "--requests", o.requests);
  add(o.keys != d.keys, "--keys", o.keys);
  add(!(o.faults == d.faults), "--faults", sim::to_string(o.faults));
  add(o.fault_phase_ns != d.fault_phase_ns, "--fault-time", o.fault_phase_ns / sim::ns_per_ms);
  add(o.liveness_bound_ns != d.liveness_bound_ns, "--liveness-bound",
      o.liveness_bound_ns / sim::ns_per_ms);
  add(o.rates.drop_probability != d.rates.drop_probability, "--drop-rate",
      o.rates.drop_probability);
  add(o.rates.dup_probability != d.rates.dup_probability, "--dup-rate",
      o.rates.dup_probability);
  add(o.rates.reorder_probability != d.rates.reorder_probability, "--reorder-rate",
      o.rates.reorder_probability);
  add(o.rates.delay_probability != d.rates.delay_probability, "--delay-rate",
      o.rates.delay_probability);
  add(o.mutant != d.mutant, "--mutant", mutant_name(o.mutant));
  return command + knob_options_differing(o.protocol, d.protocol);
}

// A failure's details on one line: some checkers explain over several lines,
// which the replay prints in full.
std::string first_line(const std::string& details) {
  const size_t newline = details.find('\n');
  if (newline == std::string::npos) return details;
  return details.substr(0, newline) + " [more in the replay]";
}

// Turns the arguments into options; a bad value is a usage error.
sim::Options make_options(const SimArgs& args) {
  sim::Options options = args.options;
  Result<sim::FaultSet> faults = sim::parse_faults(args.faults);
  if (!faults) throw CLI::ValidationError("--faults", faults.reason());
  options.faults = faults.value();
  options.fault_phase_ns = args.fault_time_ms * sim::ns_per_ms;
  options.liveness_bound_ns = args.liveness_bound_ms * sim::ns_per_ms;
  options.protocol = with_knobs(options.protocol, args.knobs);
  if (args.mutant == "all") {
    if (!mutant::available) {
      throw CLI::ValidationError(
          "--mutant", "this build has no mutants (configure with -DPBFT_MUTANTS=ON)");
    }
    if (args.seeds == 0) throw CLI::ValidationError("--mutant", "all needs --seeds N");
  } else {
    std::optional<mutant::Id> mutant = mutant::parse(args.mutant);
    if (!mutant) throw CLI::ValidationError("--mutant", "no mutant called " + args.mutant);
    options.mutant = *mutant;
  }
  options.verbosity = args.verbosity;
  if (args.verbosity > 0) {
    options.log = [](std::string_view line) {
      std::fwrite(line.data(), 1, line.size(), stderr);
      std::fputc('\n', stderr);
    };
  }
  if (Status s = sim::validate(options); !s) throw CLI::ValidationError("sim", s.reason());
  return options;
}

// The situations --require-coverage names; a bad name is a usage error.
std::vector<sim::Situation> required_situations(const SimArgs& args) {
  if (args.require_coverage.empty()) return {};
  Result<std::vector<sim::Situation>> required = sim::parse_required(args.require_coverage);
  if (!required) throw CLI::ValidationError("--require-coverage", required.reason());
  return required.value();
}

int run_single(const SimArgs& args, sim::Options options,
               const std::vector<sim::Situation>& required) {
  options.seed = args.seed;
  const sim::RunReport report = sim::run(options);
  if (args.json) {
    fmt::print("{}\n", sim::to_json_line(report));
  } else {
    fmt::print("{}", sim::format_summary(report));
    if (!report.passed) fmt::print("replay          {}\n", replay_command(options));
  }
  sim::CoverageTotals totals;
  totals.add(report.coverage);
  const std::vector<sim::Situation> missing = totals.missing(required);
  for (sim::Situation s : missing) {
    fmt::print("coverage {}: REQUIRED, never reached\n", sim::name_of(s));
  }
  std::fflush(stdout);
  if (!args.history_path.empty()) {
    if (Status s = history::write_file(args.history_path, report.history); !s) {
      fmt::print(stderr, "pbft sim: cannot write the history: {}\n", s.reason());
      return 2;
    }
  }
  return report.passed && missing.empty() ? 0 : 1;
}

int run_many(const SimArgs& args, sim::Options options,
             const std::vector<sim::Situation>& required) {
  uint64_t passed = 0;
  uint64_t failed = 0;
  uint64_t ops = 0;
  uint64_t virtual_ns = 0;
  // Node faults and state transfer over all seeds.
  uint64_t crashes = 0;
  uint64_t wipes = 0;
  uint64_t lags = 0;
  uint64_t badstate_runs = 0;
  uint64_t transfers = 0;
  uint64_t bytes_fetched = 0;
  // The state's size counted once per transfer: bytes_fetched over it is
  // the share of the state an average transfer moved.
  uint64_t state_bytes_per_transfer = 0;
  uint64_t replies_rejected = 0;
  uint64_t replies_corrupted = 0;
  size_t peak_log = 0;
  uint64_t byzantine_runs = 0;
  uint64_t attacked_runs = 0;
  uint64_t lies = 0;
  uint64_t new_views = 0;
  View view_max = 0;
  uint64_t longest_stall_ns = 0;
  // The conductor (fault `conflict`): runs that had one, and how many got
  // to each stage (index 1..3), with both certificates in V.
  uint64_t conflict_runs = 0;
  std::array<uint64_t, 4> conflict_stages{};
  uint64_t conflict_both = 0;
  uint64_t seeds_run = 0;
  sim::CoverageTotals coverage;
  const auto start = std::chrono::steady_clock::now();
  for (uint64_t seed = 1; seed <= args.seeds; seed++) {
    seeds_run = seed;
    options.seed = seed;
    const sim::RunReport report = sim::run(options);
    ops += report.ops_completed;
    virtual_ns += report.virtual_time_ns;
    crashes += report.crashes;
    wipes += report.wipes;
    lags += report.lags;
    badstate_runs += report.badstate_replica ? 1 : 0;
    transfers += report.state_transfers;
    bytes_fetched += report.state_bytes_fetched;
    state_bytes_per_transfer += report.state_size_bytes * report.state_transfers;
    replies_rejected += report.fetch_replies_rejected;
    replies_corrupted += report.fetch_replies_corrupted;
    peak_log = std::max(peak_log, report.peak_log_size);
    byzantine_runs += report.byzantine_replicas.empty() ? 0 : 1;
    attacked_runs += report.byzantine_clients.empty() ? 0 : 1;
    lies += report.byzantine_lies;
    new_views += report.new_views_installed;
    view_max = std::max(view_max, report.view_max);
    longest_stall_ns = std::max(longest_stall_ns, report.longest_stall_ns);
    coverage.add(report.coverage);
    if (report.conflict_ran) {
      conflict_runs++;
      for (uint32_t stage = 1; stage <= report.conflict_stage_reached && stage <= 3; stage++) {
        conflict_stages[stage]++;
      }
      conflict_both += report.conflict_both_certificates ? 1 : 0;
    }
    if (report.passed) {
      passed++;
    } else {
      failed++;
    }
    if (args.json) {
      fmt::print("{}\n", sim::to_json_line(report));
    } else if (!report.passed) {
      fmt::print("seed {} FAILED: {}: {}; replay: {}\n", seed, report.failure->checker,
                 first_line(report.failure->details), replay_command(options));
    }
    std::fflush(stdout);
    if (args.max_failures > 0 && failed >= args.max_failures) break;
  }
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // In JSON mode stdout carries only the reports and the final line.
  fmt::print(args.json ? stderr : stdout,
             "{} seeds in {:.2f} s ({:.1f} seeds/s), {} operations completed, {} of virtual "
             "time\n",
             seeds_run, wall_s, wall_s > 0 ? double(seeds_run) / wall_s : 0.0, ops,
             sim::format_seconds(virtual_ns));
  fmt::print(args.json ? stderr : stdout,
             "node faults: {} crashes, {} wipes, {} lags, a badstate replica in {} runs; "
             "{} fetch replies corrupted, {} rejected\n",
             crashes, wipes, lags, badstate_runs, replies_corrupted, replies_rejected);
  fmt::print(args.json ? stderr : stdout,
             "state transfer: {} completed, {} bytes fetched, {} of the state per transfer; "
             "peak log {} sequence numbers\n",
             transfers, bytes_fetched, sim::format_ratio(bytes_fetched, state_bytes_per_transfer),
             peak_log);
  fmt::print(args.json ? stderr : stdout,
             "byzantine: replicas in {} runs, clients in {} runs, {} messages rewritten, forged "
             "or withheld; view changes: {} new views installed, highest view {}; longest "
             "stall {}\n",
             byzantine_runs, attacked_runs, lies, new_views, view_max,
             sim::format_seconds(longest_stall_ns));
  if (options.faults.conflict) {
    fmt::print(args.json ? stderr : stdout,
               "conflict: conductor in {} runs; stage 1 reached in {}, 2 in {}, 3 in {}; both "
               "certificates in V in {}\n",
               conflict_runs, conflict_stages[1], conflict_stages[2], conflict_stages[3],
               conflict_both);
  }
  std::fflush(stderr);
  fmt::print("{} passed, {} failed\n", passed, failed);
  // "A sweep that does not reach a rule does not test it": a required
  // situation that no run reached fails the sweep.
  fmt::print("{}", sim::format_coverage(coverage, required));
  return failed == 0 && coverage.missing(required).empty() ? 0 : 1;
}

// --mutant all: every mutant in turn, in this one process (the mutant is
// an option of the run), each over seeds 1..N until a seed fails. A mutant
// that no seed catches is a hole in the simulator.
int run_mutants(const SimArgs& args, sim::Options options) {
  uint64_t caught = 0;
  uint64_t survived = 0;
  for (const mutant::Info& m : mutant::all) {
    options.mutant = m.id;
    std::optional<sim::RunReport> failed;
    const auto start = std::chrono::steady_clock::now();
    for (uint64_t seed = 1; seed <= args.seeds && !failed; seed++) {
      options.seed = seed;
      sim::RunReport report = sim::run(options);
      if (!report.passed) failed = std::move(report);
    }
    const double wall_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (failed) {
      caught++;
      fmt::print("mutant {}: caught at seed {} by {} ({:.1f} s): {}\n", m.name, failed->seed,
                 failed->failure->checker, wall_s, first_line(failed->failure->details));
    } else {
      survived++;
      fmt::print("mutant {}: NOT caught in {} seeds ({:.1f} s)\n", m.name, args.seeds, wall_s);
    }
    std::fflush(stdout);
  }
  fmt::print("{} caught, {} survived\n", caught, survived);
  return survived == 0 ? 0 : 1;
}

}  // namespace

void add_sim_command(CLI::App& app, int& exit_status) {
  auto args = std::make_shared<SimArgs>();
  // Times beyond this (about 11 days) would overflow nanoseconds in sums.
  constexpr uint64_t max_ms = 1'000'000'000;
  CLI::App* sim = app.add_subcommand(
      "sim",
      "Run the deterministic simulator: a whole cluster on virtual time, network and "
      "replica faults from one seed, checkers for agreement, exactly-once, linearizability, "
      "liveness and catch-up");

  CLI::Option* seed = sim->add_option("--seed", args->seed, "The seed to run")->capture_default_str();
  CLI::Option* seeds = sim->add_option("--seeds", args->seeds, "Run seeds 1..N and summarize")
                           ->check(CLI::PositiveNumber);
  seed->excludes(seeds);
  sim->add_option("--max-failures", args->max_failures,
                  "With --seeds: stop after this many failed seeds (0: run them all)")
      ->capture_default_str();
  sim->add_option("--replicas", args->options.replicas, "Replicas n (n = 3f+1)")
      ->capture_default_str();
  sim->add_option("--clients", args->options.clients, "Clients")->capture_default_str();
  sim->add_option("--requests", args->options.requests, "Operations per client")
      ->capture_default_str();
  sim->add_option("--keys", args->options.keys, "Keys the operations are drawn from")
      ->capture_default_str();
  sim->add_option("--faults", args->faults,
                  "Faults during the fault phase: a comma-separated list of drop, dup, reorder, "
                  "delay, partition, conflict (network; conflict steers one sequence number "
                  "into two certificates), crash, powerloss, wipe, lag, badstate (replicas), silent, "
                  "equivocate, slow, censor, forge, replay, wrong-digest, bad-checkpoint, "
                  "bad-view-change, bad-new-view, twins, bad-reply, replay-requests, collude "
                  "(Byzantine replicas), "
                  "client-timestamps, big-mac, client-flood (Byzantine clients); or none, "
                  "byzantine (every Byzantine one), or all")
      ->capture_default_str();
  sim->add_option("--fault-time", args->fault_time_ms,
                  "Length of the fault phase in virtual ms")
      ->check(CLI::Range(uint64_t{0}, max_ms))
      ->capture_default_str();
  sim->add_option("--liveness-bound", args->liveness_bound_ms,
                  "Virtual ms after the fault phase within which every client must finish")
      ->check(CLI::Range(uint64_t{0}, max_ms))
      ->capture_default_str();
  sim->add_option("--drop-rate", args->options.rates.drop_probability,
                  "Probability that drop loses a message")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  sim->add_option("--dup-rate", args->options.rates.dup_probability,
                  "Probability that dup duplicates a message")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  sim->add_option("--reorder-rate", args->options.rates.reorder_probability,
                  "Probability that reorder holds a message back")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  sim->add_option("--delay-rate", args->options.rates.delay_probability,
                  "Probability that delay gives a message heavy-tailed latency")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  // The protocol's knobs, with the simulator's defaults (sim/options.cpp).
  add_protocol_knob_options(*sim, args->options.protocol, args->knobs);
  std::string mutants = "Switch on a known bug in every replica and client (a build with "
                        "PBFT_MUTANTS only); `all` sweeps each mutant in turn over --seeds, "
                        "stopping at its first failed seed: none, all";
  for (const mutant::Info& m : mutant::all) mutants += fmt::format(", {}", m.name);
  sim->add_option("--mutant", args->mutant, mutants)->capture_default_str();
  sim->add_option("--require-coverage", args->require_coverage,
                  "Fail unless each of these protocol situations occurred in some run: a comma "
                  "list of the names the coverage lines show, or default (what sim/coverage.h "
                  "requires of --faults all sweeps)");
  CLI::Option* history = sim->add_option(
      "--history", args->history_path,
      "Write the client history to FILE as JSON lines (single seed only)");
  history->excludes(seeds);
  sim->add_flag("--json", args->json, "Print each report as one JSON object per line");
  sim->add_flag("-v,--verbose", args->verbosity,
                "Log node events to stderr; twice: every message too");

  sim->callback([args, &exit_status] {
    const sim::Options options = make_options(*args);
    const std::vector<sim::Situation> required = required_situations(*args);
    if (args->mutant == "all") {
      exit_status = run_mutants(*args, options);
    } else {
      exit_status = args->seeds > 0 ? run_many(*args, options, required)
                                    : run_single(*args, options, required);
    }
  });
}

}  // namespace pbft::tools
