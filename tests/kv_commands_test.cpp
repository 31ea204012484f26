// Redis commands as operations of the store (kv.h, OpType::commands;
// src/kv/commands.cpp). The expected replies are Redis 7.0's, taken from a
// redis-server fed the same commands.
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "pbft/kv.h"

namespace pbft::kv {
namespace {

Command command(std::initializer_list<std::string> words) {
  Command c;
  for (const std::string& w : words) c.emplace_back(w.begin(), w.end());
  return c;
}

struct Ran {
  uint32_t count = 0;
  std::string replies;
};

// Runs the commands as one operation (through its encoding, as a replica
// would) and splits the result into the count and the replies.
Ran run(Store& store, std::vector<Command> commands, ClientId client = 1) {
  Op op{OpType::commands, {}, {}, 0, std::move(commands)};
  auto decoded = decode_op(encode_op(op));
  EXPECT_TRUE(decoded.is_ok()) << decoded.reason();
  const OpResult result = store.apply(client, *decoded);
  EXPECT_EQ(result.code, Code::ok);
  EXPECT_GE(result.value.size(), 4u);
  Ran r;
  for (int i = 0; i < 4; i++) r.count |= static_cast<uint32_t>(result.value[i]) << (8 * i);
  r.replies.assign(result.value.begin() + 4, result.value.end());
  return r;
}

// The reply of one command.
std::string one(Store& store, std::initializer_list<std::string> words) {
  Ran r = run(store, {command(words)});
  EXPECT_EQ(r.count, 1u);
  return r.replies;
}

TEST(KvCommands, SetAndGetLikeRedis) {
  Store store;
  EXPECT_EQ(one(store, {"SET", "k", "v"}), "+OK\r\n");
  EXPECT_EQ(one(store, {"get", "k"}), "$1\r\nv\r\n");
  EXPECT_EQ(one(store, {"GET", "absent"}), "$-1\r\n");
  // The store's other operations see the same keys.
  EXPECT_EQ(store.get(Bytes{'k'}), Bytes{'v'});
}

TEST(KvCommands, SetOptions) {
  Store store;
  EXPECT_EQ(one(store, {"SET", "k", "1", "XX"}), "$-1\r\n");
  EXPECT_EQ(one(store, {"SET", "k", "1", "NX"}), "+OK\r\n");
  EXPECT_EQ(one(store, {"SET", "k", "2", "nx"}), "$-1\r\n");
  EXPECT_EQ(one(store, {"SET", "k", "3", "XX", "GET"}), "$1\r\n1\r\n");
  EXPECT_EQ(one(store, {"SET", "k", "4", "NX", "GET"}), "$1\r\n3\r\n") << "NX GET: the old value, no write";
  EXPECT_EQ(one(store, {"GET", "k"}), "$1\r\n3\r\n");
  EXPECT_EQ(one(store, {"SET", "n", "5", "GET"}), "$-1\r\n");
  EXPECT_EQ(one(store, {"SET", "k", "v", "GET", "GET", "KEEPTTL"}), "$1\r\n3\r\n");
  EXPECT_EQ(one(store, {"SET", "k", "v", "NX", "XX"}), "-ERR syntax error\r\n");
  EXPECT_EQ(one(store, {"SET", "k", "v", "FOO"}), "-ERR syntax error\r\n");
  EXPECT_EQ(one(store, {"SET", "k", "v", "PX"}), "-ERR syntax error\r\n");
  EXPECT_EQ(one(store, {"SET", "k", "v", "EX", "10"}),
            "-ERR expiry (EX, PX, EXAT, PXAT) is not supported by this store\r\n");
}

TEST(KvCommands, ArityAndUnknownCommandsAreRedisErrors) {
  Store store;
  EXPECT_EQ(one(store, {"GET"}), "-ERR wrong number of arguments for 'get' command\r\n");
  EXPECT_EQ(one(store, {"SET", "k"}), "-ERR wrong number of arguments for 'set' command\r\n");
  EXPECT_EQ(one(store, {"MSET", "a", "1", "b"}), "-ERR wrong number of arguments for 'mset' command\r\n");
  EXPECT_EQ(one(store, {"FOO", "bar"}),
            "-ERR unknown command 'FOO', with args beginning with: 'bar' \r\n");
}

TEST(KvCommands, Counters) {
  Store store;
  EXPECT_EQ(one(store, {"INCR", "n"}), ":1\r\n");
  EXPECT_EQ(one(store, {"INCRBY", "n", "41"}), ":42\r\n");
  EXPECT_EQ(one(store, {"DECR", "n"}), ":41\r\n");
  EXPECT_EQ(one(store, {"DECRBY", "n", "-9"}), ":50\r\n");
  EXPECT_EQ(one(store, {"GET", "n"}), "$2\r\n50\r\n");
  for (const char* bad : {"x", "00", "-0", "+1", " 1"}) {
    EXPECT_EQ(one(store, {"INCRBY", "n", bad}), "-ERR value is not an integer or out of range\r\n")
        << bad;
  }
  one(store, {"SET", "s", "abc"});
  EXPECT_EQ(one(store, {"INCR", "s"}), "-ERR value is not an integer or out of range\r\n");
  one(store, {"SET", "big", "9223372036854775807"});
  EXPECT_EQ(one(store, {"INCR", "big"}), "-ERR increment or decrement would overflow\r\n");
  EXPECT_EQ(one(store, {"DECRBY", "n", "-9223372036854775808"}), "-ERR decrement would overflow\r\n");
}

TEST(KvCommands, MultiKeyCommands) {
  Store store;
  EXPECT_EQ(one(store, {"MSET", "a", "1", "b", "2"}), "+OK\r\n");
  EXPECT_EQ(one(store, {"MGET", "a", "x", "b"}), "*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n2\r\n");
  EXPECT_EQ(one(store, {"MSETNX", "b", "3", "c", "4"}), ":0\r\n");
  EXPECT_EQ(one(store, {"EXISTS", "c"}), ":0\r\n") << "MSETNX writes nothing when one key exists";
  EXPECT_EQ(one(store, {"MSETNX", "c", "3", "d", "4"}), ":1\r\n");
  EXPECT_EQ(one(store, {"EXISTS", "a", "a", "x"}), ":2\r\n");
  EXPECT_EQ(one(store, {"DEL", "a", "a", "x", "b"}), ":2\r\n");
  EXPECT_EQ(one(store, {"DBSIZE"}), ":2\r\n");
  EXPECT_EQ(one(store, {"UNLINK", "c"}), ":1\r\n");
}

TEST(KvCommands, StringCommands) {
  Store store;
  EXPECT_EQ(one(store, {"SETNX", "s", "x"}), ":1\r\n");
  EXPECT_EQ(one(store, {"SETNX", "s", "y"}), ":0\r\n");
  EXPECT_EQ(one(store, {"GETSET", "s", "abc"}), "$1\r\nx\r\n");
  EXPECT_EQ(one(store, {"APPEND", "s", "de"}), ":5\r\n");
  EXPECT_EQ(one(store, {"STRLEN", "s"}), ":5\r\n");
  EXPECT_EQ(one(store, {"STRLEN", "none"}), ":0\r\n");
  EXPECT_EQ(one(store, {"TYPE", "s"}), "+string\r\n");
  EXPECT_EQ(one(store, {"TYPE", "none"}), "+none\r\n");
  EXPECT_EQ(one(store, {"GETDEL", "s"}), "$5\r\nabcde\r\n");
  EXPECT_EQ(one(store, {"GETDEL", "s"}), "$-1\r\n");
}

// A request's commands run in order, each seeing the ones before.
TEST(KvCommands, APipelineRunsInOrderInOneStep) {
  Store store;
  Ran r = run(store, {command({"SET", "k", "1"}), command({"INCR", "k"}), command({"GET", "k"})});
  EXPECT_EQ(r.count, 3u);
  EXPECT_EQ(r.replies, "+OK\r\n:2\r\n$1\r\n2\r\n");
}

// An MSET that a quota stops halfway writes nothing, as Redis's MSET is
// atomic; the error is the store's.
TEST(KvCommands, AWriteRefusedHalfwayIsUndone) {
  Limits limits;
  limits.client_bytes_max = 2 * Limits::entry_overhead + 10;
  Store store(64, limits);
  EXPECT_EQ(one(store, {"MSET", "a", "1", "b", "2", "c", "3"}),
            "-OOM command not allowed when the client's quota is used ([kv] client_bytes_max)\r\n");
  EXPECT_EQ(store.size(), 0u);
  EXPECT_EQ(store.client_bytes(1), 0u);
  EXPECT_EQ(store.bytes(), 0u);
  EXPECT_EQ(one(store, {"MSET", "a", "1"}), "+OK\r\n");
}

// Replies are bounded: a request runs the commands whose replies fit and
// leaves the rest (at least one runs); one reply that can never fit is an
// error.
TEST(KvCommands, RepliesThatDoNotFitAreLeftForTheNextRequest) {
  Store store;
  const std::string value(value_size_max, 'v');
  one(store, {"SET", "a", value});
  one(store, {"SET", "b", value});
  Ran r = run(store, {command({"INCR", "n"}), command({"GET", "a"}), command({"GETDEL", "b"})});
  EXPECT_EQ(r.count, 2u) << "the second value does not fit after the first";
  EXPECT_EQ(one(store, {"EXISTS", "b"}), ":1\r\n") << "GETDEL did not run";
  const std::string too_large = one(store, {"MGET", "a", "b"});
  EXPECT_EQ(too_large.substr(0, 14), "-ERR reply of ");
  EXPECT_NE(too_large.find("bytes is over the limit of"), std::string::npos) << too_large;
}

TEST(KvCommands, TheEncodingIsCheckedBeforeAnythingRuns) {
  Op op{OpType::commands, {}, {}, 0, {command({"PING"})}};
  Bytes bytes = encode_op(op);
  EXPECT_TRUE(decode_op(bytes).is_ok());
  Bytes no_commands = {static_cast<uint8_t>(OpType::commands), 0, 0, 0, 0};
  EXPECT_FALSE(decode_op(no_commands).is_ok());
  Bytes huge_argc = {static_cast<uint8_t>(OpType::commands), 1, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f};
  EXPECT_FALSE(decode_op(huge_argc).is_ok());
  bytes.push_back(0);
  EXPECT_FALSE(decode_op(bytes).is_ok()) << "trailing bytes";
  // What does not decode is malformed, at every replica alike.
  Store store;
  std::vector<Bytes> results;
  const std::vector<Operation> batch{{1, 1, huge_argc}};
  store.execute(1, batch, results);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(decode_result(results[0])->code, Code::malformed);
}

}  // namespace
}  // namespace pbft::kv
