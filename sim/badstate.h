// The badstate fault: a Byzantine replica that serves state transfer with
// wrong or stale data. Its normal-case behaviour stays correct; only the
// FETCH-REPLY messages it sends are rewritten, and then authenticated again
// with its own keys, so that they pass the receiver's verifier and only the
// fetcher's digest checks against the proven checkpoint can catch them
// (PBFT.md, "State transfer": a faulty replica can slow a transfer but
// never corrupt it).
//
// Thread safety: none.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <tuple>

#include "pbft/config.h"
#include "pbft/crypto.h"
#include "pbft/kv.h"
#include "pbft/messages.h"
#include "src/workload/random.h"

namespace pbft::sim {

// The ways a reply is corrupted.
enum class Corruption : uint8_t {
  flip_byte,      // one byte of the data (level 0) or of one digest (level > 0) changed
  wrong_digests,  // level > 0: made-up children digests
  stale,          // the same node's contents from an older checkpoint, or the current state
  truncate,       // level 0: a shorter chunk that claims to be the whole partition
  wrong_size,     // level 0: total_size larger than the partition
  drop_digest,    // level > 0: one child digest missing
};
const char* to_string(Corruption corruption);

class BadStateServer {
 public:
  // `crypto` is the Byzantine replica's own (to authenticate what it
  // forges); config and crypto must outlive this object. Each reply is
  // corrupted with `probability`.
  BadStateServer(const ProtocolConfig& config, const Crypto& crypto, double probability);

  // Returns the reply to send instead of `genuine`, or nullopt to send the
  // genuine one. Remembers genuine replies for later stale answers. `store`
  // is the replica's current service state (stale data when no older
  // answer is remembered).
  std::optional<FetchReply> rewrite(const FetchReply& genuine, const kv::Store& store,
                                    Random& random);

  uint64_t corrupted() const { return corrupted_; }

 private:
  FetchReply corrupt(const FetchReply& genuine, Corruption how, const kv::Store& store,
                     Random& random) const;
  void remember(const FetchReply& genuine);

  const ProtocolConfig& config_;
  const Crypto& crypto_;
  double probability_;
  uint64_t corrupted_ = 0;
  // The last genuine reply per (level, index, offset), with its checkpoint:
  // a stale answer for a newer checkpoint. At most remembered_max entries.
  static constexpr size_t remembered_max = 1024;
  std::map<std::tuple<uint32_t, uint64_t, uint64_t>, FetchReply> remembered_;
};

}  // namespace pbft::sim
