#include "tools/local_cluster.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

namespace pbft::tools {

using Clock = std::chrono::steady_clock;

Result<std::filesystem::path> make_temp_dir(const std::string& what) {
  std::string pattern = "/tmp/pbft-" + what + "-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    return Status::error("cannot create a temporary directory in /tmp");
  }
  return std::filesystem::path(pattern);
}

Status tune_cluster_file(const std::filesystem::path& file,
                         const std::map<std::string, std::string>& values) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  for (const auto& [key, value] : values) {
    // "kv.partitions" is the line "partitions = ..." after "[kv]".
    const size_t dot = key.find('.');
    const std::string name = dot == std::string::npos ? key : key.substr(dot + 1);
    const size_t from = dot == std::string::npos ? 0 : s.find("\n[" + key.substr(0, dot) + "]\n");
    const size_t at = from == std::string::npos ? from : s.find("\n" + name + " = ", from);
    if (at == std::string::npos) return Status::error("generated file has no " + key);
    const size_t end = s.find('\n', at + 1);
    s.replace(at + 1, end - at - 1, name + " = " + value);
  }
  std::ofstream out(file, std::ios::trunc);
  out << s;
  return out ? Status::ok() : Status::error("cannot rewrite " + file.string());
}

Result<GeneratedCluster> generate_local_cluster(const std::string& what, const std::string& dir,
                                                uint32_t replicas, uint32_t clients,
                                                const std::map<std::string, std::string>& values) {
  GeneratedCluster out;
  if (dir.empty()) {
    Result<std::filesystem::path> made = make_temp_dir(what);
    if (!made) return made.status();
    out.dir = made.value();
  } else {
    out.dir = dir;
  }
  Result<uint16_t> base = runtime::pick_free_base_port(replicas);
  if (!base) return base.status();
  ClusterSpec spec;
  spec.replicas = replicas;
  spec.clients = clients;
  spec.base_port = base.value();
  spec.force = true;
  Result<std::vector<std::filesystem::path>> written = generate_cluster(out.dir, spec);
  if (!written) return written.status();
  if (Status s = tune_cluster_file(out.dir / "cluster.toml", values); !s) return s;
  Result<ClusterConfig> cluster = load_cluster_config(out.dir / "cluster.toml");
  if (!cluster) return cluster.status();
  out.cluster = std::move(cluster).value();
  return out;
}

namespace {

// The fields of /proc/<pid>/stat after the command name.
std::optional<std::vector<std::string>> stat_fields(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  const size_t close = line.rfind(')');  // the name may contain spaces
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(line.substr(close + 1));
  std::vector<std::string> fields;
  for (std::string f; rest >> f;) fields.push_back(f);
  return fields;
}

}  // namespace

std::optional<double> process_cpu_seconds(pid_t pid) {
  std::optional<std::vector<std::string>> f = stat_fields(pid);
  // Fields 14 and 15 of stat (utime, stime) are 11 and 12 after the name.
  if (!f || f->size() < 13) return std::nullopt;
  const double ticks = std::stod((*f)[11]) + std::stod((*f)[12]);
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::optional<uint64_t> process_rss_kib(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6));
  }
  return std::nullopt;
}

std::optional<uint64_t> process_peak_rss_kib(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6));
  }
  return std::nullopt;
}

namespace {

std::string describe_wait_status(int wait_status) {
  return WIFEXITED(wait_status) ? fmt::format("exit status {}", WEXITSTATUS(wait_status))
                                : fmt::format("killed by signal {}", WTERMSIG(wait_status));
}

}  // namespace

Result<pid_t> spawn_process(const std::string& binary, std::vector<std::string> args,
                            const std::filesystem::path& log) {
  // Everything the child needs is made before fork: another thread may hold
  // the allocator's lock at that moment.
  const std::string log_path = log.string();
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return Status::error("fork failed");
  if (pid == 0) {
    // The child dies with its parent, however the parent ends.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
      close(fd);
    }
    const int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

bool process_exited(pid_t pid, std::string* how) {
  int wait_status = 0;
  if (pid <= 0 || waitpid(pid, &wait_status, WNOHANG) != pid) return false;
  if (how != nullptr) *how = describe_wait_status(wait_status);
  return true;
}

void stop_process(pid_t pid, std::chrono::milliseconds grace) {
  if (pid <= 0) return;
  kill(pid, SIGTERM);
  const auto deadline = Clock::now() + grace;
  while (waitpid(pid, nullptr, WNOHANG) != pid) {
    if (Clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

LocalCluster::LocalCluster(std::filesystem::path dir, uint32_t n,
                           std::vector<std::string> extra_args, std::string binary)
    : dir_(std::move(dir)),
      pids_(n, -1),
      started_(n, false),
      extra_args_(std::move(extra_args)),
      binary_(std::move(binary)),
      exit_descriptions_(n) {}

LocalCluster::~LocalCluster() { kill_all(); }

std::filesystem::path LocalCluster::log_file(ReplicaId r) const {
  return dir_ / "logs" / fmt::format("replica-{}.log", r);
}

Status LocalCluster::start(ReplicaId r) {
  std::filesystem::create_directories(dir_ / "logs");
  const std::string log = log_file(r).string();
  const std::string config = (dir_ / "cluster.toml").string();
  const std::string id = std::to_string(r);
  // A process killed -9 leaves its last status file behind, saying it runs:
  // until the new process writes its own, status() must not read the old
  // one as the new process's (a restarted replica would look caught up).
  std::error_code ignored;
  std::filesystem::remove(dir_ / "data" / fmt::format("replica-{}", r) / "status.json", ignored);
  exit_descriptions_[r].clear();
  std::vector<std::string> args = {"pbft", "replica", "--config", config, "--id", id};
  // A new replica the first time; a restart resumes from its disk.
  if (!started_[r]) args.push_back("--init");
  started_[r] = true;
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  if (auto own = replica_args_.find(r); own != replica_args_.end()) {
    args.insert(args.end(), own->second.begin(), own->second.end());
  }
  Result<pid_t> pid = spawn_process(binary_, std::move(args), log);
  if (!pid) return pid.status();
  pids_[r] = pid.value();
  return Status::ok();
}

void LocalCluster::kill_hard(ReplicaId r) {
  if (pids_[r] <= 0) return;
  kill(pids_[r], SIGKILL);
  waitpid(pids_[r], nullptr, 0);
  pids_[r] = -1;
}

void LocalCluster::stop_all() {
  for (pid_t pid : pids_) {
    if (pid > 0) kill(pid, SIGTERM);
  }
  const auto deadline = Clock::now() + std::chrono::seconds(3);
  for (pid_t& pid : pids_) {
    while (pid > 0) {
      if (waitpid(pid, nullptr, WNOHANG) == pid) {
        pid = -1;
      } else if (Clock::now() > deadline) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
        pid = -1;
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
  }
}

void LocalCluster::kill_all() {
  for (pid_t& pid : pids_) {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      pid = -1;
    }
  }
}

std::optional<ReplicaId> LocalCluster::exited() {
  for (ReplicaId r = 0; r < pids_.size(); r++) {
    int wait_status = 0;
    if (pids_[r] > 0 && waitpid(pids_[r], &wait_status, WNOHANG) == pids_[r]) {
      pids_[r] = -1;
      exit_descriptions_[r] = describe_wait_status(wait_status);
      return r;
    }
  }
  return std::nullopt;
}

std::optional<runtime::ReplicaStatus> LocalCluster::status(ReplicaId r) const {
  if (!running(r)) return std::nullopt;
  Result<runtime::ReplicaStatus> s =
      runtime::read_replica_status(dir_ / "data" / fmt::format("replica-{}", r) / "status.json");
  if (!s || !s->running) return std::nullopt;
  return s.value();
}

}  // namespace pbft::tools
