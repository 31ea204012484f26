// The replicated key-value service: get, put, delete and append on
// binary-safe keys and values. Operations and results have a small binary
// encoding that clients build with encode_op and read with decode_result.
#pragma once

#include <array>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "pbft/constants.h"
#include "pbft/partitioned_state.h"
#include "pbft/service.h"
#include "pbft/status.h"

namespace pbft::kv {

constexpr size_t key_size_max = 1024;
constexpr size_t value_size_max = 60 * 1024;  // an op with key and value fits operation_size_max

// null is the benchmark's null operation (the papers' 0/0, 0/4, 4/0): it
// carries an argument (in value, up to value_size_max), changes nothing, and
// returns ok with a result of reply_size zero bytes (up to value_size_max). It is not part of the history model
// (history.h): `pbft bench` uses it to measure the protocol, not the store.
//
// commands carries Redis commands (the RESP gateway; docs/design.md, "The
// RESP gateway"), run in order in one step with Redis's semantics. Its
// result's value is the count of commands run (u32) and their replies in
// RESP2, one after another: the commands run while their replies fit
// commands_reply_bytes_max, so a request whose replies would not fit runs a
// prefix (at least one command) and the client sends the rest again.
enum class OpType : uint8_t { get = 1, put = 2, del = 3, append = 4, null = 5, commands = 6 };

// A Redis command: its name, then its arguments.
using Command = std::vector<Bytes>;
constexpr size_t commands_per_op_max = 1024;
// Whether the store runs the Redis command `name` (lower case); the others
// are answered "unknown command" by the store, or by a gateway before.
bool runs_command(std::string_view name);

struct Op {
  OpType type = OpType::get;
  Bytes key;
  Bytes value;              // put, append and null only
  uint32_t reply_size = 0;  // null only
  std::vector<Command> commands{};  // commands only
  friend bool operator==(const Op&, const Op&) = default;
};

// Encoding of an operation: type u8 | key length u32 | key | value length u32 | value
// (no value part for get and delete), then for null only: reply size u32.
// commands: type u8 | count u32 | per command: argument count u32 | per
// argument: length u32 | bytes (count 1..commands_per_op_max, each command
// with at least its name).
Bytes encode_op(const Op& op);
Result<Op> decode_op(ByteView bytes);

enum class Code : uint8_t {
  ok = 0,
  not_found = 1,  // get of an absent key
  too_large = 2,  // key, value, the value an append would produce, or the key's bucket
                  // (constants::partition_size_max) would be over its limit
  malformed = 3,  // the operation could not be decoded
  quota = 4,      // the client's keys would take more than Limits::client_bytes_max
  full = 5,       // the store would take more than Limits::bytes_max
};
constexpr Code code_max = Code::full;

struct OpResult {
  Code code = Code::ok;
  Bytes value;  // the value for a successful get; empty otherwise
  friend bool operator==(const OpResult&, const OpResult&) = default;
};

// The largest value of a result (a get's value, or commands' count and replies).
constexpr size_t result_value_size_max = constants::result_size_max - 5;
constexpr size_t commands_reply_bytes_max = result_value_size_max - 4;

// Encoding of a result: code u8 | value length u32 | value.
Bytes encode_result(const OpResult& r);
Result<OpResult> decode_result(ByteView bytes);
const char* code_name(Code c);

// How much the store holds at most. A key's charge is its key and value
// bytes plus entry_overhead (what a key costs in memory beyond its bytes),
// so that a million empty keys are not free. Every key belongs to the
// client that last wrote it (put or append); its charge counts against
// that client's client_bytes_max and against bytes_max for everyone. A
// write that would go over either is refused (quota, full) and changes
// nothing; a delete or a smaller value always goes through. Every replica
// must use the same limits: they decide results.
struct Limits {
  static constexpr uint64_t entry_overhead = 64;
  uint64_t bytes_max = uint64_t{4} << 30;          // 4 GiB
  uint64_t client_bytes_max = uint64_t{256} << 20;  // 256 MiB
};

// The key of the bucket hash (SipHash-2-4). With a key that clients do not
// know, a client cannot choose keys that fall into one bucket and fill it
// (each bucket is limited to constants::partition_size_max so that state
// transfer can move it), which would refuse every write of other clients
// to that bucket. All zeros: a fixed public hash (tests, the simulator).
using BucketKey = std::array<uint8_t, 16>;

// The store. Deterministic: results and state depend only on the sequence
// of operations (and the limits and bucket key it was made with). delete of
// an absent key is ok; append to an absent key creates it.
//
// Keys are hashed into a fixed number of buckets (the service's partitions,
// see service.h), grouped into copy-on-write pages by PartitionedState: a
// checkpoint rehashes only the buckets that changed, and state transfer
// moves only the buckets that differ. A bucket's encoding is: count u32,
// then per key in order: key length u32, key, owner (client id) u32, value
// length u32, value.
class Store final : public Service {
 public:
  static constexpr uint64_t default_partitions = 4096;
  // partitions must be at least 1 and the same at every replica; so must
  // the limits and the bucket key.
  explicit Store(uint64_t partitions = default_partitions, Limits limits = {},
                 const BucketKey& bucket_key = {});

  void execute(Seq seq, std::span<const Operation> operations,
               std::vector<Bytes>& results) override;

  uint64_t partition_count() const override { return state_.partition_count(); }
  void take_dirty_partitions(std::vector<uint64_t>& out) override { state_.take_dirty(out); }
  void snapshot(Seq name) override { state_.snapshot(name); }
  void release_snapshots_below(Seq name) override { state_.release_below(name); }
  Bytes read_partition(std::optional<Seq> name, uint64_t index) const override;
  Status install_partition(uint64_t index, ByteView bytes) override;

  // Applies one operation of `client`: the sequential specification. (The
  // linearizability checker has its own model of it, cross-checked against
  // this one by its tests; the limits are not modelled: a refused write is
  // a failed operation.)
  OpResult apply(ClientId client, const Op& op);

  std::optional<Bytes> get(const Bytes& key) const;
  size_t size() const { return size_; }
  // What the keys are charged (Limits), in all and for one client.
  uint64_t bytes() const { return bytes_; }
  uint64_t client_bytes(ClientId client) const;

  // The bucket a key belongs to: SipHash-2-4 under the store's bucket key,
  // the same on every platform.
  uint64_t partition_of(ByteView key) const;
  static uint64_t partition_of(ByteView key, uint64_t partitions, const BucketKey& bucket_key = {});

 private:
  struct Entry {
    ClientId owner = 0;  // the client that last wrote it, charged for it
    Bytes value;
  };
  using Bucket = std::map<Bytes, Entry>;
  const Bucket& bucket(const Bytes& key) const { return state_.get(partition_of(key)); }

  // A bucket's encoded size with one entry more or less.
  static uint64_t entry_size(size_t key_size, size_t value_size) {
    return 12 + key_size + value_size;
  }
  static uint64_t charge(size_t key_size, size_t value_size) {
    return Limits::entry_overhead + key_size + value_size;
  }
  // A write of `client` that charges it new_charge for a key whose current
  // entry (if any) charges old_charge to old_owner: quota or full if it
  // would take the client or the store over its limit. A write that does
  // not grow a count is never refused by it.
  std::optional<Code> over_limits(ClientId client, uint64_t new_charge,
                                  const Entry* old_entry, size_t key_size) const;
  // The value of key, or null.
  const Bytes* value_of(const Bytes& key) const;
  // Makes key's value one of new_size bytes written by client: checks every
  // limit (the key, the value, the bucket: too_large; quota; full), then
  // moves the charges and returns the value for the caller to fill. Refused:
  // null, the reason in `refused`, and nothing changed.
  Bytes* write(ClientId client, const Bytes& key, size_t new_size, Code& refused);
  // Removes key (false if it was absent).
  bool erase(const Bytes& key);
  // Sets key back to what it was (absent: nullopt), moving the charges
  // without checking limits: undoes a write of a command that failed.
  void restore(const Bytes& key, const std::optional<Entry>& old);
  // OpType::commands (commands.cpp).
  OpResult run_commands(ClientId client, const std::vector<Command>& commands);
  friend class CommandRun;
  // Adds or removes the charge of an entry of `owner` with these sizes.
  void charge_to(ClientId owner, size_t key_size, size_t value_size);
  void release_from(ClientId owner, size_t key_size, size_t value_size);

  PartitionedState<Bucket> state_;
  Limits limits_;
  BucketKey bucket_key_;
  size_t size_ = 0;  // keys in the current state
  // Each bucket's encoded size in the current state: a write that would take
  // it over constants::partition_size_max is refused (too_large), so every
  // bucket can be moved by state transfer.
  std::vector<uint64_t> bucket_bytes_;
  // Charges (Limits) in the current state: derived from the buckets (their
  // owners), so a bucket installed by state transfer updates them.
  uint64_t bytes_ = 0;
  std::unordered_map<ClientId, uint64_t> client_bytes_;
};

}  // namespace pbft::kv
