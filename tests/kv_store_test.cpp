// The key-value service (include/pbft/kv.h): its sequential semantics, its
// limits, and its bounded encoding of operations and results.

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "pbft/constants.h"
#include "pbft/kv.h"

namespace pbft::kv {
namespace {

Bytes b(std::string_view s) { return Bytes(s.begin(), s.end()); }

Op get_op(std::string_view key) { return {OpType::get, b(key), {}}; }
Op put_op(std::string_view key, std::string_view value) { return {OpType::put, b(key), b(value)}; }
Op del_op(std::string_view key) { return {OpType::del, b(key), {}}; }
Op append_op(std::string_view key, std::string_view value) {
  return {OpType::append, b(key), b(value)};
}
Op null_op(size_t argument_size, uint32_t reply_size) {
  return {OpType::null, {}, Bytes(argument_size, 7), reply_size};
}

OpResult ok(std::string_view value = {}) { return {Code::ok, b(value)}; }
OpResult err(Code code) { return {code, {}}; }

void append_u32(Bytes& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// Runs encoded operations through execute() as one batch and decodes the results.
std::vector<OpResult> execute_all(Store& store, const std::vector<Bytes>& encoded) {
  std::vector<Operation> operations;
  for (size_t i = 0; i < encoded.size(); ++i) {
    operations.push_back({ClientId(1), Timestamp(i + 1), encoded[i]});
  }
  std::vector<Bytes> results;
  store.execute(Seq(1), operations, results);
  EXPECT_EQ(results.size(), encoded.size()) << "exactly one result per operation";
  std::vector<OpResult> decoded;
  for (const Bytes& r : results) {
    EXPECT_LE(r.size(), constants::result_size_max);
    auto d = decode_result(r);
    EXPECT_TRUE(d.is_ok()) << d.reason();
    decoded.push_back(d ? *d : OpResult{});
  }
  return decoded;
}

// --- Sequential semantics -------------------------------------------------

TEST(KvStore, GetOfAbsentKeyIsNotFound) {
  Store store;
  EXPECT_EQ(store.apply(0, get_op("k")), err(Code::not_found));
  EXPECT_EQ(store.size(), 0u);
}

TEST(KvStore, NullOperationReturnsReplySizeBytesAndChangesNothing) {
  Store store(16);
  EXPECT_EQ(store.apply(0, null_op(100, 0)), ok());
  EXPECT_EQ(store.apply(0, null_op(0, 4096)), (OpResult{Code::ok, Bytes(4096, 0)}));
  EXPECT_EQ(store.size(), 0u);
  std::vector<uint64_t> dirty;
  store.take_dirty_partitions(dirty);
  EXPECT_TRUE(dirty.empty()) << "a null operation touches no partition";
  EXPECT_EQ(store.apply(0, null_op(0, value_size_max + 1)), err(Code::too_large));
}

TEST(KvStore, PutThenGetReturnsTheValue) {
  Store store;
  EXPECT_EQ(store.apply(0, put_op("k", "v1")), ok());
  EXPECT_EQ(store.apply(0, get_op("k")), ok("v1"));
  EXPECT_EQ(store.apply(0, put_op("k", "v2")), ok()) << "put overwrites";
  EXPECT_EQ(store.apply(0, get_op("k")), ok("v2"));
  EXPECT_EQ(store.get(b("k")), b("v2"));
  EXPECT_EQ(store.size(), 1u);
}

TEST(KvStore, PutOfEmptyValueIsPresent) {
  Store store;
  EXPECT_EQ(store.apply(0, put_op("k", "")), ok());
  EXPECT_EQ(store.apply(0, get_op("k")), ok("")) << "an empty value is not an absent key";
  EXPECT_EQ(store.size(), 1u);
}

TEST(KvStore, DeleteRemovesAndIsOkWhenAbsent) {
  Store store;
  store.apply(0, put_op("k", "v"));
  EXPECT_EQ(store.apply(0, del_op("k")), ok());
  EXPECT_EQ(store.apply(0, get_op("k")), err(Code::not_found));
  EXPECT_EQ(store.apply(0, del_op("k")), ok()) << "delete of an absent key is ok (kv.h)";
  EXPECT_EQ(store.apply(0, del_op("never")), ok());
  EXPECT_EQ(store.size(), 0u);
}

TEST(KvStore, AppendCreatesThenConcatenates) {
  Store store;
  EXPECT_EQ(store.apply(0, append_op("k", "ab")), ok()) << "append to an absent key creates it";
  EXPECT_EQ(store.apply(0, get_op("k")), ok("ab"));
  EXPECT_EQ(store.apply(0, append_op("k", "cd")), ok());
  EXPECT_EQ(store.apply(0, append_op("k", "")), ok());
  EXPECT_EQ(store.apply(0, get_op("k")), ok("abcd"));
  EXPECT_EQ(store.apply(0, append_op("e", "")), ok()) << "even an empty append creates the key";
  EXPECT_EQ(store.apply(0, get_op("e")), ok(""));
}

TEST(KvStore, KeysAreIndependent) {
  Store store;
  store.apply(0, put_op("a", "1"));
  store.apply(0, put_op("b", "2"));
  store.apply(0, del_op("a"));
  EXPECT_EQ(store.apply(0, get_op("a")), err(Code::not_found));
  EXPECT_EQ(store.apply(0, get_op("b")), ok("2"));
}

TEST(KvStore, KeysAndValuesAreBinarySafe) {
  Store store;
  const Bytes key = {0x00, 'k', 0x00, 0xff};
  const Bytes other_key = {0x00, 'k', 0x00};  // a prefix up to the embedded zero
  const Bytes value = {0x00, 0x01, 0x00, 0x80, 0xff, 0x00};
  EXPECT_EQ(store.apply(0, {OpType::put, key, value}), ok());
  EXPECT_EQ(store.apply(0, {OpType::get, other_key, {}}), err(Code::not_found));
  EXPECT_EQ(store.apply(0, {OpType::get, key, {}}), (OpResult{Code::ok, value}));
  EXPECT_EQ(store.apply(0, {OpType::append, key, Bytes{0x00}}), ok());
  Bytes expected = value;
  expected.push_back(0x00);
  EXPECT_EQ(store.get(key), expected);

  // And through the encoding.
  auto decoded = decode_op(encode_op({OpType::put, key, value}));
  ASSERT_TRUE(decoded.is_ok()) << decoded.reason();
  EXPECT_EQ(decoded->key, key);
  EXPECT_EQ(decoded->value, value);
}

// --- Limits ---------------------------------------------------------------

TEST(KvStore, KeyAtTheLimitIsAcceptedOneOverIsTooLarge) {
  Store store;
  const Bytes at(key_size_max, 'k');
  const Bytes over(key_size_max + 1, 'k');
  for (OpType type : {OpType::get, OpType::put, OpType::del, OpType::append}) {
    const Bytes value = (type == OpType::put || type == OpType::append) ? b("v") : Bytes{};
    EXPECT_NE(store.apply(0, {type, at, value}).code, Code::too_large);
    EXPECT_EQ(store.apply(0, {type, over, value}), err(Code::too_large));
  }
  EXPECT_EQ(store.size(), 1u) << "the over-limit key was never stored";
}

TEST(KvStore, ValueAtTheLimitIsAcceptedOneOverIsTooLarge) {
  Store store;
  const Bytes at(value_size_max, 'v');
  const Bytes over(value_size_max + 1, 'v');
  EXPECT_EQ(store.apply(0, {OpType::put, b("k"), at}), ok());
  EXPECT_EQ(store.get(b("k")), at);
  EXPECT_EQ(store.apply(0, {OpType::put, b("k"), over}), err(Code::too_large));
  EXPECT_EQ(store.get(b("k")), at) << "a rejected put leaves the value as it was";
  EXPECT_EQ(store.apply(0, {OpType::append, b("n"), over}), err(Code::too_large));
  EXPECT_FALSE(store.get(b("n"))) << "a rejected append does not create the key";
}

TEST(KvStore, AppendUpToTheLimitIsOkOneByteMoreIsTooLargeAndChangesNothing) {
  Store store;
  const Bytes most(value_size_max - 1, 'v');
  EXPECT_EQ(store.apply(0, {OpType::put, b("k"), most}), ok());
  EXPECT_EQ(store.apply(0, append_op("k", "xy")), err(Code::too_large));
  EXPECT_EQ(store.get(b("k")), most) << "state unchanged after too_large";
  EXPECT_EQ(store.apply(0, append_op("k", "x")), ok());
  EXPECT_EQ(store.get(b("k"))->size(), value_size_max);
  EXPECT_EQ(store.apply(0, append_op("k", "")), ok()) << "an empty append at the limit still fits";
  EXPECT_EQ(store.apply(0, append_op("k", "y")), err(Code::too_large));
  EXPECT_EQ(store.get(b("k"))->size(), value_size_max);
}

TEST(KvStore, MaximalResultFitsResultSizeMax) {
  Store store;
  store.apply(0, {OpType::put, Bytes(key_size_max, 'k'), Bytes(value_size_max, 'v')});
  auto results = execute_all(store, {encode_op({OpType::get, Bytes(key_size_max, 'k'), {}})});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].value.size(), value_size_max);
  EXPECT_LE(encode_result(results[0]).size(), constants::result_size_max);
  EXPECT_LE(encode_op({OpType::put, Bytes(key_size_max, 'k'), Bytes(value_size_max, 'v')}).size(),
            constants::operation_size_max);
}

// --- Encoding of operations -------------------------------------------------

TEST(KvCodec, OperationLayoutIsLittleEndianLengthPrefixed) {
  EXPECT_EQ(encode_op(put_op("ab", "xyz")),
            (Bytes{2, 2, 0, 0, 0, 'a', 'b', 3, 0, 0, 0, 'x', 'y', 'z'}));
  EXPECT_EQ(encode_op(get_op("ab")), (Bytes{1, 2, 0, 0, 0, 'a', 'b'})) << "get has no value part";
  EXPECT_EQ(encode_op(del_op("")), (Bytes{3, 0, 0, 0, 0})) << "delete has no value part";
  EXPECT_EQ(encode_op(append_op("k", "")), (Bytes{4, 1, 0, 0, 0, 'k', 0, 0, 0, 0}));
  EXPECT_EQ(encode_op({OpType::get, b("k"), b("ignored")}), encode_op(get_op("k")))
      << "a value on a get is not part of the operation";
}

TEST(KvCodec, NullOperationLayoutEndsWithTheReplySize) {
  EXPECT_EQ(encode_op(null_op(2, 0x0102)),
            (Bytes{5, 0, 0, 0, 0, 2, 0, 0, 0, 7, 7, 0x02, 0x01, 0, 0}));
}

TEST(KvCodec, DecodeRejectsANullOperationAskingForAnOversizedReply) {
  auto decoded = decode_op(encode_op(null_op(0, value_size_max + 1)));
  ASSERT_FALSE(decoded.is_ok());
  EXPECT_NE(decoded.reason().find("reply size"), std::string::npos) << decoded.reason();
}

TEST(KvCodec, EveryOperationRoundTrips) {
  for (const Op& op : {get_op("k"), put_op("k", "v"), del_op("k"), append_op("k", "v"),
                       get_op(""), put_op("", ""), append_op(std::string(1000, 'x'), "y"),
                       null_op(0, 0), null_op(1024, 4096)}) {
    auto decoded = decode_op(encode_op(op));
    ASSERT_TRUE(decoded.is_ok()) << decoded.reason();
    EXPECT_EQ(*decoded, op);
  }
}

TEST(KvCodec, DecodeRejectsEveryTruncation) {
  for (const Op& op : {get_op("key"), put_op("key", "value"), del_op("key"),
                       append_op("key", "value"), null_op(3, 9)}) {
    const Bytes full = encode_op(op);
    for (size_t size = 0; size < full.size(); ++size) {
      auto decoded = decode_op(ByteView(full.data(), size));
      EXPECT_FALSE(decoded.is_ok()) << "prefix of " << size << " bytes of a " << int(op.type);
    }
  }
  EXPECT_NE(decode_op({}).reason().find("empty"), std::string::npos);
}

TEST(KvCodec, DecodeRejectsTrailingBytes) {
  for (const Op& op :
       {get_op("k"), put_op("k", "v"), del_op("k"), append_op("k", "v"), null_op(1, 1)}) {
    Bytes bytes = encode_op(op);
    bytes.push_back(0);
    auto decoded = decode_op(bytes);
    ASSERT_FALSE(decoded.is_ok());
    EXPECT_NE(decoded.reason().find("trailing"), std::string::npos) << decoded.reason();
  }
}

TEST(KvCodec, DecodeRejectsAValuePartOnGetAndDelete) {
  // get/delete carry no value part: bytes after the key are trailing bytes.
  Bytes get_with_value = encode_op(get_op("k"));
  append_u32(get_with_value, 1);
  get_with_value.push_back('v');
  EXPECT_FALSE(decode_op(get_with_value).is_ok());
  Bytes del_with_empty_value = encode_op(del_op("k"));
  append_u32(del_with_empty_value, 0);
  EXPECT_FALSE(decode_op(del_with_empty_value).is_ok());
}

TEST(KvCodec, DecodeRejectsUnknownTypes) {
  for (uint8_t type : {uint8_t{0}, uint8_t{7}, uint8_t{0x80}, uint8_t{0xff}}) {
    Bytes bytes = encode_op(get_op("k"));
    bytes[0] = type;
    auto decoded = decode_op(bytes);
    ASSERT_FALSE(decoded.is_ok());
    EXPECT_NE(decoded.reason().find("unknown operation type"), std::string::npos);
  }
}

TEST(KvCodec, DecodeRejectsLengthsBeyondTheBuffer) {
  Bytes huge_key = {static_cast<uint8_t>(OpType::get)};
  append_u32(huge_key, 0xffffffffu);
  huge_key.push_back('k');
  auto decoded = decode_op(huge_key);
  ASSERT_FALSE(decoded.is_ok());
  EXPECT_NE(decoded.reason().find("exceeds"), std::string::npos) << decoded.reason();

  Bytes long_value = encode_op(put_op("k", "abc"));
  long_value[6] = 4;  // value length 4 with 3 bytes present
  EXPECT_FALSE(decode_op(long_value).is_ok());
}

TEST(KvCodec, DecodeRejectsKeysAndValuesOverTheirLimits) {
  EXPECT_TRUE(decode_op(encode_op({OpType::get, Bytes(key_size_max, 'k'), {}})).is_ok());
  auto key_over = decode_op(encode_op({OpType::get, Bytes(key_size_max + 1, 'k'), {}}));
  ASSERT_FALSE(key_over.is_ok());
  EXPECT_NE(key_over.reason().find("key_size_max"), std::string::npos);

  EXPECT_TRUE(decode_op(encode_op({OpType::put, b("k"), Bytes(value_size_max, 'v')})).is_ok());
  auto value_over = decode_op(encode_op({OpType::append, b("k"), Bytes(value_size_max + 1, 'v')}));
  ASSERT_FALSE(value_over.is_ok());
  EXPECT_NE(value_over.reason().find("value_size_max"), std::string::npos);
}

// --- Encoding of results ------------------------------------------------------

TEST(KvCodec, ResultLayoutAndRoundTrip) {
  EXPECT_EQ(encode_result(ok("ab")), (Bytes{0, 2, 0, 0, 0, 'a', 'b'}));
  EXPECT_EQ(encode_result(err(Code::not_found)), (Bytes{1, 0, 0, 0, 0}));
  for (const OpResult& r : {ok(), ok(std::string("\0x\0", 3)), err(Code::not_found),
                            err(Code::too_large), err(Code::malformed),
                            OpResult{Code::ok, Bytes(value_size_max, 0)}}) {
    auto decoded = decode_result(encode_result(r));
    ASSERT_TRUE(decoded.is_ok()) << decoded.reason();
    EXPECT_EQ(*decoded, r);
  }
}

TEST(KvCodec, DecodeResultRejectsMalformedInput) {
  const Bytes full = encode_result(ok("value"));
  for (size_t size = 0; size < full.size(); ++size) {
    EXPECT_FALSE(decode_result(ByteView(full.data(), size)).is_ok()) << size << " bytes";
  }
  Bytes trailing = full;
  trailing.push_back(0);
  EXPECT_FALSE(decode_result(trailing).is_ok());

  Bytes bad_code = full;
  bad_code[0] = static_cast<uint8_t>(code_max) + 1;
  EXPECT_NE(decode_result(bad_code).reason().find("unknown result code"), std::string::npos);

  Bytes error_with_value = full;
  error_with_value[0] = static_cast<uint8_t>(Code::not_found);
  EXPECT_FALSE(decode_result(error_with_value).is_ok()) << "only ok results carry a value";

  Bytes over_limit = {0};
  append_u32(over_limit, result_value_size_max + 1);
  over_limit.resize(over_limit.size() + result_value_size_max + 1, 'v');
  EXPECT_NE(decode_result(over_limit).reason().find("result_value_size_max"), std::string::npos);
}

TEST(KvCodec, CodeNames) {
  EXPECT_STREQ(code_name(Code::ok), "ok");
  EXPECT_STREQ(code_name(Code::not_found), "not_found");
  EXPECT_STREQ(code_name(Code::too_large), "too_large");
  EXPECT_STREQ(code_name(Code::malformed), "malformed");
  EXPECT_STREQ(code_name(Code::quota), "quota");
  EXPECT_STREQ(code_name(Code::full), "full");
  EXPECT_STREQ(code_name(static_cast<Code>(9)), "unknown");
}

// --- limits: the store's total and each client's share (Limits) --------------

// What a key costs against the limits: its bytes and the fixed overhead.
uint64_t charge_of(size_t key_size, size_t value_size) {
  return Limits::entry_overhead + key_size + value_size;
}

TEST(KvLimits, AClientIsChargedForTheKeysItWrote) {
  Store store;
  EXPECT_EQ(store.apply(1, put_op("k", "vvv")), ok());
  EXPECT_EQ(store.client_bytes(1), charge_of(1, 3));
  EXPECT_EQ(store.bytes(), charge_of(1, 3));
  EXPECT_EQ(store.apply(1, append_op("k", "ww")), ok());
  EXPECT_EQ(store.client_bytes(1), charge_of(1, 5));
  // The last writer owns the key: client 2 takes the charge over.
  EXPECT_EQ(store.apply(2, put_op("k", "x")), ok());
  EXPECT_EQ(store.client_bytes(1), 0u);
  EXPECT_EQ(store.client_bytes(2), charge_of(1, 1));
  // A delete, by anyone, releases the owner's charge.
  EXPECT_EQ(store.apply(3, del_op("k")), ok());
  EXPECT_EQ(store.client_bytes(2), 0u);
  EXPECT_EQ(store.bytes(), 0u);
}

// One client cannot take the whole store: its writes stop at its quota,
// with a result that says so, and change nothing; other clients go on.
TEST(KvLimits, AClientOverItsQuotaIsRefusedAndOthersGoOn) {
  Limits limits;
  limits.client_bytes_max = 10 * charge_of(2, 100);
  limits.bytes_max = 100 * charge_of(2, 100);
  Store store(Store::default_partitions, limits);
  const Bytes value(100, 'v');
  for (int i = 0; i < 10; i++) {
    ASSERT_EQ(store.apply(1, {OpType::put, b("k" + std::to_string(i)), value}), ok()) << i;
  }
  EXPECT_EQ(store.apply(1, {OpType::put, b("kA"), value}), err(Code::quota));
  EXPECT_EQ(store.apply(1, append_op("k0", "x")), err(Code::quota));
  EXPECT_EQ(store.get(b("kA")), std::nullopt) << "a refused write changes nothing";
  EXPECT_EQ(store.get(b("k0")), value);
  EXPECT_EQ(store.client_bytes(1), limits.client_bytes_max);
  // What does not grow its share still goes through: an overwrite of the
  // same size, a smaller value, a delete.
  EXPECT_EQ(store.apply(1, {OpType::put, b("k1"), Bytes(100, 'w')}), ok());
  EXPECT_EQ(store.apply(1, put_op("k2", "small")), ok());
  EXPECT_EQ(store.apply(1, del_op("k3")), ok());
  EXPECT_EQ(store.apply(2, {OpType::put, b("kB"), value}), ok()) << "another client has its own";
  // Taking over another client's key counts against the new owner's quota.
  EXPECT_EQ(store.apply(1, {OpType::put, b("kB"), Bytes(100, 'z')}), ok()) << "room freed above";
  EXPECT_EQ(store.apply(1, {OpType::put, b("kC"), value}), err(Code::quota));
}

// Many clients together cannot take more than the store's total: a write
// past it is refused as full, for everyone, until something is deleted.
TEST(KvLimits, TheStoreIsFullAtItsTotal) {
  Limits limits;
  limits.bytes_max = 3 * charge_of(2, 10);
  Store store(Store::default_partitions, limits);
  for (ClientId c = 0; c < 3; c++) {
    ASSERT_EQ(store.apply(c, {OpType::put, b("k" + std::to_string(c)), Bytes(10, 'v')}), ok());
  }
  EXPECT_EQ(store.apply(7, {OpType::put, b("k7"), Bytes(10, 'v')}), err(Code::full));
  EXPECT_EQ(store.apply(7, get_op("k0")), ok(std::string(10, 'v'))) << "reads go on";
  EXPECT_EQ(store.apply(7, del_op("k0")), ok());
  EXPECT_EQ(store.apply(7, {OpType::put, b("k7"), Bytes(10, 'v')}), ok());
  EXPECT_EQ(store.bytes(), limits.bytes_max);
}

// The charges are part of the replicated state (the owners are in the
// buckets): a replica that installs a bucket by state transfer charges the
// same clients as the replica that executed the writes.
TEST(KvLimits, ChargesFollowInstalledBuckets) {
  Store source;
  Store target;
  for (int i = 0; i < 200; i++) {
    source.apply(static_cast<ClientId>(i % 3), {OpType::put, b("k" + std::to_string(i)), Bytes(i, 'v')});
  }
  for (int i = 0; i < 50; i++) target.apply(9, put_op("other" + std::to_string(i), "x"));
  for (uint64_t p = 0; p < source.partition_count(); p++) {
    ASSERT_TRUE(target.install_partition(p, source.read_partition(std::nullopt, p)).is_ok());
  }
  EXPECT_EQ(target.bytes(), source.bytes());
  for (ClientId c : {0u, 1u, 2u, 9u}) EXPECT_EQ(target.client_bytes(c), source.client_bytes(c)) << c;
}

// --- execute(): the Service contract (service.h) -----------------------------

TEST(KvExecute, OneResultPerOperationInOrder) {
  Store store;
  auto results = execute_all(store, {encode_op(put_op("k", "1")), encode_op(append_op("k", "2")),
                                     encode_op(get_op("k")), encode_op(del_op("k")),
                                     encode_op(get_op("k"))});
  EXPECT_EQ(results, (std::vector<OpResult>{ok(), ok(), ok("12"), ok(), err(Code::not_found)}));
}

TEST(KvExecute, MalformedOperationsGetAMalformedResultAndChangeNothing) {
  Store store;
  Bytes truncated = encode_op(put_op("k", "v"));
  truncated.pop_back();
  Bytes trailing = encode_op(put_op("k", "v"));
  trailing.push_back(0);
  Bytes bad_type = encode_op(put_op("k", "v"));
  bad_type[0] = 0;
  auto results = execute_all(store, {Bytes{}, truncated, trailing, bad_type,
                                     encode_op(get_op("k"))});
  EXPECT_EQ(results, (std::vector<OpResult>{err(Code::malformed), err(Code::malformed),
                                            err(Code::malformed), err(Code::malformed),
                                            err(Code::not_found)}));
  EXPECT_EQ(store.size(), 0u);
}

TEST(KvExecute, WellFormedButOverLimitIsTooLargeNotMalformed) {
  Store store;
  auto results = execute_all(store, {encode_op({OpType::put, Bytes(key_size_max + 1, 'k'), b("v")}),
                                     encode_op({OpType::put, b("k"), Bytes(value_size_max + 1, 'v')}),
                                     encode_op({OpType::put, b("k"), Bytes(value_size_max, 'v')}),
                                     encode_op(append_op("k", "!")),
                                     encode_op(null_op(0, value_size_max + 1))});
  EXPECT_EQ(results, (std::vector<OpResult>{err(Code::too_large), err(Code::too_large), ok(),
                                            err(Code::too_large), err(Code::too_large)}));
  EXPECT_EQ(store.get(b("k")), Bytes(value_size_max, 'v'));
}

TEST(KvExecute, ResultsAreAppendedToWhatTheCallerPassed) {
  Store store;
  std::vector<Bytes> results;
  const Bytes op = encode_op(put_op("k", "v"));
  const std::vector<Operation> batch = {{ClientId(7), Timestamp(1), op}};
  store.execute(Seq(1), batch, results);
  store.execute(Seq(2), batch, results);
  EXPECT_EQ(results.size(), 2u);
}

// Determinism (service.h): two stores fed the same operations, in batches cut
// differently, return identical results and end in the same state.
TEST(KvExecute, DeterministicAcrossStoresAndBatchBoundaries) {
  std::mt19937_64 rng(20240611);
  std::vector<Bytes> ops;
  const std::vector<std::string> keys = {"a", "b", std::string("\0c", 2), "d"};
  for (int i = 0; i < 4000; ++i) {
    const std::string& key = keys[rng() % keys.size()];
    std::string value(rng() % 5, static_cast<char>('a' + rng() % 26));
    switch (rng() % 6) {
      case 0: ops.push_back(encode_op(get_op(key))); break;
      case 1: ops.push_back(encode_op(put_op(key, value))); break;
      case 2: ops.push_back(encode_op(del_op(key))); break;
      case 3: ops.push_back(encode_op(append_op(key, value))); break;
      case 4: {  // garbage
        Bytes junk(rng() % 12);
        for (auto& byte : junk) byte = static_cast<uint8_t>(rng());
        ops.push_back(junk);
        break;
      }
      default: ops.push_back(encode_op(get_op(key))); break;
    }
  }
  Store one_batch;
  const std::vector<OpResult> first = execute_all(one_batch, ops);

  Store many_batches;
  std::vector<OpResult> second;
  for (size_t begin = 0; begin < ops.size();) {
    const size_t end = std::min(ops.size(), begin + 1 + rng() % 50);
    auto part = execute_all(many_batches, std::vector<Bytes>(ops.begin() + begin, ops.begin() + end));
    second.insert(second.end(), part.begin(), part.end());
    begin = end;
  }
  EXPECT_EQ(first, second);
  EXPECT_EQ(one_batch.size(), many_batches.size());
  for (const std::string& key : keys) EXPECT_EQ(one_batch.get(b(key)), many_batches.get(b(key)));

  // And execute() agrees with decode_op + apply, the sequential specification.
  Store by_apply;
  for (size_t i = 0; i < ops.size(); ++i) {
    auto op = decode_op(ops[i]);
    const OpResult expected = op ? by_apply.apply(0, *op) : err(Code::malformed);
    EXPECT_EQ(first[i], expected) << "operation " << i;
  }
}

}  // namespace
}  // namespace pbft::kv
