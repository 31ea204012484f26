// The real cryptography, on libsodium.
//
//   digest      BLAKE2b-256 (crypto_generichash, no key)
//   sign/verify Ed25519 (crypto_sign_detached / crypto_sign_verify_detached)
//   mac         keyed BLAKE2b with a 16-byte output (BLAKE2b-128: the output
//               length is a BLAKE2b parameter, so this is not a truncation of
//               the 32-byte hash)
//
// Pairwise MAC keys need no handshake (PBFT.md, Cryptography): both parties
// convert their Ed25519 keys to Curve25519 and compute the X25519 shared
// secret, which only the two of them can compute. The MAC key is
//
//   BLAKE2b-256(shared_secret || min(pk_a, pk_b) || max(pk_a, pk_b) || mac_key_domain)
//
// where pk_a, pk_b are the two Ed25519 public keys ordered bytewise, so both
// sides hash the same bytes. Hashing the public keys binds the key to the
// pair of identities (X25519 alone does not); the domain string keeps this
// key apart from any other use of the same shared secret. Changing any byte
// of this derivation breaks MACs between builds: it is part of the wire
// contract.
#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

#include "pbft/assert.h"
#include "pbft/crypto.h"

namespace pbft::sodium {
namespace {

static_assert(digest_size == crypto_generichash_BYTES);
static_assert(signature_size == crypto_sign_BYTES);
static_assert(public_key_size == crypto_sign_PUBLICKEYBYTES);
static_assert(secret_key_size == crypto_sign_SECRETKEYBYTES);
static_assert(mac_size >= crypto_generichash_BYTES_MIN && mac_size <= crypto_generichash_BYTES_MAX);

constexpr size_t seed_size = crypto_sign_SEEDBYTES;
constexpr size_t mac_key_size = 32;
static_assert(mac_key_size >= crypto_generichash_KEYBYTES_MIN &&
              mac_key_size <= crypto_generichash_KEYBYTES_MAX);
static_assert(crypto_scalarmult_BYTES == 32 && crypto_scalarmult_SCALARBYTES == 32);

constexpr std::string_view mac_key_domain = "pbft/mac-key/x25519-blake2b/v1";

using MacKey = std::array<uint8_t, mac_key_size>;

std::string describe(Principal p) {
  return (p.kind == PrincipalKind::replica ? "replica " : "client ") + std::to_string(p.id);
}

// What self knows about one principal: its signing key and the MAC key the
// two of them share.
struct Peer {
  PublicKey public_key{};
  MacKey mac_key{};
  bool has_mac_key = false;  // a client has none with other clients
};

// Wipes a secret local when it goes out of scope, on every return path.
template <typename T>
struct Wiped {
  Wiped() = default;
  Wiped(const Wiped&) = delete;
  Wiped& operator=(const Wiped&) = delete;
  ~Wiped() { sodium_memzero(&value, sizeof value); }
  T value{};
};

// Everything self needs to derive pairwise keys: its own Ed25519 public key
// and its secret scalar on Curve25519.
struct Self {
  PublicKey public_key{};
  Wiped<std::array<uint8_t, crypto_scalarmult_SCALARBYTES>> curve_secret;
};

// Fills peer with who's public key and the MAC key self shares with who.
Status derive_peer(const Self& self, Principal who, const PublicKey& public_key, Peer& peer) {
  std::array<uint8_t, crypto_scalarmult_BYTES> curve_public{};
  // Fails on a point that is not on the curve, has small order or lies
  // outside the prime-order subgroup: no honest key looks like that, and
  // such a key would make the shared secret predictable.
  if (crypto_sign_ed25519_pk_to_curve25519(curve_public.data(), public_key.data()) != 0) {
    return Status::error("the public key of " + describe(who) + " is not a valid Ed25519 key");
  }
  Wiped<std::array<uint8_t, crypto_scalarmult_BYTES>> shared;
  // crypto_scalarmult itself refuses an all-zero result (a low-order input
  // point); the conversion above already excludes those, so this is the
  // second line of the same defence, kept explicit.
  if (crypto_scalarmult(shared.value.data(), self.curve_secret.value.data(), curve_public.data()) !=
          0 ||
      sodium_is_zero(shared.value.data(), shared.value.size()) != 0) {
    return Status::error("the shared secret with " + describe(who) + " is zero");
  }

  const bool self_first = self.public_key < public_key;
  const PublicKey& first = self_first ? self.public_key : public_key;
  const PublicKey& second = self_first ? public_key : self.public_key;

  peer.public_key = public_key;
  Wiped<crypto_generichash_state> state;
  crypto_generichash_init(&state.value, nullptr, 0, peer.mac_key.size());
  crypto_generichash_update(&state.value, shared.value.data(), shared.value.size());
  crypto_generichash_update(&state.value, first.data(), first.size());
  crypto_generichash_update(&state.value, second.data(), second.size());
  crypto_generichash_update(&state.value, reinterpret_cast<const uint8_t*>(mac_key_domain.data()),
                            mac_key_domain.size());
  crypto_generichash_final(&state.value, peer.mac_key.data(), peer.mac_key.size());
  peer.has_mac_key = true;
  return Status::ok();
}

class SodiumCrypto final : public Crypto {
 public:
  // The tables start empty; make_crypto fills them with add_peer before it
  // hands the object out, and nothing changes them afterwards, which is why
  // the const methods need no lock.
  SodiumCrypto(Principal self, const SecretKey& secret, size_t replica_count, size_t client_count)
      : self_(self), secret_(secret) {
    // Reserved up front so that no reallocation leaves unwiped copies of
    // MAC keys in freed memory.
    replicas_.reserve(replica_count);
    clients_.reserve(client_count);
  }

  SodiumCrypto(const SodiumCrypto&) = delete;
  SodiumCrypto& operator=(const SodiumCrypto&) = delete;

  // Wipes the secret key and every MAC key, also when make_crypto gives up
  // half way.
  ~SodiumCrypto() override {
    sodium_memzero(secret_.data(), secret_.size());
    for (Peer& peer : replicas_) sodium_memzero(peer.mac_key.data(), peer.mac_key.size());
    for (auto& [id, peer] : clients_) sodium_memzero(peer.mac_key.data(), peer.mac_key.size());
  }

  // Replicas must be added in id order, 0 first. Without a MAC key, only
  // the peer's signatures can be checked.
  Status add_peer(const Self& me, Principal who, const PublicKey& public_key, bool with_mac_key) {
    Peer* peer = nullptr;
    if (who.kind == PrincipalKind::replica) {
      PBFT_ASSERT(who.id == replicas_.size());
      peer = &replicas_.emplace_back();
    } else {
      auto [it, inserted] = clients_.try_emplace(who.id);
      PBFT_ASSERT(inserted);
      peer = &it->second;
    }
    if (!with_mac_key) {
      peer->public_key = public_key;
      return Status::ok();
    }
    return derive_peer(me, who, public_key, *peer);
  }

  Principal self() const override { return self_; }

  Digest digest(ByteView data) const override {
    Digest out{};
    crypto_generichash(out.data(), out.size(), data.data(), data.size(), nullptr, 0);
    return out;
  }

  Signature sign(ByteView data) const override {
    Signature out{};
    crypto_sign_detached(out.data(), nullptr, data.data(), data.size(), secret_.data());
    return out;
  }

  bool verify(Principal signer, ByteView data, const Signature& signature) const override {
    const Peer* peer = find_peer(signer);
    if (peer == nullptr) return false;
    return crypto_sign_verify_detached(signature.data(), data.data(), data.size(),
                                       peer->public_key.data()) == 0;
  }

  // An unknown peer shares no key with self. The caller only MACs for
  // principals it has authenticated or that the configuration lists, so this
  // does not happen on a correct path; rather than abort on what may be a
  // peer-chosen id, it returns the all-zero tag, which no check accepts
  // (the receiver recomputes the real MAC, or fails because self is unknown
  // to it).
  Mac mac(Principal peer_id, ByteView data) const override {
    Mac out{};
    const Peer* peer = find_peer(peer_id);
    if (peer == nullptr || !peer->has_mac_key) return out;
    compute_mac(*peer, data, out);
    return out;
  }

  bool verify_mac(Principal peer_id, ByteView data, const Mac& tag) const override {
    const Peer* peer = find_peer(peer_id);
    if (peer == nullptr || !peer->has_mac_key) return false;
    Mac expected{};
    compute_mac(*peer, data, expected);
    return sodium_memcmp(expected.data(), tag.data(), tag.size()) == 0;
  }

 private:
  const Peer* find_peer(Principal p) const {
    switch (p.kind) {
      case PrincipalKind::replica:
        return p.id < replicas_.size() ? &replicas_[p.id] : nullptr;
      case PrincipalKind::client: {
        auto it = clients_.find(p.id);
        return it == clients_.end() ? nullptr : &it->second;
      }
    }
    return nullptr;
  }

  static void compute_mac(const Peer& peer, ByteView data, Mac& out) {
    crypto_generichash(out.data(), out.size(), data.data(), data.size(), peer.mac_key.data(),
                       peer.mac_key.size());
  }

  const Principal self_;
  SecretKey secret_;                            // Ed25519 seed || public key
  std::vector<Peer> replicas_;                  // index = replica id
  std::unordered_map<ClientId, Peer> clients_;  // the directory's clients
};

}  // namespace

void initialize() {
  // sodium_init is itself thread-safe and idempotent; the function-local
  // static makes every later call free. Without a working libsodium (it
  // fails only if the system cannot provide randomness) no key can be made
  // and nothing can be verified, so there is no way to continue.
  static const bool initialized = [] { return sodium_init() >= 0; }();
  if (!initialized) {
    std::fprintf(stderr, "pbft: libsodium failed to initialize (sodium_init); cannot continue\n");
    std::abort();
  }
}

KeyPair generate_keypair() {
  initialize();
  KeyPair pair;
  crypto_sign_keypair(pair.public_key.data(), pair.secret_key.data());
  return pair;
}

KeyPair keypair_from_seed(const std::array<uint8_t, 32>& seed) {
  static_assert(sizeof(seed) == seed_size);
  initialize();
  KeyPair pair;
  crypto_sign_seed_keypair(pair.public_key.data(), pair.secret_key.data(), seed.data());
  return pair;
}

Result<std::unique_ptr<Crypto>> make_crypto(Principal self, const SecretKey& secret,
                                            std::shared_ptr<const KeyDirectory> directory) {
  initialize();
  if (directory == nullptr) return Status::error("no key directory");
  const PublicKey* listed = directory->find(self);
  if (listed == nullptr) {
    return Status::error(describe(self) + " is not in the key directory");
  }

  // An Ed25519 secret key is seed || public key. Rederiving the pair from
  // the seed catches a key file whose halves do not belong together, which
  // would otherwise sign with one key while claiming another.
  Wiped<KeyPair> rederived_holder;
  KeyPair& rederived = rederived_holder.value;
  // The seed is the first half of the secret key.
  crypto_sign_seed_keypair(rederived.public_key.data(), rederived.secret_key.data(), secret.data());
  if (sodium_memcmp(rederived.secret_key.data(), secret.data(), secret.size()) != 0) {
    return Status::error("the secret key of " + describe(self) +
                         " is corrupt: its public half does not match its seed");
  }
  if (rederived.public_key != *listed) {
    return Status::error("the secret key does not match the public key of " + describe(self) +
                         " in the key directory");
  }

  Self me;
  me.public_key = *listed;
  // Cannot fail: every Ed25519 secret key has a Curve25519 scalar.
  crypto_sign_ed25519_sk_to_curve25519(me.curve_secret.value.data(), secret.data());

  // Two principals with one key could sign for each other, and the
  // identities the protocol counts (quorums of distinct replicas) would be
  // void: a configuration like that is refused.
  std::map<PublicKey, Principal> owner;
  auto claim = [&](Principal who, const PublicKey& key) -> Status {
    auto [it, inserted] = owner.emplace(key, who);
    if (!inserted) {
      return Status::error(describe(it->second) + " and " + describe(who) +
                           " have the same public key");
    }
    return Status::ok();
  };

  auto crypto = std::make_unique<SodiumCrypto>(self, secret, directory->replicas.size(),
                                               directory->clients.size());
  for (ReplicaId id = 0; id < directory->replicas.size(); ++id) {
    const Principal who = Principal::replica(id);
    if (Status s = claim(who, directory->replicas[id]); !s) return s;
    if (Status s = crypto->add_peer(me, who, directory->replicas[id], true); !s) return s;
  }
  // Clients talk to replicas only: a client derives no MAC keys with the
  // other clients (with thousands of clients, that would be thousands of
  // X25519 operations per client for keys it never uses).
  const bool is_client = self.kind == PrincipalKind::client;
  for (const auto& [id, key] : directory->clients) {
    const Principal who = Principal::client(id);
    if (Status s = claim(who, key); !s) return s;
    if (Status s = crypto->add_peer(me, who, key, !is_client); !s) return s;
  }
  return std::unique_ptr<Crypto>(std::move(crypto));
}

}  // namespace pbft::sodium
