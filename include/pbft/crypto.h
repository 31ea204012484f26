// Cryptography behind one small interface, so that the simulator can run the
// same core with a fast deterministic fake.
//
//   digest   D(m): BLAKE2b-256
//   sign     Ed25519 with this principal's own key
//   mac      keyed BLAKE2b-128 with the pairwise key this principal shares
//            with a peer; the key is derived from both parties' static keys
//            (X25519 on the Ed25519 keys converted to Curve25519), so MACs
//            need no handshake.
//
// Thread safety: every const method may be called concurrently from many
// threads (the runtime verifies on a thread pool).
#pragma once

#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "pbft/status.h"
#include "pbft/types.h"

namespace pbft {

class Crypto {
 public:
  virtual ~Crypto() = default;

  // The principal whose secret key this instance holds.
  virtual Principal self() const = 0;

  virtual Digest digest(ByteView data) const = 0;

  // Signs with self's secret key.
  virtual Signature sign(ByteView data) const = 0;
  // False if signer is unknown or the signature does not verify.
  virtual bool verify(Principal signer, ByteView data, const Signature& signature) const = 0;

  // MAC under the pairwise key of self and peer. For a peer with no key (not
  // in the directory) it returns the all-zero tag, which no check accepts.
  virtual Mac mac(Principal peer, ByteView data) const = 0;
  // False if peer is unknown or the MAC does not verify (constant time).
  virtual bool verify_mac(Principal peer, ByteView data, const Mac& mac) const = 0;
};

// One MAC per replica 0..n-1 over data: what a client puts on a request and a
// replica on a multicast commit or status.
std::vector<Mac> make_authenticator(const Crypto& crypto, uint32_t replica_count, ByteView data);
// Checks the entry meant for crypto.self() (a replica), made by sender.
bool verify_authenticator(const Crypto& crypto, Principal sender,
                          const std::vector<Mac>& authenticator, ByteView data);

struct KeyPair {
  PublicKey public_key{};
  SecretKey secret_key{};
};

// The public keys of the whole system, as a cluster configuration lists them.
struct KeyDirectory {
  std::vector<PublicKey> replicas;                  // index = replica id
  std::unordered_map<ClientId, PublicKey> clients;  // listed clients
  const PublicKey* find(Principal p) const;
};

// Real cryptography (libsodium).
namespace sodium {
// Must be called once before any other function here; idempotent, thread-safe.
void initialize();
KeyPair generate_keypair();
KeyPair keypair_from_seed(const std::array<uint8_t, 32>& seed);
// Builds a Crypto for `self`. Pairwise MAC keys are derived here, once: a
// replica's with every principal in the directory, a client's with the
// replicas only (clients never talk to each other; a MAC between two
// clients does not verify). The keys needed are copied, so the directory
// may be released afterwards. Fails on a null directory, self missing from
// it, a malformed public key of a principal self derives a key with (named
// in the reason), two principals sharing one key, or a secret key that does
// not match self's public key.
//
// Wire contract: the pairwise MAC key is
//   BLAKE2b-256(X25519(sk_self, pk_peer) || min(pk_a, pk_b) || max(pk_a, pk_b)
//               || "pbft/mac-key/x25519-blake2b/v1")
// over the Curve25519 forms of the keys. Changing it breaks MACs between builds.
Result<std::unique_ptr<Crypto>> make_crypto(Principal self, const SecretKey& secret,
                                            std::shared_ptr<const KeyDirectory> directory);
}  // namespace sodium

// The simulator's cryptography: deterministic, fast, and as strict as the
// real one within the simulation: a principal can only produce signatures
// and MACs under its own identity, and any changed byte fails verification.
// Not secure against a real adversary (the per-principal secrets derive from
// `universe_seed`); never use outside the simulator and tests.
namespace fake {
std::unique_ptr<Crypto> make_crypto(Principal self, uint64_t universe_seed,
                                    uint32_t replica_count, uint32_t client_count);
}  // namespace fake

}  // namespace pbft
