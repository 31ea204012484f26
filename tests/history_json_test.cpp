// The JSON-lines history format (include/pbft/history.h): the exact text
// written, round trips of every field including binary bytes and nulls, and
// the reasons parse_json_line and read_file give for what they reject.

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include <unistd.h>

#include "pbft/history.h"

namespace pbft::history {
namespace {

Entry make(ClientId client, OpKind op, std::string key, std::optional<std::string> value,
           uint64_t call, std::optional<uint64_t> ret, Outcome status) {
  return {client, op, std::move(key), std::move(value), call, ret, status};
}

// The reason parse_json_line gives, or "" if it accepts the line.
std::string rejection(std::string_view line) {
  auto e = parse_json_line(line);
  return e.is_ok() ? std::string() : e.reason();
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("pbft_history_json_test_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

TEST(HistoryJson, WritesTheDocumentedLineExactly) {
  // The example of history.h, byte for byte: field order and no spaces.
  EXPECT_EQ(to_json_line(make(3, OpKind::put, "k1", "v7", 1200, 5400, Outcome::ok)),
            R"({"client":3,"op":"put","key":"k1","value":"v7","call_ns":1200,"return_ns":5400,"status":"ok"})");
  EXPECT_EQ(to_json_line(make(0, OpKind::del, "k", std::nullopt, 5, std::nullopt, Outcome::unknown)),
            R"({"client":0,"op":"delete","key":"k","value":null,"call_ns":5,"return_ns":null,"status":"unknown"})");
  EXPECT_EQ(to_json_line(make(1, OpKind::get, "k", std::nullopt, 1, 2, Outcome::ok)),
            R"({"client":1,"op":"get","key":"k","value":null,"call_ns":1,"return_ns":2,"status":"ok"})");
  EXPECT_EQ(to_json_line(make(1, OpKind::append, "k", "x", 1, 2, Outcome::fail)),
            R"({"client":1,"op":"append","key":"k","value":"x","call_ns":1,"return_ns":2,"status":"fail"})");
}

TEST(HistoryJson, EscapesBytesThatAreNotPrintableAscii) {
  const std::string key("a\"b\\c\0d\x7f\x80\xff \n/~", 14);
  const std::string line = to_json_line(make(1, OpKind::put, key, std::string("\x01", 1), 0, 0, Outcome::ok));
  EXPECT_NE(line.find(R"("key":"a\"b\\c\u0000d\u007f\u0080\u00ff \u000a/~")"), std::string::npos)
      << line;
  EXPECT_NE(line.find(R"("value":"\u0001")"), std::string::npos) << line;
  for (char c : line) EXPECT_TRUE(c >= 0x20 && c <= 0x7e) << "the line is printable ASCII";
}

TEST(HistoryJson, RoundTripsEveryByteAndEveryNull) {
  std::string all_bytes;
  for (int byte = 0; byte < 256; ++byte) all_bytes.push_back(static_cast<char>(byte));
  const std::vector<Entry> entries = {
      make(3, OpKind::put, "k1", "v7", 1200, 5400, Outcome::ok),
      make(UINT32_MAX, OpKind::append, all_bytes, all_bytes, 0, 0, Outcome::ok),
      make(0, OpKind::get, "", std::nullopt, UINT64_MAX - 1, UINT64_MAX, Outcome::ok),
      make(7, OpKind::get, "k", "", 10, 20, Outcome::ok),
      make(7, OpKind::get, "k", std::nullopt, 10, std::nullopt, Outcome::unknown),
      make(2, OpKind::del, std::string("\0", 1), std::nullopt, 10, 20, Outcome::fail),
      make(2, OpKind::put, "k", "v", 30, std::nullopt, Outcome::unknown),
  };
  for (const Entry& e : entries) {
    auto parsed = parse_json_line(to_json_line(e));
    ASSERT_TRUE(parsed.is_ok()) << parsed.reason() << "\n" << to_json_line(e);
    EXPECT_EQ(*parsed, e);
  }
}

TEST(HistoryJson, RandomEntriesRoundTrip) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    auto random_bytes = [&] {
      std::string s(rng() % 8, '\0');
      for (char& c : s) c = static_cast<char>(rng());
      return s;
    };
    Entry e;
    e.client = static_cast<ClientId>(rng());
    e.op = static_cast<OpKind>(rng() % 4);
    e.key = random_bytes();
    e.status = static_cast<Outcome>(rng() % 3);
    e.call_ns = rng() >> 1;
    if (e.status != Outcome::unknown) e.return_ns = e.call_ns + (rng() >> 2);
    if (e.op == OpKind::put || e.op == OpKind::append ||
        (e.op == OpKind::get && e.status == Outcome::ok && rng() % 2)) {
      e.value = random_bytes();
    }
    auto parsed = parse_json_line(to_json_line(e));
    ASSERT_TRUE(parsed.is_ok()) << parsed.reason() << "\n" << to_json_line(e);
    EXPECT_EQ(*parsed, e);
  }
}

TEST(HistoryJson, AcceptsAnyJsonSpellingOfBytes) {
  // Other tools may escape differently, reorder fields, or add whitespace.
  auto e = parse_json_line(
      R"( { "status" : "ok", "key":"\u00E9\u0041\n\/", "op":"put", "value":"é", )"
      R"("client":1, "call_ns":0, "return_ns":0 } )");
  ASSERT_TRUE(e.is_ok()) << e.reason();
  EXPECT_EQ(e->key, "\xe9" "A\n/");
  EXPECT_EQ(e->value, "\xe9") << "a raw UTF-8 character <= U+00FF is that byte";
}

TEST(HistoryJson, RejectsWhatIsNotJsonOrNotAnObject) {
  EXPECT_NE(rejection("").find("not valid JSON"), std::string::npos);
  EXPECT_NE(rejection(R"({"client":1)").find("not valid JSON"), std::string::npos);
  EXPECT_NE(rejection("[1,2]").find("not a JSON object"), std::string::npos);
  EXPECT_NE(rejection("\"x\"").find("not a JSON object"), std::string::npos);
  EXPECT_NE(rejection(std::string("{\"key\":\"\xff\"}")).find("not valid JSON"), std::string::npos)
      << "raw bytes that are not UTF-8";
}

const std::string good =
    R"({"client":3,"op":"put","key":"k1","value":"v7","call_ns":1200,"return_ns":5400,"status":"ok"})";

// Replaces one field's value in `line` (whose string values have no quotes
// or commas inside).
std::string with(const std::string& line, const std::string& field, const std::string& json_value) {
  const std::string tag = "\"" + field + "\":";
  const size_t begin = line.find(tag) + tag.size();
  size_t end = begin;
  if (line[begin] == '"') {
    end = line.find('"', begin + 1) + 1;
  } else {
    while (line[end] != ',' && line[end] != '}') ++end;
  }
  return line.substr(0, begin) + json_value + line.substr(end);
}
std::string with(const std::string& field, const std::string& json_value) {
  return with(good, field, json_value);
}

TEST(HistoryJson, RejectsMissingUnknownAndDuplicateFields) {
  ASSERT_EQ(rejection(good), "");
  for (const char* field : {"client", "op", "key", "value", "call_ns", "return_ns", "status"}) {
    const std::string tag = std::string("\"") + field + "\":";
    const size_t begin = good.find(tag);
    const size_t end = good.find_first_of(",}", good.find(tag) + tag.size() + 1);
    std::string line = good.substr(0, begin) + good.substr(end + 1);
    if (line.back() != '}') line += "}";
    if (line[line.size() - 2] == ',') line.erase(line.size() - 2, 1);
    EXPECT_NE(rejection(line).find(std::string("missing field ") + field), std::string::npos) << line;
  }
  EXPECT_NE(rejection(good.substr(0, good.size() - 1) + R"(,"extra":1})").find("unknown field extra"),
            std::string::npos);
  EXPECT_NE(rejection(good.substr(0, good.size() - 1) + R"(,"client":4})").find("client appears twice"),
            std::string::npos);
}

TEST(HistoryJson, RejectsFieldsOfTheWrongType) {
  EXPECT_NE(rejection(with("client", "-1")).find("client must be an unsigned integer"), std::string::npos);
  EXPECT_NE(rejection(with("client", "1.5")).find("client"), std::string::npos);
  EXPECT_NE(rejection(with("client", "\"3\"")).find("client"), std::string::npos);
  EXPECT_NE(rejection(with("client", "4294967296")).find("over 2^32-1"), std::string::npos);
  EXPECT_EQ(rejection(with("client", "4294967295")), "");
  EXPECT_NE(rejection(with("op", "\"cas\"")).find("unknown op"), std::string::npos);
  EXPECT_NE(rejection(with("op", "2")).find("op must be a string"), std::string::npos);
  EXPECT_NE(rejection(with("key", "null")).find("key must be a string"), std::string::npos);
  EXPECT_NE(rejection(with("value", "7")).find("value must be a string or null"), std::string::npos);
  EXPECT_NE(rejection(with("call_ns", "1e3")).find("call_ns"), std::string::npos);
  EXPECT_NE(rejection(with("call_ns", "18446744073709551616")).find("call_ns"), std::string::npos)
      << "above 2^64-1";
  EXPECT_NE(rejection(with("return_ns", "\"5400\"")).find("return_ns"), std::string::npos);
  EXPECT_NE(rejection(with("status", "\"timeout\"")).find("unknown status"), std::string::npos);
}

TEST(HistoryJson, RejectsCodePointsAboveFF) {
  EXPECT_NE(rejection(with("key", R"("\u0100")")).find("above U+00FF"), std::string::npos);
  EXPECT_NE(rejection(with("value", "\"\xe2\x82\xac\"")).find("above U+00FF"), std::string::npos)
      << "a raw euro sign";
  EXPECT_NE(rejection(with("value", R"("\ud83d\ude00")")).find("above U+00FF"), std::string::npos);
  EXPECT_EQ(rejection(with("value", R"("\u00ff\u0000")")), "");
}

TEST(HistoryJson, RejectsInconsistentEntries) {
  // unknown => return_ns null; ok/fail => return_ns present and >= call_ns.
  EXPECT_NE(rejection(with("status", "\"unknown\"")).find("no return_ns"), std::string::npos);
  EXPECT_EQ(rejection(with(with("return_ns", "null"), "status", "\"unknown\"")), "");
  EXPECT_NE(rejection(with("return_ns", "null")).find("needs a return_ns"), std::string::npos);
  EXPECT_NE(rejection(with("return_ns", "1199")).find("before call_ns"), std::string::npos);
  EXPECT_EQ(rejection(with("return_ns", "1200")), "") << "an instantaneous operation is fine";
  // put/append carry their argument; delete carries none; only an ok get has a result.
  EXPECT_NE(rejection(with("value", "null")).find("put needs a value"), std::string::npos);
  EXPECT_NE(rejection(with("op", "\"delete\"")).find("delete has no value"), std::string::npos);
  EXPECT_EQ(rejection(with("op", "\"get\"")), "");
  EXPECT_EQ(rejection(with(with("op", "\"get\""), "value", "null")), "");
  EXPECT_NE(rejection(with(with("op", "\"get\""), "status", "\"fail\"")).find("has no result"),
            std::string::npos);
  EXPECT_EQ(rejection(with(with(with("op", "\"get\""), "status", "\"fail\""), "value", "null")), "");
}

TEST(HistoryJson, FileRoundTripSkipsBlankLines) {
  const std::string path = temp_path("roundtrip.jsonl");
  const std::vector<Entry> entries = {
      make(1, OpKind::put, "k", "v", 1, 2, Outcome::ok),
      make(2, OpKind::get, std::string("\0k", 2), "v", 3, 4, Outcome::ok),
      make(1, OpKind::del, "k", std::nullopt, 5, std::nullopt, Outcome::unknown),
  };
  ASSERT_TRUE(write_file(path, entries).is_ok());
  auto read = read_file(path);
  ASSERT_TRUE(read.is_ok()) << read.reason();
  EXPECT_EQ(*read, entries);

  { std::ofstream(path, std::ios::app) << "\n  \r\n"; }
  read = read_file(path);
  ASSERT_TRUE(read.is_ok()) << read.reason();
  EXPECT_EQ(*read, entries);

  ASSERT_TRUE(write_file(path, {}).is_ok());
  read = read_file(path);
  ASSERT_TRUE(read.is_ok());
  EXPECT_TRUE(read->empty()) << "write_file truncates";
  std::remove(path.c_str());
}

TEST(HistoryJson, ReadFileNamesTheLineOfAnError) {
  const std::string path = temp_path("bad.jsonl");
  {
    std::ofstream out(path);
    out << good << "\n\n" << good << "\n" << with("status", "\"maybe\"") << "\n";
  }
  auto read = read_file(path);
  ASSERT_FALSE(read.is_ok());
  EXPECT_NE(read.reason().find(path + ":4: unknown status"), std::string::npos) << read.reason();
  std::remove(path.c_str());
}

TEST(HistoryJson, FileErrorsAreReported) {
  auto read = read_file("/nonexistent/dir/history.jsonl");
  ASSERT_FALSE(read.is_ok());
  EXPECT_NE(read.reason().find("cannot open"), std::string::npos);
  Status written = write_file("/nonexistent/dir/history.jsonl", {});
  ASSERT_FALSE(written.is_ok());
  EXPECT_NE(written.reason().find("cannot create"), std::string::npos);
}

}  // namespace
}  // namespace pbft::history
