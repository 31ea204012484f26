// Junk in the wire format: frames whose 16-byte header a replica's reader
// accepts (magic, version, a type, a sender in range, a body length that
// type may have, wire.h) and whose body is random, and plain noise. What
// the network attackers and the replica that sends junk write. Internal to
// src/attack.
#pragma once

#include <cstdint>
#include <utility>

#include "pbft/messages.h"
#include "pbft/types.h"
#include "src/workload/random.h"

namespace pbft::attack {

// The body lengths wire::decode_header accepts for `type` (found by asking
// it, once), as [min, max].
std::pair<uint32_t, uint32_t> body_range(MessageType type);

// A header as the wire encodes it (wire.h), whatever the fields say.
Bytes frame_header(MessageType type, uint32_t sender, uint32_t body_size);

class JunkMaker {
 public:
  explicit JunkMaker(uint64_t seed);

  // A frame of `type` from `sender` whose body length is drawn from what
  // the type allows, at most body_max when the type allows that (its
  // minimum otherwise), and whose body is random bytes.
  Bytes frame(Random& random, MessageType type, uint32_t sender, size_t body_max) const;
  // Appends `size` random bytes to `out`.
  void noise(Random& random, size_t size, Bytes& out) const;

 private:
  // Random bytes, drawn from at random offsets: making fresh ones for every
  // frame would cost the attacker more than the replica spends on them.
  Bytes pool_;
};

}  // namespace pbft::attack
