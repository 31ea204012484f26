#include "src/workload/workload.h"

#include <algorithm>
#include <string>

namespace pbft::workload {

namespace {

Bytes to_bytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

}  // namespace

PlannedOperation plan_operation(Random& random, ClientId client, uint32_t index, uint32_t keys) {
  PlannedOperation planned;
  const std::string key = "k" + std::to_string(random.uniform(keys));
  // Padded so that reading a value back gives a result longer than a
  // digest: such results go in full from the request's replier only, the
  // other replicas send digest replies (docs/design.md).
  std::string value = "c" + std::to_string(client) + "." + std::to_string(index);
  value.resize(std::max<size_t>(value.size(), 40), '.');
  const uint64_t kind = random.uniform(100);
  planned.entry.client = client;
  planned.entry.key = key;
  planned.op.key = to_bytes(key);
  if (kind < 30) {
    planned.op.type = kv::OpType::get;
    planned.entry.op = history::OpKind::get;
  } else if (kind < 60) {
    planned.op.type = kv::OpType::put;
    planned.entry.op = history::OpKind::put;
  } else if (kind < 85) {
    planned.op.type = kv::OpType::append;
    planned.entry.op = history::OpKind::append;
  } else {
    planned.op.type = kv::OpType::del;
    planned.entry.op = history::OpKind::del;
  }
  if (planned.op.type == kv::OpType::put || planned.op.type == kv::OpType::append) {
    // An appended value starts with '+', which no put value contains, so a
    // concatenation reads back as exactly one sequence of operations.
    const std::string written = planned.op.type == kv::OpType::append ? "+" + value : value;
    planned.op.value = to_bytes(written);
    planned.entry.value = written;
  }
  return planned;
}

Status record_result(history::Entry& entry, ByteView result) {
  Result<kv::OpResult> decoded = kv::decode_result(result);
  if (!decoded) return Status::error("result does not decode: " + decoded.reason());
  const kv::Code code = decoded->code;
  entry.status = history::Outcome::ok;
  if (entry.op == history::OpKind::get) {
    if (code == kv::Code::ok) {
      entry.value = to_string(decoded->value);
      return Status::ok();
    }
    if (code == kv::Code::not_found) {
      entry.value.reset();
      return Status::ok();
    }
  } else if (code == kv::Code::ok) {
    return Status::ok();
  }
  return Status::error(std::string("unexpected result code ") + kv::code_name(code));
}

}  // namespace pbft::workload
