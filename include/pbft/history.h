// Client histories of the key-value service and a linearizability checker.
//
// A history is one JSON object per line (a format other tools read too):
//   {"client":3,"op":"put","key":"k1","value":"v7","call_ns":1200,"return_ns":5400,"status":"ok"}
// op: get | put | delete | append. value: the argument of put/append, the
// result of get (null when the key is absent), null for delete. status: ok,
// fail (definitely not applied) or unknown (outcome unknown; return_ns is
// null). Keys and values are byte strings; bytes that are not printable
// ASCII are written as \u00XX escapes (each code point <= 0xFF is one byte).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pbft/status.h"
#include "pbft/types.h"

namespace pbft::history {

enum class OpKind : uint8_t { get, put, del, append };
enum class Outcome : uint8_t { ok, fail, unknown };

struct Entry {
  ClientId client = 0;
  OpKind op = OpKind::get;
  std::string key;
  std::optional<std::string> value;
  uint64_t call_ns = 0;
  std::optional<uint64_t> return_ns;  // none when status is unknown
  Outcome status = Outcome::ok;
  friend bool operator==(const Entry&, const Entry&) = default;
};

std::string to_json_line(const Entry& e);  // no trailing newline
Result<Entry> parse_json_line(std::string_view line);
Status write_file(const std::string& path, const std::vector<Entry>& entries);
Result<std::vector<Entry>> read_file(const std::string& path);

// When complete is false the search gave up (step budget or its 1 GiB memory
// cap) and the outcome is undecided: linearizable is then false too, so
// callers test complete first.
struct CheckResult {
  bool linearizable = true;
  bool complete = true;     // false if the search gave up
  std::string explanation;  // for a violation: the key and the operations involved
};

// Checks the history against the key-value store's sequential semantics
// (get returns the last put/append result or null; delete removes; append
// concatenates). Linearizability is local, so each key is checked alone,
// with the Wing-Gong/Lowe search and memoization of visited states. fail
// operations are ignored (operations the store refused, too_large or
// malformed, belong in the history as fail: the model has no size limits);
// unknown ones may take effect at any point after their call, or never. Two
// events at the same timestamp count as concurrent. search_budget bounds the
// states explored per key.
CheckResult check_linearizable(const std::vector<Entry>& entries,
                               uint64_t search_budget = 10'000'000);

}  // namespace pbft::history
