// The core's write-ahead records on a Storage, and their reading back
// (contract: include/pbft/storage.h; what is recorded when, and why that is
// enough: docs/design.md, "Durability").
//
// Key layout. Numbers inside keys are 8-byte big-endian, so that the store's
// bytewise key order is numeric order: a checkpoint erases the records of
// every sequence number up to its own with one range, and load reads the
// stable checkpoint ("c") before the slots ("s").
//
//   "i"                     identity: cluster digest | replica u32 | format version u32
//   "r"                     present while the replica recovers (it started with
//                           --recover and has not caught up yet): empty value
//   "v"                     the view: view u64 | changing u8
//   "c"                     the stable checkpoint: seq u64 | digest | proof
//                           (u32 count, then each CHECKPOINT framed)
//   "l" leaf                one leaf of the state at the stable checkpoint
//   "s" seq 'a' view        a pre-prepare it accepted, or sent as the primary
//   "s" seq 'b' digest      a PRE-PREPARE carrying the batch with that digest,
//                           when no pre-prepare under 'a' carries it
//   "s" seq 'p' view        its own PREPARE
//   "s" seq 'm' view        its own COMMIT
//   "s" seq 'q'             its prepared certificate of the latest view: the
//                           pre-prepare framed, then u32 count and each
//                           PREPARE framed
//   "s" seq 'x'             the batch it executed: digest | the view it committed in u64
//   "s" seq 'k'             its own CHECKPOINT
//   "w"                     the last VIEW-CHANGE it sent
//   "n"                     the last NEW-VIEW it sent
//
// Values: integers are little-endian, as on the wire; a message is its wire
// frame (wire::encode), preceded by a u32 length when it is one of several
// in a value. The wire decoder is bounded and rejects what is not canonical,
// so a value that does not decode, or decodes to a message of another kind
// or position than its key names, is corruption.
#include <algorithm>
#include <optional>
#include <string>
#include <type_traits>

#include "pbft/assert.h"
#include "pbft/storage.h"
#include "pbft/wire.h"

namespace pbft::storage {

namespace {

// Bumped when the layout above changes: a store of another version is
// refused rather than misread.
constexpr uint32_t format_version = 1;

constexpr uint8_t identity_kind = 'i';
constexpr uint8_t recovering_kind = 'r';
constexpr uint8_t view_kind = 'v';
constexpr uint8_t checkpoint_kind = 'c';
constexpr uint8_t leaf_kind = 'l';
constexpr uint8_t slot_kind = 's';
constexpr uint8_t view_change_kind = 'w';
constexpr uint8_t new_view_kind = 'n';
// load() learns the stable checkpoint before the slots it makes obsolete.
static_assert(checkpoint_kind < slot_kind);

enum class SlotTag : uint8_t {
  pre_prepare = 'a',
  batch = 'b',
  prepare = 'p',
  commit = 'm',
  certificate = 'q',
  executed = 'x',
  checkpoint = 'k',
};

constexpr size_t be64_size = 8;
constexpr size_t slot_key_min = 1 + be64_size + 1;

// ---------------------------------------------------------------- keys

void append_be64(Bytes& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

uint64_t read_be64(ByteView in) {
  uint64_t v = 0;
  for (size_t i = 0; i < be64_size; i++) v = (v << 8) | in[i];
  return v;
}

Bytes kind_key(uint8_t kind) { return Bytes{kind}; }

Bytes leaf_key(uint64_t leaf) {
  Bytes key{leaf_kind};
  append_be64(key, leaf);
  return key;
}

Bytes slot_key(Seq seq, SlotTag tag) {
  Bytes key{slot_kind};
  append_be64(key, seq);
  key.push_back(static_cast<uint8_t>(tag));
  return key;
}

Bytes slot_key(Seq seq, SlotTag tag, View view) {
  Bytes key = slot_key(seq, tag);
  append_be64(key, view);
  return key;
}

Bytes slot_key(Seq seq, SlotTag tag, const Digest& digest) {
  Bytes key = slot_key(seq, tag);
  key.insert(key.end(), digest.begin(), digest.end());
  return key;
}

// The first slot key of all, and the first after those of sequence numbers
// up to `seq`: a checkpoint's range.
Bytes slots_begin() {
  Bytes key{slot_kind};
  append_be64(key, 0);
  return key;
}

Bytes slots_end(Seq seq) {
  if (seq == UINT64_MAX) return kind_key(slot_kind + 1);
  Bytes key{slot_kind};
  append_be64(key, seq + 1);
  return key;
}

// A key as an error message names it: its parts separated by '/', numbers
// and digests in hex, e.g. "s/000000000000002a/a/0000000000000003".
std::string printable_key(ByteView key) {
  if (key.empty()) return "(the empty key)";
  const char kind = static_cast<char>(key[0]);
  const bool known_kind = kind == 'i' || kind == 'v' || kind == 'c' || kind == 'w' || kind == 'n' ||
                          kind == 'l' || kind == 's';
  if (!known_kind) return "0x" + to_hex(key);
  std::string out(1, kind);
  ByteView rest = key.subspan(1);
  if ((kind == 'l' || kind == 's') && rest.size() >= be64_size) {
    out += "/" + to_hex(rest.first(be64_size));
    rest = rest.subspan(be64_size);
  }
  if (kind == 's' && !rest.empty()) {
    out += "/" + std::string(1, static_cast<char>(rest[0]));
    rest = rest.subspan(1);
  }
  if (!rest.empty()) out += "/" + to_hex(rest);
  return out;
}

// -------------------------------------------------------------- values

void append_le(Bytes& out, uint64_t v, size_t width) {
  for (size_t i = 0; i < width; i++) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void append_digest(Bytes& out, const Digest& digest) {
  out.insert(out.end(), digest.begin(), digest.end());
}

// A message in a value of several: its frame's length, then the frame.
void append_framed(Bytes& out, const Message& message) {
  const Bytes frame = wire::encode(message);
  append_le(out, frame.size(), 4);
  out.insert(out.end(), frame.begin(), frame.end());
}

// Reads a value front to back. Every read checks the bytes left; after the
// first failure ok() is false and every read returns zeros.
class ValueReader {
 public:
  explicit ValueReader(ByteView value) : value_(value) {}

  bool ok() const { return ok_; }
  // Everything was read, nothing is left over.
  bool done() const { return ok_ && at_ == value_.size(); }

  uint64_t le(size_t width) {
    if (!take(width)) return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < width; i++)
      v |= static_cast<uint64_t>(value_[at_ - width + i]) << (8 * i);
    return v;
  }
  Digest digest() {
    Digest d{};
    if (take(d.size())) std::copy_n(value_.begin() + (at_ - d.size()), d.size(), d.begin());
    return d;
  }
  // A length-prefixed frame (empty once the reader failed).
  ByteView framed() {
    const uint64_t size = le(4);
    if (!take(size)) return {};
    return value_.subspan(at_ - size, size);
  }

 private:
  bool take(uint64_t n) {
    if (!ok_ || n > value_.size() - at_) {
      ok_ = false;
      return false;
    }
    at_ += n;
    return true;
  }
  ByteView value_;
  size_t at_ = 0;
  bool ok_ = true;
};

Bytes encode_identity(const Identity& identity) {
  Bytes out;
  append_digest(out, identity.cluster);
  append_le(out, identity.replica, 4);
  append_le(out, format_version, 4);
  return out;
}

Bytes encode_view(const ViewRecord& record) {
  Bytes out;
  append_le(out, record.view, 8);
  append_le(out, record.changing ? 1 : 0, 1);
  return out;
}

Bytes encode_stable(const CheckpointRecord& record) {
  Bytes out;
  append_le(out, record.seq, 8);
  append_digest(out, record.digest);
  append_le(out, record.proof.size(), 4);
  for (const Checkpoint& checkpoint : record.proof) append_framed(out, Message(checkpoint));
  return out;
}

Bytes encode_certificate(const PreparedCertificate& certificate) {
  Bytes out;
  append_framed(out, Message(certificate.pre_prepare));
  append_le(out, certificate.prepares.size(), 4);
  for (const Prepare& prepare : certificate.prepares) append_framed(out, Message(prepare));
  return out;
}

// Decodes one frame that must hold a message of kind T.
template <typename T>
Result<T> decode_as(ByteView frame) {
  Result<Message> message = wire::decode(frame);
  if (!message) return message.status();
  if (T* m = std::get_if<T>(&*message)) return std::move(*m);
  return Status::error(std::string("holds a ") + type_name(type_of(*message)) +
                       " message where a " + type_name(type_of(Message(T{}))) + " belongs");
}

template <typename T>
Result<std::shared_ptr<const Message>> decode_shared(ByteView frame) {
  Result<T> m = decode_as<T>(frame);
  if (!m) return m.status();
  return std::make_shared<const Message>(std::move(m).value());
}

// A message whose sequence number (and view) must be the ones in its key.
Status check_position(const char* what, Seq seq, Seq key_seq) {
  if (seq == key_seq) return Status::ok();
  return Status::error(std::string("holds a ") + what + " for sequence number " +
                       std::to_string(seq));
}
Status check_position(const char* what, Seq seq, View view, Seq key_seq, View key_view) {
  if (seq == key_seq && view == key_view) return Status::ok();
  return Status::error(std::string("holds a ") + what + " for sequence number " +
                       std::to_string(seq) + " in view " + std::to_string(view));
}

// ------------------------------------------------------------ encoding

// Writes each record into one batch, in order, and keeps the journal's
// note of the batches and pre-prepares already written.
class Encoder {
 public:
  Encoder(WriteBatch& out, std::set<std::pair<Seq, Digest>>& batches,
          std::set<std::pair<Seq, View>>& pre_prepares)
      : out_(out), batches_(batches), pre_prepares_(pre_prepares) {}

  void operator()(const ViewRecord& record) { out_.put(kind_key(view_kind), encode_view(record)); }

  void operator()(const SentRecord& record) {
    PBFT_ASSERT(record.message != nullptr);
    const Message& m = *record.message;
    if (std::holds_alternative<PrePrepare>(m)) {
      pre_prepare(record.message);
    } else if (const auto* prepare = std::get_if<Prepare>(&m)) {
      put_message(slot_key(prepare->seq, SlotTag::prepare, prepare->view), m);
    } else if (const auto* commit = std::get_if<Commit>(&m)) {
      put_message(slot_key(commit->seq, SlotTag::commit, commit->view), m);
    } else if (const auto* checkpoint = std::get_if<Checkpoint>(&m)) {
      put_message(slot_key(checkpoint->seq, SlotTag::checkpoint), m);
    } else if (std::holds_alternative<ViewChange>(m)) {
      put_message(kind_key(view_change_kind), m);
    } else {
      // The core records only the messages that bind it (binds_sender).
      PBFT_ASSERT(std::holds_alternative<NewView>(m));
      put_message(kind_key(new_view_kind), m);
    }
  }

  void operator()(const AcceptedRecord& record) {
    PBFT_ASSERT(record.pre_prepare != nullptr);
    pre_prepare(record.pre_prepare);
    // Unless the 'a' key just written carries it, the batch goes under 'b'
    // (the null request's has none). The same message may come first
    // without its batch (a NEW-VIEW's pre-prepare) and later with it, once
    // the primary re-sent it whole: (seq, view) is written then, the batch
    // not yet.
    if (record.batch != nullptr) batch(record.batch);
  }

  void operator()(const PreparedRecord& record) {
    // One per sequence number: the core records them in increasing views,
    // and only the latest is what a VIEW-CHANGE reports.
    const Seq seq = record.certificate.pre_prepare.seq;
    out_.put(slot_key(seq, SlotTag::certificate), encode_certificate(record.certificate));
  }

  void operator()(const ExecutedRecord& record) {
    Bytes value(record.digest.begin(), record.digest.end());
    append_le(value, record.view, 8);
    out_.put(slot_key(record.seq, SlotTag::executed), std::move(value));
  }

  void operator()(const CheckpointRecord& record) {
    out_.put(kind_key(checkpoint_kind), encode_stable(record));
    for (const auto& [leaf, bytes] : record.leaves) {
      PBFT_ASSERT(bytes != nullptr);
      out_.put(leaf_key(leaf), *bytes);
    }
    // The records of sequence numbers up to the checkpoint are no longer
    // needed (a restarted replica starts from the checkpoint), nor is the
    // note that they were written.
    out_.erase_range(slots_begin(), slots_end(record.seq));
    std::erase_if(batches_, [&](const auto& entry) { return entry.first <= record.seq; });
    std::erase_if(pre_prepares_, [&](const auto& entry) { return entry.first <= record.seq; });
  }

 private:
  void put_message(Bytes key, const Message& message) {
    out_.put(std::move(key), wire::encode(message));
  }

  // A pre-prepare is written once per (seq, view), however many records
  // name it; one that carries its batch is where load finds that batch.
  void pre_prepare(const std::shared_ptr<const Message>& message) {
    const auto* pp = std::get_if<PrePrepare>(message.get());
    PBFT_ASSERT(pp != nullptr);
    if (!pre_prepares_.insert({pp->seq, pp->view}).second) return;
    if (!pp->batch.empty()) batches_.insert({pp->seq, pp->digest});
    put_message(slot_key(pp->seq, SlotTag::pre_prepare, pp->view), *message);
  }

  // A batch's bytes are written once per (seq, digest): a pre-prepare of a
  // later view for the same batch names it without carrying it again.
  void batch(const std::shared_ptr<const Message>& message) {
    const auto* pp = std::get_if<PrePrepare>(message.get());
    PBFT_ASSERT(pp != nullptr);
    if (!batches_.insert({pp->seq, pp->digest}).second) return;
    put_message(slot_key(pp->seq, SlotTag::batch, pp->digest), *message);
  }

  WriteBatch& out_;
  std::set<std::pair<Seq, Digest>>& batches_;
  std::set<std::pair<Seq, View>>& pre_prepares_;
};

// ------------------------------------------------------------- loading

// Builds a PersistedState from the store's keys, visited in key order. The
// first value that does not decode stops it, naming its key.
class Loader {
 public:
  explicit Loader(std::string where) : where_(std::move(where)) {}

  void add(ByteView key, ByteView value) {
    if (!status_) return;
    if (Status s = read(key, value); !s) {
      status_ = Status::error(where_ + ": the data directory is corrupt: record " +
                              printable_key(key) + ": " + s.reason());
    }
  }

  const Status& status() const { return status_; }

  // What is recorded at or below the stable checkpoint is obsolete (a
  // checkpoint erases it, but records of old sequence numbers may come
  // after the checkpoint in the same batch).
  PersistedState finish() && {
    state_.slots.erase(state_.slots.begin(), state_.slots.upper_bound(state_.stable_seq));
    return std::move(state_);
  }

 private:
  Status read(ByteView key, ByteView value) {
    if (key.empty()) return Status::error("is not a key the journal writes");
    const uint8_t kind = key[0];
    if (key.size() == 1) {
      switch (kind) {
        case identity_kind:
        case recovering_kind:
          return Status::ok();  // check_identity and recovering() read them
        case view_kind:
          return read_view(value);
        case checkpoint_kind:
          return read_stable(value);
        case view_change_kind:
          return read_last<ViewChange>(state_.view_change, value);
        case new_view_kind:
          return read_last<NewView>(state_.new_view, value);
        default:
          break;
      }
    }
    if (kind == leaf_kind && key.size() == 1 + be64_size) {
      state_.leaves[read_be64(key.subspan(1))] =
          std::make_shared<const Bytes>(value.begin(), value.end());
      return Status::ok();
    }
    if (kind == slot_kind && key.size() >= slot_key_min) {
      return read_slot(read_be64(key.subspan(1)), key[1 + be64_size], key.subspan(slot_key_min),
                       value);
    }
    return Status::error("is not a key the journal writes");
  }

  Status read_view(ByteView value) {
    ValueReader r(value);
    const View view = r.le(8);
    const uint64_t changing = r.le(1);
    if (!r.done() || changing > 1) return Status::error("is not a view record");
    state_.view = view;
    state_.changing = changing == 1;
    return Status::ok();
  }

  Status read_stable(ByteView value) {
    ValueReader r(value);
    const Seq seq = r.le(8);
    const Digest digest = r.digest();
    const uint64_t count = r.le(4);
    std::vector<Checkpoint> proof;
    for (uint64_t i = 0; i < count && r.ok(); i++) {
      const ByteView frame = r.framed();
      if (!r.ok()) break;
      Result<Checkpoint> checkpoint = decode_as<Checkpoint>(frame);
      if (!checkpoint) return Status::error("proof: " + checkpoint.reason());
      if (checkpoint->seq != seq || checkpoint->state_digest != digest) {
        return Status::error("proof: a checkpoint for another sequence number or state");
      }
      proof.push_back(std::move(checkpoint).value());
    }
    if (!r.done()) return Status::error("is not a stable checkpoint record");
    state_.stable_seq = seq;
    state_.stable_digest = digest;
    state_.stable_proof = std::move(proof);
    return Status::ok();
  }

  template <typename T>
  Status read_last(std::shared_ptr<const Message>& out, ByteView value) {
    Result<std::shared_ptr<const Message>> m = decode_shared<T>(value);
    if (!m) return m.status();
    out = std::move(m).value();
    return Status::ok();
  }

  Status read_slot(Seq seq, uint8_t tag, ByteView rest, ByteView value) {
    PersistedState::Slot& slot = state_.slots[seq];
    switch (static_cast<SlotTag>(tag)) {
      case SlotTag::pre_prepare:
        if (rest.size() != be64_size) break;
        return read_pre_prepare(slot, seq, read_be64(rest), value);
      case SlotTag::batch:
        if (rest.size() != digest_size) break;
        return read_batch(slot, seq, rest, value);
      case SlotTag::prepare:
        if (rest.size() != be64_size) break;
        return read_vote<Prepare>(slot.prepares, "prepare", seq, read_be64(rest), value);
      case SlotTag::commit:
        if (rest.size() != be64_size) break;
        return read_vote<Commit>(slot.commits, "commit", seq, read_be64(rest), value);
      case SlotTag::certificate:
        if (!rest.empty()) break;
        return read_certificate(slot, seq, value);
      case SlotTag::executed:
        if (!rest.empty()) break;
        return read_executed(slot, value);
      case SlotTag::checkpoint:
        if (!rest.empty()) break;
        return read_checkpoint(slot, seq, value);
    }
    return Status::error("is not a key the journal writes");
  }

  Status read_pre_prepare(PersistedState::Slot& slot, Seq seq, View view, ByteView value) {
    Result<std::shared_ptr<const Message>> m = decode_shared<PrePrepare>(value);
    if (!m) return m.status();
    const auto& pp = std::get<PrePrepare>(**m);
    if (Status s = check_position("pre-prepare", pp.seq, pp.view, seq, view); !s) return s;
    // A pre-prepare carrying its batch is where a restarted replica finds
    // that batch (the null request's empty batch needs no copy).
    if (!pp.batch.empty()) slot.batches.try_emplace(pp.digest, *m);
    slot.pre_prepares[view] = std::move(m).value();
    return Status::ok();
  }

  Status read_batch(PersistedState::Slot& slot, Seq seq, ByteView key_digest, ByteView value) {
    Result<std::shared_ptr<const Message>> m = decode_shared<PrePrepare>(value);
    if (!m) return m.status();
    const auto& pp = std::get<PrePrepare>(**m);
    if (Status s = check_position("pre-prepare", pp.seq, seq); !s) return s;
    if (!std::equal(pp.digest.begin(), pp.digest.end(), key_digest.begin())) {
      return Status::error("holds the batch of another digest");
    }
    slot.batches.try_emplace(pp.digest, std::move(m).value());
    return Status::ok();
  }

  template <typename T>
  Status read_vote(std::map<View, std::shared_ptr<const Message>>& votes, const char* what, Seq seq,
                   View view, ByteView value) {
    Result<std::shared_ptr<const Message>> m = decode_shared<T>(value);
    if (!m) return m.status();
    const T& vote = std::get<T>(**m);
    if (Status s = check_position(what, vote.seq, vote.view, seq, view); !s) return s;
    votes[view] = std::move(m).value();
    return Status::ok();
  }

  Status read_certificate(PersistedState::Slot& slot, Seq seq, ByteView value) {
    ValueReader r(value);
    PreparedCertificate certificate;
    Result<PrePrepare> pp = decode_as<PrePrepare>(r.framed());
    if (!pp) return Status::error("pre-prepare: " + pp.reason());
    certificate.pre_prepare = std::move(pp).value();
    if (Status s = check_position("pre-prepare", certificate.pre_prepare.seq, seq); !s) return s;
    const uint64_t count = r.le(4);
    for (uint64_t i = 0; i < count && r.ok(); i++) {
      const ByteView frame = r.framed();
      if (!r.ok()) break;
      Result<Prepare> prepare = decode_as<Prepare>(frame);
      if (!prepare) return Status::error("prepare: " + prepare.reason());
      if (Status s = check_position("prepare", prepare->seq, seq); !s) return s;
      certificate.prepares.push_back(std::move(prepare).value());
    }
    if (!r.done()) return Status::error("is not a prepared certificate");
    slot.certificate = std::move(certificate);
    return Status::ok();
  }

  static Status read_executed(PersistedState::Slot& slot, ByteView value) {
    ValueReader r(value);
    const Digest digest = r.digest();
    const View view = r.le(8);
    if (!r.done()) return Status::error("is not a digest and a view");
    slot.executed = digest;
    slot.executed_view = view;
    return Status::ok();
  }

  static Status read_checkpoint(PersistedState::Slot& slot, Seq seq, ByteView value) {
    Result<std::shared_ptr<const Message>> m = decode_shared<Checkpoint>(value);
    if (!m) return m.status();
    if (Status s = check_position("checkpoint", std::get<Checkpoint>(**m).seq, seq); !s) return s;
    slot.checkpoint = std::move(m).value();
    return Status::ok();
  }

  std::string where_;
  Status status_;
  PersistedState state_;
};

}  // namespace

// ------------------------------------------------------------- identity

Status Journal::initialize(const Identity& identity, bool recovering) {
  if (!empty()) {
    return Status::error(storage_.describe() +
                         ": the data directory already holds replica state; it is not"
                         " initialized again (that would discard it)");
  }
  WriteBatch batch;
  batch.put(kind_key(identity_kind), encode_identity(identity));
  if (recovering) batch.put(kind_key(recovering_kind), {});
  if (Status s = storage_.write(batch, /*sync=*/true); !s) return s;
  batches_written_++;
  syncs_++;
  bytes_written_ += batch.bytes();
  return Status::ok();
}

bool Journal::belongs_to_another(const Identity& identity) const {
  std::optional<Bytes> stored;
  const Status scanned = storage_.scan(kind_key(identity_kind), [&](ByteView key, ByteView value) {
    if (key.size() == 1) stored = Bytes(value.begin(), value.end());
  });
  if (!scanned || !stored) return false;
  ValueReader r(*stored);
  const Digest cluster = r.digest();
  const auto replica = static_cast<ReplicaId>(r.le(4));
  const auto version = static_cast<uint32_t>(r.le(4));
  if (!r.done() || version != format_version) return false;
  return cluster != identity.cluster || replica != identity.replica;
}

Status Journal::check_identity(const Identity& identity) const {
  const std::string where = storage_.describe();
  std::optional<Bytes> stored;
  Status scanned = storage_.scan(kind_key(identity_kind), [&](ByteView key, ByteView value) {
    if (key.size() == 1) stored = Bytes(value.begin(), value.end());
  });
  if (!scanned) return scanned;
  if (!stored) {
    if (empty()) {
      return Status::error(where +
                           ": the data directory holds no replica state (it is new, or its"
                           " state was lost)");
    }
    return Status::error(where + ": the data directory is corrupt: it holds records but no" +
                         " identity (record i)");
  }
  ValueReader r(*stored);
  const Digest cluster = r.digest();
  const auto replica = static_cast<ReplicaId>(r.le(4));
  const auto version = static_cast<uint32_t>(r.le(4));
  if (!r.done()) {
    return Status::error(where + ": the data directory is corrupt: record i is not an identity");
  }
  if (version != format_version) {
    return Status::error(where + ": the data directory is in storage format version " +
                         std::to_string(version) + "; this build reads version " +
                         std::to_string(format_version));
  }
  if (cluster != identity.cluster) {
    return Status::error(where +
                         ": the data directory holds the state of another cluster (its"
                         " membership or keys differ)");
  }
  if (replica != identity.replica) {
    return Status::error(where + ": the data directory holds the state of replica " +
                         std::to_string(replica) + ", not of replica " +
                         std::to_string(identity.replica));
  }
  return Status::ok();
}

bool Journal::recovering() const {
  bool found = false;
  const Status scanned = storage_.scan(kind_key(recovering_kind), [&](ByteView key, ByteView) {
    if (key.size() == 1) found = true;
  });
  // A store that cannot be read is as good as a recovering one: it recovers again.
  return found || !scanned;
}

Status Journal::mark_recovered() {
  WriteBatch batch;
  batch.erase(kind_key(recovering_kind));
  if (Status s = storage_.write(batch, /*sync=*/true); !s) return s;
  batches_written_++;
  syncs_++;
  bytes_written_ += batch.bytes();
  return Status::ok();
}

bool Journal::empty() const {
  // The identity first: a store that has one is not empty, and learning it
  // costs one key, where a scan of everything would read the whole state.
  bool any = false;
  const auto found = [&](ByteView, ByteView) { any = true; };
  if (!storage_.scan(kind_key(identity_kind), found) || any) return false;
  return storage_.scan({}, found) && !any;
}

// -------------------------------------------------------------- records

WriteBatch Journal::encode(const Persist& persist) {
  WriteBatch batch;
  Encoder encoder(batch, batches_, pre_prepares_);
  for (const Record& record : persist.records) std::visit(encoder, record);
  return batch;
}

Status Journal::append(const Persist& persist) {
  if (persist.records.empty()) return Status::ok();
  const WriteBatch batch = encode(persist);
  // A record that wrote nothing was written by an earlier batch, which may
  // not be durable yet: a synced Persist still syncs.
  if (batch.empty() && !persist.sync) return Status::ok();
  if (Status s = storage_.write(batch, persist.sync); !s) {
    // encode noted the batch's pre-prepares and batches as written, and
    // they are not: forgetting every note makes later records write them
    // again (the same values: harmless) rather than skip them.
    batches_.clear();
    pre_prepares_.clear();
    return s;
  }
  batches_written_++;
  if (persist.sync) syncs_++;
  bytes_written_ += batch.bytes();
  return Status::ok();
}

Result<PersistedState> Journal::load() {
  Loader loader(storage_.describe());
  Status scanned = storage_.scan({}, [&](ByteView key, ByteView value) { loader.add(key, value); });
  if (!scanned) return scanned;
  if (!loader.status()) return loader.status();
  PersistedState state = std::move(loader).finish();
  // What is on the store is written: later records naming it write nothing.
  batches_.clear();
  pre_prepares_.clear();
  for (const auto& [seq, slot] : state.slots) {
    for (const auto& [view, pp] : slot.pre_prepares) pre_prepares_.insert({seq, view});
    for (const auto& [digest, pp] : slot.batches) batches_.insert({seq, digest});
  }
  return state;
}

}  // namespace pbft::storage
