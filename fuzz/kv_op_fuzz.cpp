// Fuzzes the key-value service's decoders and its execution of arbitrary
// client bytes (kv.h). Properties checked, any failure aborts:
//  - decode_op and decode_result never crash, whatever the bytes;
//  - what decodes is canonical: encoding it again gives the same bytes;
//  - execute() returns exactly one result per operation, each within
//    result_size_max and decodable, and agrees with decode_op + apply (the
//    sequential specification) except that a well-formed operation over a
//    limit (a key, a value, a null operation's reply size) is too_large
//    rather than malformed;
//  - the store is deterministic: a second store fed the same batch returns
//    the same results and ends in the same state.
//
// The input is used twice: whole, as one operation and as one result; and
// split into a batch of operations by one-byte lengths, so that the fuzzer
// can build sequences that touch the same keys.

#include <algorithm>
#include <cstdint>
#include <vector>

#include "pbft/assert.h"
#include "pbft/constants.h"
#include "pbft/kv.h"

namespace {

using namespace pbft;

void check_single_operation(ByteView input) {
  auto op = kv::decode_op(input);
  if (op) {
    PBFT_ASSERT(kv::encode_op(*op) == Bytes(input.begin(), input.end()));
    kv::Store store;
    const kv::OpResult result = store.apply(0, *op);
    const Bytes encoded = kv::encode_result(result);
    PBFT_ASSERT(encoded.size() <= constants::result_size_max);
    auto decoded = kv::decode_result(encoded);
    PBFT_ASSERT(decoded.is_ok());
    PBFT_ASSERT(*decoded == result);
  }
  auto result = kv::decode_result(input);
  if (result) PBFT_ASSERT(kv::encode_result(*result) == Bytes(input.begin(), input.end()));
}

std::vector<ByteView> split_batch(ByteView input) {
  std::vector<ByteView> parts;
  size_t offset = 0;
  while (offset < input.size()) {
    const size_t size = input[offset++];
    const size_t taken = std::min(size, input.size() - offset);
    parts.push_back(input.subspan(offset, taken));
    offset += taken;
  }
  return parts;
}

void check_batch(ByteView input) {
  const std::vector<ByteView> parts = split_batch(input);
  std::vector<Operation> batch;
  for (size_t i = 0; i < parts.size(); ++i) batch.push_back({ClientId(1), Timestamp(i + 1), parts[i]});

  kv::Store store;
  std::vector<Bytes> results;
  store.execute(Seq(1), batch, results);
  PBFT_ASSERT(results.size() == batch.size());

  kv::Store reference;
  for (size_t i = 0; i < parts.size(); ++i) {
    PBFT_ASSERT(results[i].size() <= constants::result_size_max);
    auto decoded = kv::decode_result(results[i]);
    PBFT_ASSERT(decoded.is_ok());
    auto op = kv::decode_op(parts[i]);
    if (op) {
      PBFT_ASSERT(*decoded == reference.apply(0, *op));
    } else if (!parts[i].empty() && parts[i][0] == static_cast<uint8_t>(kv::OpType::null) &&
               decoded->code == kv::Code::too_large) {
      // A well-formed null operation may ask for a reply over the limit in
      // a few bytes: too_large, as for any operation over a limit.
    } else {
      // Short parts cannot hold an over-limit key or value, so what does
      // not decode is malformed.
      PBFT_ASSERT(decoded->code == kv::Code::malformed);
    }
  }

  kv::Store twin;
  std::vector<Bytes> twin_results;
  twin.execute(Seq(1), batch, twin_results);
  PBFT_ASSERT(twin_results == results);
  PBFT_ASSERT(twin.size() == store.size());
  PBFT_ASSERT(reference.size() == store.size());
  for (const ByteView part : parts) {
    auto op = kv::decode_op(part);
    if (!op) continue;
    PBFT_ASSERT(store.get(op->key) == twin.get(op->key));
    PBFT_ASSERT(store.get(op->key) == reference.get(op->key));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const ByteView input(data, size);
  check_single_operation(input);
  check_batch(input);
  return 0;
}
