// The RESP gateway (src/gateway/gateway.h) in front of a real cluster of
// `pbft replica` processes, spoken to over a socket the way a Redis client
// does: answers in order, pipelines, protocol errors, a half-sent command,
// and a cluster that cannot answer.
#include <sys/time.h>

#include <string>
#include <vector>

#include "integration_harness.h"
#include "src/gateway/gateway.h"

namespace pbft::integration {
namespace {

// A RESP2 client over a blocking socket: sends bytes, reads whole replies.
class RespClient {
 public:
  explicit RespClient(uint16_t port) : fd_(connect_to(port)) {
    timeval limit{20, 0};  // every read is bounded
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  }
  ~RespClient() {
    if (fd_ >= 0) close(fd_);
  }
  RespClient(const RespClient&) = delete;
  RespClient& operator=(const RespClient&) = delete;

  void send(const std::string& bytes) { send_all(fd_, Bytes(bytes.begin(), bytes.end())); }

  // One command as an array of bulk strings.
  static std::string command(const std::vector<std::string>& args) {
    std::string out = "*" + std::to_string(args.size()) + "\r\n";
    for (const std::string& a : args) out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    return out;
  }

  // The next whole reply, as its bytes ("" if the connection ended first).
  std::string reply() {
    std::string line;
    if (!read_line(line)) return "";
    std::string out = line + "\r\n";
    const char type = line[0];
    if (type == '$') {
      const long length = std::stol(line.substr(1));
      if (length >= 0) {
        std::string data(static_cast<size_t>(length) + 2, '\0');
        if (!read_exactly(fd_, reinterpret_cast<uint8_t*>(data.data()), data.size())) return "";
        out += data;
      }
    } else if (type == '*') {
      const long count = std::stol(line.substr(1));
      for (long i = 0; i < count; i++) out += reply();
    }
    return out;
  }

  // Whether the gateway closed the connection (within the read limit).
  bool closed() { return closed_by_peer(fd_); }

 private:
  bool read_line(std::string& line) {
    line.clear();
    uint8_t c = 0;
    while (read_exactly(fd_, &c, 1)) {
      if (c == '\n' && !line.empty() && line.back() == '\r') {
        line.pop_back();
        return true;
      }
      line.push_back(static_cast<char>(c));
    }
    return false;
  }

  int fd_;
};

class GatewayTest : public ::testing::Test {
 protected:
  void start(std::chrono::milliseconds timeout = milliseconds(10'000)) {
    cluster_.start_all();
    ASSERT_TRUE(eventually(seconds(20), [&] { return cluster_.all_connected(); }));
    std::vector<runtime::ClientPool::Member> members;
    for (ClientId c = 4; c < 8; c++) {
      Result<SecretKey> key = load_secret_key(cluster_.cluster().client_key_files.at(c),
                                              cluster_.cluster().clients.at(c));
      ASSERT_TRUE(key.is_ok()) << key.reason();
      members.push_back({c, key.value()});
    }
    gateway::GatewayOptions options;
    options.port = 0;
    options.timeout = timeout;
    Result<std::unique_ptr<gateway::Gateway>> gw = gateway::Gateway::start(
        cluster_.cluster(), std::move(members),
        static_cast<Timestamp>(std::chrono::system_clock::now().time_since_epoch().count()),
        options);
    ASSERT_TRUE(gw.is_ok()) << gw.reason();
    gateway_ = std::move(gw).value();
  }

  TestCluster cluster_;
  std::unique_ptr<gateway::Gateway> gateway_;
};

TEST_F(GatewayTest, AnswersCommandsInOrderAsRedisWould) {
  start();
  RespClient c(gateway_->port());
  c.send(RespClient::command({"PING"}));
  EXPECT_EQ(c.reply(), "+PONG\r\n");
  c.send(RespClient::command({"SET", "k", "v"}));
  EXPECT_EQ(c.reply(), "+OK\r\n");
  c.send(RespClient::command({"GET", "k"}));
  EXPECT_EQ(c.reply(), "$1\r\nv\r\n");
  c.send("INCR n\r\n");  // inline, as telnet sends it
  EXPECT_EQ(c.reply(), ":1\r\n");
  c.send(RespClient::command({"FOO", "bar"}));
  EXPECT_EQ(c.reply(), "-ERR unknown command 'FOO', with args beginning with: 'bar' \r\n");
  c.send(RespClient::command({"SELECT", "1"}));
  EXPECT_EQ(c.reply(), "-ERR DB index is out of range\r\n");
  c.send(RespClient::command({"HELLO", "3"}));
  EXPECT_EQ(c.reply(), "-NOPROTO unsupported protocol version\r\n");
}

// A pipeline mixing local and replicated commands comes back in order, each
// INCR seeing the ones before it.
TEST_F(GatewayTest, APipelineIsAnsweredInOrder) {
  start();
  RespClient c(gateway_->port());
  std::string pipeline;
  std::string expected;
  for (int i = 1; i <= 300; i++) {
    pipeline += RespClient::command({"INCR", "counter"});
    expected += ":" + std::to_string(i) + "\r\n";
    if (i % 50 == 0) {
      pipeline += RespClient::command({"ECHO", std::to_string(i)});
      expected += "$" + std::to_string(std::to_string(i).size()) + "\r\n" + std::to_string(i) + "\r\n";
    }
  }
  c.send(pipeline);
  std::string got;
  while (got.size() < expected.size()) {
    const std::string r = c.reply();
    if (r.empty()) break;
    got += r;
  }
  EXPECT_EQ(got, expected);
  EXPECT_LT(gateway_->counters().requests, 300u) << "pipelined commands share requests";
}

TEST_F(GatewayTest, AProtocolErrorIsAnsweredThenTheConnectionCloses) {
  start();
  RespClient c(gateway_->port());
  c.send(RespClient::command({"PING"}) + "*x\r\n" + RespClient::command({"PING"}));
  EXPECT_EQ(c.reply(), "+PONG\r\n");
  EXPECT_EQ(c.reply(), "-ERR Protocol error: invalid multibulk length\r\n");
  EXPECT_TRUE(c.closed());
  RespClient other(gateway_->port());
  other.send(RespClient::command({"PING"}));
  EXPECT_EQ(other.reply(), "+PONG\r\n") << "the others are not affected";
}

// A bulk longer than the limit is refused on its header: the gateway never
// waits for (or holds) the size claimed.
TEST_F(GatewayTest, AnOversizedBulkIsRefusedOnItsHeader) {
  start();
  RespClient c(gateway_->port());
  c.send("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$999999999999\r\n");
  EXPECT_EQ(c.reply(), "-ERR Protocol error: invalid bulk length\r\n");
  EXPECT_TRUE(c.closed());
}

TEST_F(GatewayTest, HalfACommandThenSilenceIsClosed) {
  start(milliseconds(1000));
  RespClient c(gateway_->port());
  const auto began = Clock::now();
  c.send("*2\r\n$3\r\nGET\r\n$1");
  EXPECT_TRUE(c.closed());
  EXPECT_LT(Clock::now() - began, seconds(5));
}

// With fewer than 2f+1 replicas up nothing is ordered: the gateway answers
// -TRYAGAIN after its timeout (the command may or may not run later) and
// closes the connection, so that no later command overtakes it.
TEST_F(GatewayTest, ACommandTheClusterCannotOrderGetsTryAgain) {
  start(milliseconds(1500));
  cluster_.signal(2, SIGKILL);
  cluster_.signal(3, SIGKILL);
  RespClient c(gateway_->port());
  const auto began = Clock::now();
  c.send(RespClient::command({"SET", "k", "v"}) + RespClient::command({"PING"}));
  const std::string r = c.reply();
  EXPECT_EQ(r.substr(0, 10), "-TRYAGAIN ") << r;
  EXPECT_TRUE(c.closed());
  EXPECT_LT(Clock::now() - began, seconds(6));
  EXPECT_GE(gateway_->counters().timeouts, 1u);
}

}  // namespace
}  // namespace pbft::integration

namespace pbft::integration {
namespace {

// The output of `redis-cli -p PORT < script` (raw output: stdout is a pipe).
std::string redis_cli(uint16_t port, const std::filesystem::path& script) {
  const std::string command = "timeout 60 redis-cli -p " + std::to_string(port) + " < '" +
                              script.string() + "' 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return "popen failed";
  std::string out;
  char buffer[4096];
  size_t n = 0;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
  pclose(pipe);
  return out;
}

bool have(const char* program) {
  return std::system(("command -v " + std::string(program) + " > /dev/null 2>&1").c_str()) == 0;
}

// The same redis-cli script against a real redis-server and against the
// gateway gives the same output, line for line (tests/redis/*.redis; the
// differences docs/operations.md lists are left out of the scripts).
TEST_F(GatewayTest, RedisCliScriptsAnswerAsRedisServerDoes) {
  if (!have("redis-cli") || !have("redis-server")) {
    GTEST_SKIP() << "redis-cli and redis-server are not installed (scripts/setup.sh installs them)";
  }
  start();
  const uint16_t redis_port = free_base_port(1);
  const pid_t redis = fork();
  if (redis == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    const int null = open("/dev/null", O_WRONLY);
    dup2(null, STDOUT_FILENO);
    dup2(null, STDERR_FILENO);
    const std::string port = std::to_string(redis_port);
    execlp("redis-server", "redis-server", "--port", port.c_str(), "--bind", "127.0.0.1",
           "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning",
           static_cast<char*>(nullptr));
    _exit(127);
  }
  ASSERT_GT(redis, 0);
  ASSERT_TRUE(eventually(seconds(10), [&] {
    const int fd = connect_to(redis_port);
    if (fd < 0) return false;
    close(fd);
    return true;
  }));
  const std::filesystem::path scripts = std::filesystem::path(PBFT_SOURCE_DIR) / "tests" / "redis";
  size_t compared = 0;
  for (const auto& entry : std::filesystem::directory_iterator(scripts)) {
    if (entry.path().extension() != ".redis") continue;
    const std::string expected = redis_cli(redis_port, entry.path());
    const std::string got = redis_cli(gateway_->port(), entry.path());
    EXPECT_FALSE(expected.empty()) << entry.path();
    EXPECT_EQ(got, expected) << entry.path();
    compared++;
  }
  EXPECT_GE(compared, 1u);
  kill(redis, SIGKILL);
  waitpid(redis, nullptr, 0);
}

}  // namespace
}  // namespace pbft::integration
