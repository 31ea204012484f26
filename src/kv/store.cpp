// The key-value service: the encoding of operations and results, and the
// store that executes committed batches. Everything here is deterministic and
// free of I/O: every replica that executes the same batches in the same order
// holds the same map and returns the same results.

#include <limits>

#include <sodium.h>
#include <string>
#include <utility>

#include "pbft/assert.h"
#include "pbft/constants.h"
#include "pbft/kv.h"

namespace pbft::kv {
namespace {

constexpr size_t type_size = 1;
constexpr size_t code_size = 1;
constexpr size_t length_size = 4;

// The largest operation a client can usefully send and the largest result the
// store can produce. The replica limits what reaches execute() to
// operation_size_max and promises clients results of at most result_size_max,
// so both encodings must fit.
constexpr size_t op_encoded_size_max =
    type_size + length_size + key_size_max + length_size + value_size_max;
constexpr size_t result_encoded_size_max = code_size + length_size + value_size_max;
static_assert(op_encoded_size_max <= constants::operation_size_max,
              "a put of a maximal key and value must fit in one request");
static_assert(result_encoded_size_max <= constants::result_size_max,
              "a get of a maximal value must fit in one reply");

bool is_valid_type(uint8_t type) {
  return type >= static_cast<uint8_t>(OpType::get) && type <= static_cast<uint8_t>(OpType::commands);
}

bool has_value_part(OpType type) {
  return type == OpType::put || type == OpType::append || type == OpType::null;
}

void put_u32(Bytes& out, size_t value) {
  PBFT_ASSERT(value <= std::numeric_limits<uint32_t>::max());
  for (int shift = 0; shift < 32; shift += 8) out.push_back(static_cast<uint8_t>(value >> shift));
}

void put_bytes(Bytes& out, const Bytes& bytes) {
  put_u32(out, bytes.size());
  out.insert(out.end(), bytes.begin(), bytes.end());
}

// A cursor over untrusted bytes. Every read checks what is left first, so no
// length taken from the input can make it read past the end.
class Reader {
 public:
  explicit Reader(ByteView bytes) : bytes_(bytes) {}

  size_t remaining() const { return bytes_.size() - offset_; }

  bool read_u8(uint8_t& value) {
    if (remaining() < 1) return false;
    value = bytes_[offset_++];
    return true;
  }

  bool read_u32(uint32_t& value) {
    if (remaining() < length_size) return false;
    value = 0;
    for (size_t i = 0; i < length_size; ++i) {
      value |= static_cast<uint32_t>(bytes_[offset_ + i]) << (8 * i);
    }
    offset_ += length_size;
    return true;
  }

  // The next `size` bytes, which the caller has checked are there.
  ByteView take(size_t size) {
    PBFT_ASSERT(size <= remaining());
    ByteView view = bytes_.subspan(offset_, size);
    offset_ += size;
    return view;
  }

 private:
  ByteView bytes_;
  size_t offset_ = 0;
};

// Reads a u32 length and that many bytes. `what` names the field in reasons.
Result<ByteView> read_length_prefixed(Reader& reader, const char* what) {
  uint32_t size = 0;
  if (!reader.read_u32(size)) {
    return Status::error(std::string("truncated: no room for the ") + what + " length");
  }
  if (size > reader.remaining()) {
    return Status::error(std::string(what) + " length " + std::to_string(size) + " exceeds the " +
                         std::to_string(reader.remaining()) + " bytes left");
  }
  return reader.take(size);
}

// An operation whose framing is valid; key and value point into the input.
struct OpView {
  OpType type;
  ByteView key;
  ByteView value;
  uint32_t reply_size = 0;
  std::vector<std::vector<ByteView>> commands;
};

// The commands of a commands operation (kv.h), after its type byte.
Status decode_commands(Reader& reader, OpView& op) {
  uint32_t count = 0;
  if (!reader.read_u32(count)) return Status::error("truncated: no room for the command count");
  if (count == 0 || count > commands_per_op_max) {
    return Status::error("command count " + std::to_string(count) + " is not in 1.." +
                         std::to_string(commands_per_op_max));
  }
  op.commands.resize(count);
  for (std::vector<ByteView>& command : op.commands) {
    uint32_t argc = 0;
    if (!reader.read_u32(argc)) return Status::error("truncated: no room for an argument count");
    // Each argument takes at least its length: a count the bytes left
    // cannot hold is refused before anything of its size is made.
    if (argc == 0 || argc > reader.remaining() / length_size) {
      return Status::error("argument count " + std::to_string(argc) + " is 0 or over what is left");
    }
    command.reserve(argc);
    for (uint32_t i = 0; i < argc; i++) {
      auto arg = read_length_prefixed(reader, "argument");
      if (!arg) return arg.status();
      command.push_back(*arg);
    }
  }
  return Status::ok();
}

// Checks the framing only: type, lengths against the buffer, no trailing
// bytes. Limits are checked apart, so that execute() can tell a malformed
// operation from a well-formed one that is too large.
Result<OpView> decode_framing(ByteView bytes) {
  Reader reader(bytes);
  uint8_t type = 0;
  if (!reader.read_u8(type)) return Status::error("truncated: empty operation");
  if (!is_valid_type(type)) return Status::error("unknown operation type " + std::to_string(type));
  OpView op{static_cast<OpType>(type), {}, {}, 0, {}};
  if (op.type == OpType::commands) {
    if (Status commands = decode_commands(reader, op); !commands) return commands;
    if (reader.remaining() != 0) {
      return Status::error(std::to_string(reader.remaining()) + " trailing bytes after the commands");
    }
    return op;
  }
  auto key = read_length_prefixed(reader, "key");
  if (!key) return key.status();
  op.key = *key;
  if (has_value_part(op.type)) {
    auto value = read_length_prefixed(reader, "value");
    if (!value) return value.status();
    op.value = *value;
  }
  if (op.type == OpType::null && !reader.read_u32(op.reply_size)) {
    return Status::error("truncated: no room for the reply size");
  }
  if (reader.remaining() != 0) {
    return Status::error(std::to_string(reader.remaining()) + " trailing bytes after the operation");
  }
  return op;
}

Status check_limits(size_t key_size, size_t value_size) {
  if (key_size > key_size_max) {
    return Status::error("key of " + std::to_string(key_size) + " bytes is over key_size_max (" +
                         std::to_string(key_size_max) + ")");
  }
  if (value_size > value_size_max) {
    return Status::error("value of " + std::to_string(value_size) +
                         " bytes is over value_size_max (" + std::to_string(value_size_max) + ")");
  }
  return Status::ok();
}

Op to_op(const OpView& view) {
  Op op{view.type, Bytes(view.key.begin(), view.key.end()),
        Bytes(view.value.begin(), view.value.end()), view.reply_size, {}};
  op.commands.reserve(view.commands.size());
  for (const std::vector<ByteView>& command : view.commands) {
    Command& c = op.commands.emplace_back();
    c.reserve(command.size());
    for (ByteView arg : command) c.emplace_back(arg.begin(), arg.end());
  }
  return op;
}

}  // namespace

Bytes encode_op(const Op& op) {
  PBFT_ASSERT(is_valid_type(static_cast<uint8_t>(op.type)));
  // get and delete have no value part on the wire; a value set on such an Op
  // is not part of the operation and is not encoded.
  const bool with_value = has_value_part(op.type);
  Bytes out;
  if (op.type == OpType::commands) {
    PBFT_ASSERT(!op.commands.empty() && op.commands.size() <= commands_per_op_max);
    out.push_back(static_cast<uint8_t>(op.type));
    put_u32(out, op.commands.size());
    for (const Command& command : op.commands) {
      PBFT_ASSERT(!command.empty());
      put_u32(out, command.size());
      for (const Bytes& arg : command) put_bytes(out, arg);
    }
    return out;
  }
  const bool null = op.type == OpType::null;
  out.reserve(type_size + length_size + op.key.size() +
              (with_value ? length_size + op.value.size() : 0) + (null ? length_size : 0));
  out.push_back(static_cast<uint8_t>(op.type));
  put_bytes(out, op.key);
  if (with_value) put_bytes(out, op.value);
  if (null) put_u32(out, op.reply_size);
  return out;
}

Result<Op> decode_op(ByteView bytes) {
  auto framing = decode_framing(bytes);
  if (!framing) return framing.status();
  if (Status limits = check_limits(framing->key.size(), framing->value.size()); !limits) {
    return limits;
  }
  if (framing->reply_size > value_size_max) {
    return Status::error("reply size " + std::to_string(framing->reply_size) +
                         " is over value_size_max (" + std::to_string(value_size_max) + ")");
  }
  return to_op(*framing);
}

Bytes encode_result(const OpResult& r) {
  // Only a successful get (a value of at most value_size_max) and commands
  // (their replies within commands_reply_bytes_max) carry a value, so every
  // result fits result_size_max.
  PBFT_ASSERT(r.value.size() <= result_value_size_max);
  Bytes out;
  out.reserve(code_size + length_size + r.value.size());
  out.push_back(static_cast<uint8_t>(r.code));
  put_bytes(out, r.value);
  return out;
}

Result<OpResult> decode_result(ByteView bytes) {
  Reader reader(bytes);
  uint8_t code = 0;
  if (!reader.read_u8(code)) return Status::error("truncated: empty result");
  if (code > static_cast<uint8_t>(code_max)) {
    return Status::error("unknown result code " + std::to_string(code));
  }
  auto value = read_length_prefixed(reader, "value");
  if (!value) return value.status();
  if (value->size() > result_value_size_max) {
    return Status::error("value of " + std::to_string(value->size()) +
                         " bytes is over result_value_size_max (" +
                         std::to_string(result_value_size_max) + ")");
  }
  if (reader.remaining() != 0) {
    return Status::error(std::to_string(reader.remaining()) + " trailing bytes after the result");
  }
  OpResult result{static_cast<Code>(code), Bytes(value->begin(), value->end())};
  // Only ok results carry values (a get's, commands'); anything else is not a result
  // the store produces, whoever sent it.
  if (result.code != Code::ok && !result.value.empty()) {
    return Status::error(std::string("a ") + code_name(result.code) + " result carries no value");
  }
  return result;
}

const char* code_name(Code c) {
  switch (c) {
    case Code::ok: return "ok";
    case Code::not_found: return "not_found";
    case Code::too_large: return "too_large";
    case Code::malformed: return "malformed";
    case Code::quota: return "quota";
    case Code::full: return "full";
  }
  return "unknown";
}

void Store::execute(Seq /*seq: results do not depend on it*/, std::span<const Operation> operations,
                    std::vector<Bytes>& results) {
  results.reserve(results.size() + operations.size());
  for (const Operation& operation : operations) {
    // A client may send any bytes; an operation that does not decode gets a
    // malformed result, so every replica answers it the same way and the
    // batch still yields exactly one result per request. Limits are
    // enforced by apply(), which answers too_large, quota or full.
    auto framing = decode_framing(operation.operation);
    OpResult result =
        framing ? apply(operation.client, to_op(*framing)) : OpResult{Code::malformed, {}};
    results.push_back(encode_result(result));
    PBFT_ASSERT(results.back().size() <= constants::result_size_max);
  }
}

Store::Store(uint64_t partitions, Limits limits, const BucketKey& bucket_key)
    : state_(partitions), limits_(limits), bucket_key_(bucket_key), bucket_bytes_(partitions, 4) {
  // crypto_shorthash needs no initialisation, but sodium_init makes the
  // library pick its implementations once, before any thread uses it.
  PBFT_ASSERT(sodium_init() >= 0);
}

uint64_t Store::partition_of(ByteView key, uint64_t partitions, const BucketKey& bucket_key) {
  static_assert(crypto_shorthash_KEYBYTES == std::tuple_size_v<BucketKey>);
  std::array<uint8_t, crypto_shorthash_BYTES> out{};
  crypto_shorthash(out.data(), key.data(), key.size(), bucket_key.data());
  uint64_t h = 0;
  for (size_t i = 0; i < out.size(); i++) h |= static_cast<uint64_t>(out[i]) << (8 * i);
  return h % partitions;
}

uint64_t Store::partition_of(ByteView key) const {
  return partition_of(key, state_.partition_count(), bucket_key_);
}

uint64_t Store::client_bytes(ClientId client) const {
  auto it = client_bytes_.find(client);
  return it == client_bytes_.end() ? 0 : it->second;
}

std::optional<Code> Store::over_limits(ClientId client, uint64_t new_charge,
                                       const Entry* old_entry, size_t key_size) const {
  const uint64_t old_charge = old_entry == nullptr ? 0 : charge(key_size, old_entry->value.size());
  const uint64_t mine = client_bytes(client);
  const uint64_t released_mine = old_entry != nullptr && old_entry->owner == client ? old_charge : 0;
  const uint64_t mine_after = mine - released_mine + new_charge;
  if (mine_after > mine && mine_after > limits_.client_bytes_max) return Code::quota;
  const uint64_t total_after = bytes_ - old_charge + new_charge;
  if (total_after > bytes_ && total_after > limits_.bytes_max) return Code::full;
  return std::nullopt;
}

void Store::charge_to(ClientId owner, size_t key_size, size_t value_size) {
  const uint64_t c = charge(key_size, value_size);
  client_bytes_[owner] += c;
  bytes_ += c;
}

void Store::release_from(ClientId owner, size_t key_size, size_t value_size) {
  const uint64_t c = charge(key_size, value_size);
  auto it = client_bytes_.find(owner);
  PBFT_ASSERT(it != client_bytes_.end() && it->second >= c && bytes_ >= c);
  it->second -= c;
  if (it->second == 0) client_bytes_.erase(it);
  bytes_ -= c;
}

OpResult Store::apply(ClientId client, const Op& op) {
  if (op.key.size() > key_size_max) return {Code::too_large, {}};
  switch (op.type) {
    case OpType::get: {
      const Bytes* value = value_of(op.key);
      if (value == nullptr) return {Code::not_found, {}};
      return {Code::ok, *value};
    }
    case OpType::put:
    case OpType::append: {
      const Bytes* old = value_of(op.key);
      const size_t old_size = old == nullptr ? 0 : old->size();
      if (op.type == OpType::append && op.value.size() > value_size_max - old_size) {
        return {Code::too_large, {}};
      }
      const size_t new_size = op.type == OpType::append ? old_size + op.value.size() : op.value.size();
      Code refused = Code::ok;
      Bytes* value = write(client, op.key, new_size, refused);
      if (value == nullptr) return {refused, {}};
      if (op.type == OpType::put) {
        *value = op.value;
      } else {
        value->insert(value->end(), op.value.begin(), op.value.end());
      }
      return {Code::ok, {}};
    }
    case OpType::del:
      // Deleting an absent key is not an error: the postcondition (the key
      // is absent) holds, and a retried delete must give the same answer.
      erase(op.key);
      return {Code::ok, {}};
    case OpType::commands:
      return run_commands(client, op.commands);
    case OpType::null:
      // No state is read or written: the result's size is the client's
      // choice, within the limit every result keeps.
      if (op.value.size() > value_size_max || op.reply_size > value_size_max) {
        return {Code::too_large, {}};
      }
      return {Code::ok, Bytes(op.reply_size, 0)};
  }
  // Only an Op built in memory with a value outside the enum gets here:
  // decode_op never produces one.
  return {Code::malformed, {}};
}

namespace {

Bytes* refuse(Code& refused, Code why) {
  refused = why;
  return nullptr;
}

}  // namespace

const Bytes* Store::value_of(const Bytes& key) const {
  const Bucket& b = bucket(key);
  auto it = b.find(key);
  return it == b.end() ? nullptr : &it->second.value;
}

Bytes* Store::write(ClientId client, const Bytes& key, size_t new_size, Code& refused) {
  // Every check comes before any change: a refused write leaves the state
  // as it was.
  if (key.size() > key_size_max || new_size > value_size_max) return refuse(refused, Code::too_large);
  const uint64_t index = partition_of(key);
  const Bucket& b = state_.get(index);
  auto found = b.find(key);
  const Entry* old = found == b.end() ? nullptr : &found->second;
  const size_t old_size = old == nullptr ? 0 : old->value.size();
  const uint64_t new_bytes = bucket_bytes_[index] -
                             (old == nullptr ? 0 : entry_size(key.size(), old_size)) +
                             entry_size(key.size(), new_size);
  if (new_bytes > bucket_bytes_[index] && new_bytes > constants::partition_size_max) {
    return refuse(refused, Code::too_large);
  }
  if (auto over = over_limits(client, charge(key.size(), new_size), old, key.size())) {
    return refuse(refused, *over);
  }
  if (old != nullptr) release_from(old->owner, key.size(), old_size);
  charge_to(client, key.size(), new_size);
  bucket_bytes_[index] = new_bytes;
  // `old` points into the bucket, which mutate() may copy: not used from
  // here on.
  Bucket& m = state_.mutate(index);
  auto [it, inserted] = m.try_emplace(key);
  if (inserted) size_++;
  it->second.owner = client;
  return &it->second.value;
}

void Store::restore(const Bytes& key, const std::optional<Entry>& old) {
  const uint64_t index = partition_of(key);
  auto found = state_.get(index).find(key);
  if (found != state_.get(index).end()) {
    bucket_bytes_[index] -= entry_size(key.size(), found->second.value.size());
    release_from(found->second.owner, key.size(), found->second.value.size());
    if (!old) {
      state_.mutate(index).erase(key);
      size_--;
      return;
    }
  } else if (!old) {
    return;
  } else {
    size_++;
  }
  bucket_bytes_[index] += entry_size(key.size(), old->value.size());
  charge_to(old->owner, key.size(), old->value.size());
  state_.mutate(index).insert_or_assign(key, *old);
}

bool Store::erase(const Bytes& key) {
  // An absent key leaves the bucket untouched (not even marked dirty). Any
  // client may delete any key (the store has no access control); the
  // owner's charge goes with it.
  const uint64_t index = partition_of(key);
  auto found = state_.get(index).find(key);
  if (found == state_.get(index).end()) return false;
  bucket_bytes_[index] -= entry_size(key.size(), found->second.value.size());
  release_from(found->second.owner, key.size(), found->second.value.size());
  state_.mutate(index).erase(key);
  size_--;
  return true;
}

std::optional<Bytes> Store::get(const Bytes& key) const {
  const Bytes* value = value_of(key);
  if (value == nullptr) return std::nullopt;
  return *value;
}

Bytes Store::read_partition(std::optional<Seq> name, uint64_t index) const {
  const Bucket& b = name ? state_.get(*name, index) : state_.get(index);
  Bytes out;
  put_u32(out, b.size());
  for (const auto& [key, entry] : b) {
    put_bytes(out, key);
    put_u32(out, entry.owner);
    put_bytes(out, entry.value);
  }
  return out;
}

// Decodes a bucket from state transfer. The bytes matched the proven digest,
// so they come from correct replicas; they are checked all the same (keys
// in order, in this bucket, within the limits), and nothing changes unless
// all of it is good.
Status Store::install_partition(uint64_t index, ByteView bytes) {
  if (index >= state_.partition_count()) return Status::error("bucket index out of range");
  Reader reader(bytes);
  uint32_t count = 0;
  if (!reader.read_u32(count)) return Status::error("bucket: truncated count");
  if (count > reader.remaining() / (3 * length_size)) return Status::error("bucket: count too large");
  Bucket bucket_value;
  for (uint32_t i = 0; i < count; i++) {
    auto key = read_length_prefixed(reader, "key");
    if (!key) return key.status();
    uint32_t owner = 0;
    if (!reader.read_u32(owner)) return Status::error("bucket: truncated owner");
    if (owner >= constants::clients_max) return Status::error("bucket: owner out of range");
    auto value = read_length_prefixed(reader, "value");
    if (!value) return value.status();
    if (key->size() > key_size_max || value->size() > value_size_max) {
      return Status::error("bucket: key or value over its limit");
    }
    if (partition_of(*key) != index) {
      return Status::error("bucket: key in the wrong bucket");
    }
    Bytes k(key->begin(), key->end());
    if (!bucket_value.empty() && !(bucket_value.rbegin()->first < k)) {
      return Status::error("bucket: keys out of order");
    }
    bucket_value.emplace_hint(bucket_value.end(), std::move(k),
                              Entry{owner, Bytes(value->begin(), value->end())});
  }
  if (reader.remaining() != 0) return Status::error("bucket: trailing bytes");
  // The charges follow the buckets: the old bucket's go, the new one's come
  // (a state the others reached under the same limits, so within them).
  for (const auto& [key, entry] : state_.get(index)) {
    release_from(entry.owner, key.size(), entry.value.size());
  }
  for (const auto& [key, entry] : bucket_value) charge_to(entry.owner, key.size(), entry.value.size());
  size_ -= state_.get(index).size();
  size_ += bucket_value.size();
  bucket_bytes_[index] = bytes.size();
  state_.replace(index, std::move(bucket_value));
  return Status::ok();
}

}  // namespace pbft::kv
