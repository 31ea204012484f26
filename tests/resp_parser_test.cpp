// The RESP2 parser and encoders (src/resp/resp.h): each test checks one
// behaviour Redis's own parser has (networking.c, sds.c), or one limit.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "src/resp/resp.h"

namespace pbft::resp {
namespace {

using Kind = Parsed::Kind;

// Parses every command in `input` fed at once; stops at the first error or
// incomplete command. Returns the commands; `tail` gets what stopped it.
std::vector<Args> parse_all(Parser& parser, std::string input, Parsed* tail = nullptr) {
  std::vector<Args> commands;
  while (true) {
    Parsed p = parser.next(input);
    if (p.kind == Kind::command) commands.push_back(p.args);
    if (p.kind == Kind::command || p.kind == Kind::empty) {
      input.erase(0, p.consumed);
      continue;
    }
    if (tail != nullptr) *tail = p;
    return commands;
  }
}

Args args(std::initializer_list<const char*> words) {
  Args out;
  for (const char* w : words) out.emplace_back(w);
  return out;
}

TEST(RespParser, ReadsAMultibulkCommand) {
  Parser parser;
  Parsed p = parser.next("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
  ASSERT_EQ(p.kind, Kind::command);
  EXPECT_EQ(p.args, args({"GET", "k"}));
  EXPECT_EQ(p.consumed, 20u);
}

TEST(RespParser, BulkStringsAreBinarySafe) {
  Parser parser;
  const std::string value("a\r\n\0b", 5);
  Parsed p = parser.next("*2\r\n$3\r\nSET\r\n$5\r\n" + value + "\r\n");
  ASSERT_EQ(p.kind, Kind::command);
  EXPECT_EQ(p.args[1], value);
}

// Pipelining: several commands in one read come out one by one, in order.
TEST(RespParser, PipelinedCommandsComeOutInOrder) {
  Parser parser;
  Parsed tail;
  const auto commands =
      parse_all(parser, "*1\r\n$4\r\nPING\r\nECHO hi\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", &tail);
  ASSERT_EQ(commands.size(), 3u);
  EXPECT_EQ(commands[0], args({"PING"}));
  EXPECT_EQ(commands[1], args({"ECHO", "hi"}));
  EXPECT_EQ(commands[2], args({"GET", "k"}));
  EXPECT_EQ(tail.kind, Kind::incomplete);
}

// A command cut into reads at every byte comes out whole, once, and the
// parser examines each byte once (it remembers where it stopped).
TEST(RespParser, ACommandCutAtEveryByteComesOutWhole) {
  const std::string wire = "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n";
  Parser parser;
  std::string buffer;
  for (size_t i = 0; i < wire.size(); i++) {
    buffer.push_back(wire[i]);
    Parsed p = parser.next(buffer);
    if (i + 1 < wire.size()) {
      ASSERT_EQ(p.kind, Kind::incomplete) << "at byte " << i;
    } else {
      ASSERT_EQ(p.kind, Kind::command);
      EXPECT_EQ(p.args, args({"SET", "key", "value"}));
      EXPECT_EQ(p.consumed, wire.size());
    }
  }
}

TEST(RespParser, InlineCommandsSplitOnSpacesWithOrWithoutCarriageReturn) {
  Parser parser;
  EXPECT_EQ(parse_all(parser, "SET  k   v\r\nGET k\n"),
            (std::vector<Args>{args({"SET", "k", "v"}), args({"GET", "k"})}));
}

// Redis ignores an empty inline line and "*0" or "*-1".
TEST(RespParser, EmptyCommandsAreSkipped) {
  Parser parser;
  Parsed p = parser.next("\r\n");
  EXPECT_EQ(p.kind, Kind::empty);
  EXPECT_EQ(p.consumed, 2u);
  EXPECT_EQ(parse_all(parser, "   \n*0\r\n*-1\r\nPING\r\n"), (std::vector<Args>{args({"PING"})}));
}

// sdssplitargs: double quotes take escapes, single quotes take \', and a
// quote in the middle of a word opens a quoted part of it.
TEST(RespParser, InlineQuotingFollowsRedis) {
  Args out;
  ASSERT_TRUE(split_inline(R"(SET "a b\n\x41\"" 'it\'s' x"y z")", out));
  EXPECT_EQ(out, args({"SET", "a b\nA\"", "it's", "xy z"}));
  out.clear();
  ASSERT_TRUE(split_inline(R"("\q" "\xZZ")", out));
  EXPECT_EQ(out, args({"q", "xZZ"}));
}

TEST(RespParser, UnbalancedQuotesAreAProtocolError) {
  for (const char* line : {"SET \"a\n", "SET 'a\n", "SET \"a\"b\n", "SET 'a'b\n"}) {
    Parser parser;
    Parsed p = parser.next(line);
    EXPECT_EQ(p.kind, Kind::error) << line;
    EXPECT_EQ(p.error, "Protocol error: unbalanced quotes in request") << line;
  }
}

// The error texts are Redis's, word for word.
TEST(RespParser, MalformedHeadersGetRedisErrors) {
  const std::pair<const char*, const char*> cases[] = {
      {"*x\r\n", "Protocol error: invalid multibulk length"},
      {"*\r\n", "Protocol error: invalid multibulk length"},
      {"*01\r\n", "Protocol error: invalid multibulk length"},
      {"*1\r\n+PING\r\n", "Protocol error: expected '$', got '+'"},
      {"*1\r\n$-1\r\n", "Protocol error: invalid bulk length"},
      {"*1\r\n$abc\r\n", "Protocol error: invalid bulk length"},
      {"*1\r\n$99999999999999999999999\r\n", "Protocol error: invalid bulk length"},
  };
  for (const auto& [wire, error] : cases) {
    Parser parser;
    Parsed p = parser.next(wire);
    EXPECT_EQ(p.kind, Kind::error) << wire;
    EXPECT_EQ(p.error, error) << wire;
  }
}

// A bulk longer than the limit is refused when its header arrives: the
// parser never waits for (or allocates) the claimed size.
TEST(RespParser, ABulkOverTheLimitIsRefusedOnItsHeader) {
  Limits limits;
  limits.bulk_bytes_max = 1 << 20;
  Parser parser(limits);
  Parsed p = parser.next("*2\r\n$3\r\nSET\r\n$1048577\r\n");
  EXPECT_EQ(p.kind, Kind::error);
  EXPECT_EQ(p.error, "Protocol error: invalid bulk length");
  Parser exact(limits);
  EXPECT_EQ(exact.next("*2\r\n$3\r\nSET\r\n$1048576\r\n").kind, Kind::incomplete);
}

TEST(RespParser, TooManyArgumentsOrBytesAreRefusedOnTheirHeaders) {
  Limits limits;
  limits.args_max = 4;
  limits.command_bytes_max = 100;
  Parser many(limits);
  EXPECT_EQ(many.next("*5\r\n").error, "Protocol error: invalid multibulk length");
  Parser large(limits);
  Parsed p = large.next("*2\r\n$50\r\n" + std::string(50, 'x') + "\r\n$50\r\n");
  EXPECT_EQ(p.kind, Kind::error);
  EXPECT_EQ(p.error, "Protocol error: command of more than 100 bytes");
}

// Lines without their end are bounded too (Redis: 64 KiB).
TEST(RespParser, EndlessLinesAreRefused) {
  Limits limits;
  limits.inline_bytes_max = 16;
  Parser inline_parser(limits);
  EXPECT_EQ(inline_parser.next(std::string(16, 'a')).kind, Kind::incomplete);
  EXPECT_EQ(inline_parser.next(std::string(17, 'a')).error,
            "Protocol error: too big inline request");
  Parser line(limits);
  EXPECT_EQ(line.next(std::string(17, 'a') + "\n").error, "Protocol error: too big inline request")
      << "however the line arrives";
  Parser count(limits);
  EXPECT_EQ(count.next("*" + std::string(17, '1') + "\r").error,
            "Protocol error: too big mbulk count string");
  Parser bulk(limits);
  EXPECT_EQ(bulk.next("*1\r\n$" + std::string(17, '1') + "\r").error,
            "Protocol error: too big bulk count string");
}

TEST(RespParser, AfterAnErrorTheParserStaysFailed) {
  Parser parser;
  EXPECT_EQ(parser.next("*x\r\n").kind, Kind::error);
  EXPECT_EQ(parser.next("PING\r\n").kind, Kind::error);
}

TEST(RespEncoder, EncodesEveryType) {
  std::string out;
  append_simple(out, "OK");
  append_error(out, "ERR bad\r\nthing");
  append_integer(out, -42);
  append_bulk(out, std::string("a\0b", 3));
  append_null(out);
  append_array(out, 2);
  append_null_array(out);
  using namespace std::string_literals;
  EXPECT_EQ(out, "+OK\r\n-ERR bad  thing\r\n:-42\r\n$3\r\na\0b\r\n$-1\r\n*2\r\n*-1\r\n"s);
}

// What the encoders write, the parser reads back (an array of bulks is a
// command).
TEST(RespEncoder, ArraysOfBulksParseBack) {
  std::string out;
  const Args command = args({"MSET", "k1", "", "k2", "v\r\n"});
  append_array(out, command.size());
  for (const std::string& a : command) append_bulk(out, a);
  Parser parser;
  Parsed p = parser.next(out);
  ASSERT_EQ(p.kind, Kind::command);
  EXPECT_EQ(p.args, command);
  EXPECT_EQ(p.consumed, out.size());
}

}  // namespace
}  // namespace pbft::resp
