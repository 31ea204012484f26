// The replicated key-value service: get, put, delete and append on
// binary-safe keys and values. Operations and results have a small binary
// encoding that clients build with encode_op and read with decode_result.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "pbft/service.h"
#include "pbft/status.h"

namespace pbft::kv {

constexpr size_t key_size_max = 1024;
constexpr size_t value_size_max = 60 * 1024;  // an op with key and value fits operation_size_max

enum class OpType : uint8_t { get = 1, put = 2, del = 3, append = 4 };

struct Op {
  OpType type = OpType::get;
  Bytes key;
  Bytes value;  // put and append only
  friend bool operator==(const Op&, const Op&) = default;
};

// Encoding of an operation: type u8 | key length u32 | key | value length u32 | value
// (no value part for get and delete).
Bytes encode_op(const Op& op);
Result<Op> decode_op(ByteView bytes);

enum class Code : uint8_t {
  ok = 0,
  not_found = 1,  // get of an absent key
  too_large = 2,  // key, value, or the value an append would produce, is over its limit
  malformed = 3,  // the operation could not be decoded
};

struct OpResult {
  Code code = Code::ok;
  Bytes value;  // the value for a successful get; empty otherwise
  friend bool operator==(const OpResult&, const OpResult&) = default;
};

// Encoding of a result: code u8 | value length u32 | value.
Bytes encode_result(const OpResult& r);
Result<OpResult> decode_result(ByteView bytes);
const char* code_name(Code c);

// The store. Deterministic: results and state depend only on the sequence
// of operations. delete of an absent key is ok; append to an absent key
// creates it.
class Store final : public Service {
 public:
  void execute(Seq seq, std::span<const Operation> operations,
               std::vector<Bytes>& results) override;

  // Applies one operation: the sequential specification. (The
  // linearizability checker has its own model of it, cross-checked against
  // this one by its tests.)
  OpResult apply(const Op& op);

  std::optional<Bytes> get(const Bytes& key) const;
  size_t size() const { return map_.size(); }

 private:
  std::map<Bytes, Bytes> map_;
};

}  // namespace pbft::kv
