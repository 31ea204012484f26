// `pbft client`: one key-value operation, or an interactive shell, against a
// running cluster (docs/operations.md).
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <future>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "pbft/cluster_config.h"
#include "pbft/kv.h"
#include "pbft/runtime.h"
#include "tools/commands.h"
#include "tools/runtime_support.h"

namespace pbft::tools {

namespace {

struct ClientArgs {
  std::string config;
  std::optional<uint32_t> id;
  double timeout_s = 10;
  std::string log_level = "warn";
  std::vector<std::string> operation;  // e.g. {"put", "k", "v"}
};

Bytes to_bytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

// Parses {"put", "k", "v"} into an operation; the reason names what is wrong.
Result<kv::Op> parse_operation(const std::vector<std::string>& words) {
  if (words.empty()) return Status::error("no operation");
  const std::string& verb = words[0];
  kv::Op op;
  size_t arity = 0;
  if (verb == "get") {
    op.type = kv::OpType::get;
    arity = 2;
  } else if (verb == "put") {
    op.type = kv::OpType::put;
    arity = 3;
  } else if (verb == "delete" || verb == "del") {
    op.type = kv::OpType::del;
    arity = 2;
  } else if (verb == "append") {
    op.type = kv::OpType::append;
    arity = 3;
  } else {
    return Status::error("unknown operation \"" + verb + "\" (get, put, delete, append)");
  }
  if (words.size() != arity) {
    return Status::error(verb + " takes " + (arity == 2 ? "KEY" : "KEY VALUE") + ", got " +
                         std::to_string(words.size() - 1) + " argument(s)");
  }
  op.key = to_bytes(words[1]);
  if (arity == 3) op.value = to_bytes(words[2]);
  if (op.key.size() > kv::key_size_max) {
    return Status::error("the key is " + std::to_string(op.key.size()) + " bytes; at most " +
                         std::to_string(kv::key_size_max));
  }
  if (op.value.size() > kv::value_size_max) {
    return Status::error("the value is " + std::to_string(op.value.size()) + " bytes; at most " +
                         std::to_string(kv::value_size_max));
  }
  return op;
}

// One client of the pool, one operation at a time, with a deadline.
class Session {
 public:
  Session(std::unique_ptr<runtime::ClientPool> pool, std::chrono::milliseconds timeout)
      : pool_(std::move(pool)), timeout_(timeout) {}

  // Prints the result; returns the exit status (0 ok, 1 failure or timeout).
  int run(const kv::Op& op) {
    if (outstanding_.valid() &&
        outstanding_.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
      fmt::print(stderr, "busy: the previous operation has not completed yet\n");
      return 1;
    }
    auto promise = std::make_shared<std::promise<Result<Completion>>>();
    outstanding_ = promise->get_future().share();
    pool_->submit(0, kv::encode_op(op),
                  [promise](Result<Completion> r) { promise->set_value(std::move(r)); });
    if (outstanding_.wait_for(timeout_) != std::future_status::ready) {
      fmt::print(stderr,
                 "timed out after {:.1f} s: no result from f+1 replicas ({} of {} replicas "
                 "connected); the operation may still take effect\n",
                 timeout_.count() / 1000.0, pool_->replicas_connected(), replicas_);
      return 1;
    }
    const Result<Completion>& completion = outstanding_.get();
    if (!completion) {
      fmt::print(stderr, "error: {}\n", completion.reason());
      return 1;
    }
    Result<kv::OpResult> result = kv::decode_result(completion->result);
    if (!result) {
      fmt::print(stderr, "error: the replicas' result does not decode: {}\n", result.reason());
      return 1;
    }
    switch (result->code) {
      case kv::Code::ok:
        if (op.type == kv::OpType::get) {
          fmt::print("{}\n", to_string(result->value));
        } else {
          fmt::print("ok\n");
        }
        return 0;
      case kv::Code::not_found:
        fmt::print("(not found)\n");
        return 0;
      case kv::Code::too_large:
      case kv::Code::malformed:
        fmt::print(stderr, "error: {}\n", kv::code_name(result->code));
        return 1;
      case kv::Code::quota:
        fmt::print(stderr,
                   "error: quota: this client's keys would take more than the cluster's [kv] "
                   "client_bytes_max; delete some first\n");
        return 1;
      case kv::Code::full:
        fmt::print(stderr,
                   "error: full: the store would take more than the cluster's [kv] bytes_max; "
                   "delete keys first\n");
        return 1;
    }
    return 1;
  }

  void set_replicas(size_t n) { replicas_ = n; }

 private:
  std::unique_ptr<runtime::ClientPool> pool_;
  std::chrono::milliseconds timeout_;
  std::shared_future<Result<Completion>> outstanding_;
  size_t replicas_ = 0;
};

std::vector<std::string> split_command(const std::string& line) {
  // "put KEY VALUE...": the value is the rest of the line (spaces kept).
  std::istringstream in(line);
  std::vector<std::string> words;
  std::string word;
  if (!(in >> word)) return words;
  words.push_back(word);
  if (!(in >> word)) return words;
  words.push_back(word);
  std::string rest;
  std::getline(in, rest);
  const size_t start = rest.find_first_not_of(" \t");
  if (start != std::string::npos) words.push_back(rest.substr(start));
  return words;
}

const char* help_text() {
  return "commands:\n"
         "  get KEY            print KEY's value, or (not found)\n"
         "  put KEY VALUE      set KEY (VALUE is the rest of the line)\n"
         "  append KEY VALUE   append VALUE to KEY's value (creates KEY)\n"
         "  delete KEY         remove KEY\n"
         "  help               this text\n"
         "  quit               leave (also end of input)\n";
}

int interactive(Session& session) {
  const bool tty = isatty(STDIN_FILENO) != 0;
  if (tty) fmt::print("pbft client: type help for the commands\n");
  int last = 0;
  std::string line;
  for (;;) {
    if (tty) {
      fmt::print("pbft> ");
      std::fflush(stdout);
    }
    if (!std::getline(std::cin, line)) break;
    std::vector<std::string> words = split_command(line);
    if (words.empty()) continue;
    if (words[0] == "quit" || words[0] == "exit") break;
    if (words[0] == "help") {
      fmt::print("{}", help_text());
      continue;
    }
    Result<kv::Op> op = parse_operation(words);
    if (!op) {
      fmt::print(stderr, "{} (try help)\n", op.reason());
      last = 2;
      continue;
    }
    last = session.run(*op);
    std::fflush(stdout);
  }
  return last;
}

int run_client(const ClientArgs& args) {
  Result<ClusterConfig> cluster = load_cluster_config(args.config);
  if (!cluster) {
    fmt::print(stderr, "pbft client: {}\n", cluster.reason());
    return 1;
  }
  if (Status s = setup_logging(args.log_level, "client"); !s) {
    fmt::print(stderr, "pbft client: {}\n", s.reason());
    return 2;
  }
  std::optional<kv::Op> op;
  if (!args.operation.empty()) {
    Result<kv::Op> parsed = parse_operation(args.operation);
    if (!parsed) {
      fmt::print(stderr, "pbft client: {}\n", parsed.reason());
      return 2;
    }
    op = std::move(parsed).value();
  }
  // Default: the first client the file gives a key file for.
  ClientId id = 0;
  if (args.id) {
    id = *args.id;
  } else if (!cluster->client_key_files.empty()) {
    id = cluster->client_key_files.begin()->first;
  }
  Result<SecretKey> secret = load_client_key(*cluster, id);
  if (!secret) {
    fmt::print(stderr, "pbft client: {}\n", secret.reason());
    return 1;
  }
  Result<std::unique_ptr<runtime::ClientPool>> pool = runtime::ClientPool::start(
      *cluster, {runtime::ClientPool::Member{id, secret.value()}}, wall_clock_ns());
  if (!pool) {
    fmt::print(stderr, "pbft client: {}\n", pool.reason());
    return 1;
  }
  // Give the connections a moment, so that the first request is not lost
  // to a link still being set up (it would be resent after a timeout): all
  // of them, or a quorum after a short grace (up to f replicas may be down).
  const size_t n = cluster->replicas.size();
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    const size_t up = (*pool)->replicas_connected();
    const auto waited = std::chrono::steady_clock::now() - start;
    if (up == n || waited > std::chrono::milliseconds(500) ||
        (up >= cluster->protocol.quorum() && waited > std::chrono::milliseconds(50))) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  Session session(std::move(pool).value(),
                  std::chrono::milliseconds(static_cast<int64_t>(args.timeout_s * 1000)));
  session.set_replicas(n);
  if (op) return session.run(*op);
  return interactive(session);
}

}  // namespace

void add_client_command(CLI::App& app, int& exit_status) {
  auto args = std::make_shared<ClientArgs>();
  CLI::App* cmd = app.add_subcommand(
      "client",
      "Run one key-value operation (get|put|delete|append KEY [VALUE]) against a cluster, or an "
      "interactive shell without one");
  cmd->add_option("--config", args->config, "The cluster file (cluster.toml)")->required();
  cmd->add_option("--id", args->id, "Client id (default: the first with a key file)");
  cmd->add_option("--timeout", args->timeout_s, "Seconds to wait for a result")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  cmd->add_option("--log-level", args->log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str();
  cmd->add_option("operation", args->operation,
                  "get KEY | put KEY VALUE | delete KEY | append KEY VALUE (options go before "
                  "it; everything after the operation's name is taken as it is, so a value may "
                  "start with '-')");
  // After the operation's name nothing is parsed as an option.
  cmd->prefix_command();
  cmd->callback([args, cmd, &exit_status] {
    for (const std::string& extra : cmd->remaining()) args->operation.push_back(extra);
    exit_status = run_client(*args);
    std::fflush(stdout);
  });
}

}  // namespace pbft::tools
