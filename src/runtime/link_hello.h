// The authenticated hello (version 2): how the two ends of a link prove who
// they are, inside the channel (link_channel.h), before any frame. Internal
// to src/runtime; docs/design.md ("Links") argues the design.
//
// Each end first sends a *greeting*, at once: a fresh 32-byte random nonce
// and the encryption it runs. Both ends then know the *binding*,
//
//   B = BLAKE2b-256("pbft/link-binding/v2" || encryption
//                   || TLS exporter (32 bytes; empty for none)
//                   || the dialed replica's id
//                   || dialer's nonce || acceptor's nonce),
//
// unique to this connection whatever the mode (the nonces) and, with TLS,
// to this TLS session (the exporter, as RFC 9266 binds to TLS 1.3). The
// dialer then sends its hello: the principals it speaks for (a replica, or
// a client group [id, id + count)) and, for each of them, that principal's
// Ed25519 signature over
//
//   "pbft/link-hello/v2" || role (0 dialer, 1 acceptor) || B || kind || id
//   || count || the member's id;
//
// the acceptor checks every signature against the cluster file's keys and
// answers with its own signed hello (role acceptor), which the dialer
// checks against the replica it dialed. A hello replayed from another
// connection carries signatures over another B, and fails.
//
// Thread safety: pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "pbft/cluster_config.h"
#include "pbft/status.h"
#include "pbft/types.h"
#include "src/runtime/link_channel.h"

namespace pbft::runtime {

using Nonce = std::array<uint8_t, 32>;

// magic u32 "PBHL" | version u8 (2) | encryption u8 | reserved u16 (0) |
// nonce [32], little-endian.
struct Greeting {
  Encryption encryption = Encryption::tls;
  Nonce nonce{};
};
constexpr size_t greeting_size = 40;
constexpr uint32_t hello_magic = 0x4c484250;  // "PBHL" little-endian
constexpr uint8_t hello_version = 2;
Bytes encode_greeting(const Greeting& greeting);
Result<Greeting> decode_greeting(ByteView bytes);
// A fresh random nonce (the operating system's generator).
Nonce fresh_nonce();

// Whom a hello speaks for: a replica (count 1) or the consecutive client
// ids [id, id + count), at most constants::client_group_max.
struct Hello {
  enum class Kind : uint8_t { replica = 0, client = 1 };
  Kind kind = Kind::replica;
  uint32_t id = 0;
  uint16_t count = 1;
  bool carries(uint32_t client) const { return client >= id && client - id < count; }
};

// magic u32 | version u8 (2) | kind u8 | count u16 | id u32, then count
// signatures of 64 bytes.
constexpr size_t hello_header_size = 12;
struct SignedHello {
  Hello hello;
  std::vector<Signature> signatures;  // one per id, in id order
};
// The header alone: the kind, the id and the count (checked: 1..group max,
// 1 for a replica), from which the whole size follows.
Result<Hello> decode_hello_header(ByteView bytes);
inline size_t hello_size(const Hello& hello) {
  return hello_header_size + signature_size * size_t{hello.count};
}
Bytes encode_hello(const SignedHello& hello);
// Exactly one hello (header and signatures, nothing after).
Result<SignedHello> decode_hello(ByteView bytes);

enum class LinkRole : uint8_t { dialer = 0, acceptor = 1 };

// B above. tls_binding: Channel::binding() (empty for none); dialed: the
// replica the dialer dialed, which is the acceptor (each end knows it: the
// dialer whom it dialed, the acceptor itself), so that a hello signed for a
// link to one replica does not verify on a link to another, even when a
// faulty replica in the middle hands each side the other's nonce (with
// encryption none, where there is no exporter to tell the links apart).
Bytes link_binding(Encryption encryption, ByteView tls_binding, ReplicaId dialed,
                   const Nonce& dialer, const Nonce& acceptor);
// The hello of `hello`'s principals, each signing with its key (keys: one
// per id, in id order: seed || public key).
SignedHello sign_hello(const Hello& hello, LinkRole role, ByteView binding,
                       std::span<const SecretKey> keys);
// Checks every signature of a hello against the keys the cluster file lists
// for its ids. Fails naming the first principal that is not listed or whose
// signature does not verify.
Status verify_hello(const SignedHello& hello, LinkRole role, ByteView binding,
                    const ClusterConfig& cluster);
// The key the cluster file lists for a principal of a hello (none: not
// listed).
std::optional<PublicKey> listed_key(const ClusterConfig& cluster, Hello::Kind kind, uint32_t id);

}  // namespace pbft::runtime
