// The simulator's cryptography. FOR SIMULATION AND TESTS ONLY: every secret
// derives from the universe seed, so anyone who knows the seed can forge
// anything. What it does keep is the shape of the real thing within the
// simulation:
//
//   - a principal's Crypto signs and MACs only under its own identity (the
//     interface offers nothing else), and a tag made by one principal never
//     verifies as another's;
//   - any changed, added or removed byte changes digests, signatures and MACs
//     (a difference is lost only if a 64-bit multiply-fold happens to
//     collide, about 2^-64 per block: the hash is not collision resistant
//     against someone searching for collisions, but the simulator's faults
//     flip, drop and replay bytes, they do not search);
//   - unknown principals fail verification;
//   - the same seed gives the same bytes on every run and every platform, so
//     a failing simulation replays exactly.
//
// It is fast because every operation is one pass of a multiply-mix hash over
// the data (a fraction of a cycle per byte: about 90 ns for 1 KiB where
// BLAKE2b takes 1 us, 0.1 us for a signature where Ed25519 takes 20 us to
// sign and 50 us to verify): no elliptic curves and no libsodium.
#include <bit>
#include <cstring>

#include "pbft/assert.h"
#include "pbft/crypto.h"

namespace pbft::fake {
namespace {

// ---------------------------------------------------------------------------
// The hash: 4 lanes of 64 bits, each absorbing 16 bytes of every 64-byte
// block through a 64x64->128 multiply folded to 64 bits (the "mum" of
// wyhash), then a finalisation that mixes all lanes and the length into each
// output word. Both operands of every multiply depend on the lane's state, so
// no fixed data pattern (such as a word equal to a constant) can erase what
// came before; the lanes chain block to block, so reordering blocks changes
// the result; the length enters the finalisation, so zero padding of the last
// block cannot be confused with zero data.

__extension__ using Uint128 = unsigned __int128;

inline uint64_t mum(uint64_t a, uint64_t b) {
  const Uint128 product = static_cast<Uint128>(a) * b;
  return static_cast<uint64_t>(product) ^ static_cast<uint64_t>(product >> 64);
}

// Odd 64-bit constants from splitmix64, generated at compile time so that
// there is no table to mistype. Their only job is to be different from each
// other and to look random.
constexpr uint64_t splitmix64(uint64_t& state) {
  state += 0x9e3779b97f4a7c15ULL;
  uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

constexpr size_t lanes = 4;
constexpr size_t block_size = 64;
constexpr size_t output_words_max = 8;  // a signature is 64 bytes
constexpr size_t finalize_constants_per_word = 6;

struct Constants {
  uint64_t absorb[2 * lanes];
  uint64_t finalize[output_words_max][finalize_constants_per_word];
};

constexpr Constants make_constants() {
  Constants c{};
  uint64_t state = 0x50424654'46414b45ULL;  // "PBFTFAKE"
  for (uint64_t& k : c.absorb) k = splitmix64(state) | 1;
  for (auto& word : c.finalize) {
    for (uint64_t& k : word) k = splitmix64(state) | 1;
  }
  return c;
}

constexpr Constants constants = make_constants();

// A 256-bit key: the hash is a keyed function, and every use (digest,
// secrets, pairwise keys, signatures, MACs) has its own key.
using Key = std::array<uint64_t, lanes>;

inline uint64_t load_le64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}

inline void store_le64(uint8_t* p, uint64_t v) {
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  std::memcpy(p, &v, sizeof v);
}

inline void absorb_block(uint64_t (&lane)[lanes], const uint8_t* block) {
  for (size_t l = 0; l < lanes; ++l) {
    const uint64_t w0 = load_le64(block + 16 * l);
    const uint64_t w1 = load_le64(block + 16 * l + 8);
    lane[l] = mum(w0 ^ constants.absorb[2 * l] ^ lane[l],
                  w1 ^ constants.absorb[2 * l + 1] ^ std::rotl(lane[l], 32));
  }
}

// Writes out_words 64-bit words of H_key(data) to out, little-endian.
void keyed_hash(const Key& key, ByteView data, uint8_t* out, size_t out_words) {
  PBFT_ASSERT(out_words <= output_words_max);
  uint64_t lane[lanes];
  for (size_t l = 0; l < lanes; ++l) lane[l] = key[l];

  const uint8_t* p = data.data();
  size_t remaining = data.size();
  for (; remaining >= block_size; remaining -= block_size, p += block_size) {
    absorb_block(lane, p);
  }
  if (remaining > 0) {
    uint8_t last[block_size] = {};
    std::memcpy(last, p, remaining);
    absorb_block(lane, last);
  }

  const uint64_t length = data.size();
  for (size_t j = 0; j < out_words; ++j) {
    const uint64_t* f = constants.finalize[j];
    const uint64_t u = mum(lane[0] ^ f[0], lane[1] ^ f[1]);
    const uint64_t v = mum(lane[2] ^ f[2], lane[3] ^ f[3] ^ length);
    store_le64(out + 8 * j, mum(u ^ f[4], v ^ f[5]));
  }
}

Key to_key(const uint8_t* bytes) {
  Key key;
  for (size_t l = 0; l < lanes; ++l) key[l] = load_le64(bytes + 8 * l);
  return key;
}

// Domain separation: each use XORs its own constant into the key, so that
// e.g. a MAC key never acts as a signing secret. Values are arbitrary and
// distinct (ASCII tags).
constexpr uint64_t domain_digest = 0x74736567'69640000ULL;  // "digest"
constexpr uint64_t domain_secret = 0x74657263'65730000ULL;  // "secret"
constexpr uint64_t domain_pair = 0x72696170'00000000ULL;    // "pair"
constexpr uint64_t domain_sign = 0x6e676973'00000000ULL;    // "sign"
constexpr uint64_t domain_mac = 0x0063616d'00000000ULL;     // "mac"

Key with_domain(Key key, uint64_t domain) {
  for (uint64_t& k : key) k ^= domain;
  return key;
}

// The per-principal secret: H over (kind, id) under a key made from the
// universe seed.
Key principal_secret(uint64_t universe_seed, Principal p) {
  uint8_t name[8];
  store_le64(name, (static_cast<uint64_t>(p.kind) << 32) | p.id);
  const Key key =
      with_domain({universe_seed, ~universe_seed, universe_seed, ~universe_seed}, domain_secret);
  uint8_t out[8 * lanes];
  keyed_hash(key, ByteView(name, sizeof name), out, lanes);
  return to_key(out);
}

// The key two principals share: H over both secrets in the order of the
// principals, so that both sides hash the same bytes.
Key pairwise_key(uint64_t universe_seed, Principal a, const Key& a_secret, Principal b,
                 const Key& b_secret) {
  const bool a_first = a.kind != b.kind ? a.kind < b.kind : a.id <= b.id;
  const Key& first = a_first ? a_secret : b_secret;
  const Key& second = a_first ? b_secret : a_secret;
  uint8_t both[16 * lanes];
  for (size_t l = 0; l < lanes; ++l) {
    store_le64(both + 8 * l, first[l]);
    store_le64(both + 8 * (lanes + l), second[l]);
  }
  const Key key =
      with_domain({universe_seed, universe_seed, ~universe_seed, ~universe_seed}, domain_pair);
  uint8_t out[8 * lanes];
  keyed_hash(key, ByteView(both, sizeof both), out, lanes);
  return to_key(out);
}

class FakeCrypto final : public Crypto {
 public:
  FakeCrypto(Principal self, uint64_t universe_seed, uint32_t replica_count, uint32_t client_count)
      : self_(self),
        universe_seed_(universe_seed),
        replica_count_(replica_count),
        client_count_(client_count),
        self_secret_(principal_secret(universe_seed, self)) {
    // Keys with replicas are precomputed: they are the hot path
    // (authenticators, commits). Keys with clients are derived per call, so
    // that a universe of many clients costs no memory per instance.
    replica_secrets_.reserve(replica_count);
    replica_mac_keys_.reserve(replica_count);
    for (ReplicaId r = 0; r < replica_count; ++r) {
      const Principal peer = Principal::replica(r);
      replica_secrets_.push_back(principal_secret(universe_seed, peer));
      replica_mac_keys_.push_back(with_domain(
          pairwise_key(universe_seed, self, self_secret_, peer, replica_secrets_.back()),
          domain_mac));
    }
  }

  Principal self() const override { return self_; }

  Digest digest(ByteView data) const override {
    // The digest is a hash function, not a secret: it does not depend on
    // the universe seed.
    static constexpr Key digest_key = {domain_digest, ~domain_digest, domain_digest,
                                       ~domain_digest};
    Digest out;
    keyed_hash(digest_key, data, out.data(), out.size() / 8);
    return out;
  }

  Signature sign(ByteView data) const override {
    Signature out;
    keyed_hash(with_domain(self_secret_, domain_sign), data, out.data(), out.size() / 8);
    return out;
  }

  bool verify(Principal signer, ByteView data, const Signature& signature) const override {
    if (!known(signer)) return false;
    Signature expected;
    keyed_hash(with_domain(secret_of(signer), domain_sign), data, expected.data(),
               expected.size() / 8);
    return expected == signature;
  }

  // Like the real one: an unknown peer gets the all-zero tag, which no check
  // accepts.
  Mac mac(Principal peer, ByteView data) const override {
    Mac out{};
    if (!known(peer)) return out;
    keyed_hash(mac_key(peer), data, out.data(), out.size() / 8);
    return out;
  }

  bool verify_mac(Principal peer, ByteView data, const Mac& tag) const override {
    if (!known(peer)) return false;
    Mac expected;
    keyed_hash(mac_key(peer), data, expected.data(), expected.size() / 8);
    return expected == tag;
  }

 private:
  bool known(Principal p) const {
    switch (p.kind) {
      case PrincipalKind::replica:
        return p.id < replica_count_;
      case PrincipalKind::client:
        return p.id < client_count_;
    }
    return false;
  }

  // p must be known.
  Key secret_of(Principal p) const {
    if (p.kind == PrincipalKind::replica) return replica_secrets_[p.id];
    return principal_secret(universe_seed_, p);
  }

  // peer must be known.
  Key mac_key(Principal peer) const {
    if (peer.kind == PrincipalKind::replica) return replica_mac_keys_[peer.id];
    return with_domain(pairwise_key(universe_seed_, self_, self_secret_, peer, secret_of(peer)),
                       domain_mac);
  }

  const Principal self_;
  const uint64_t universe_seed_;
  const uint32_t replica_count_;
  const uint32_t client_count_;
  const Key self_secret_;
  std::vector<Key> replica_secrets_;   // index = replica id
  std::vector<Key> replica_mac_keys_;  // index = replica id; key shared with self
};

}  // namespace

std::unique_ptr<Crypto> make_crypto(Principal self, uint64_t universe_seed, uint32_t replica_count,
                                    uint32_t client_count) {
  // The simulator builds its universe from its own configuration; a self
  // outside it is a bug in the caller, not input from a peer.
  PBFT_ASSERT(self.kind == PrincipalKind::replica ? self.id < replica_count
                                                  : self.id < client_count);
  return std::make_unique<FakeCrypto>(self, universe_seed, replica_count, client_count);
}

}  // namespace pbft::fake
