// The simulator's Crypto: the same contract as the real one
// (crypto_conformance.h), plus what the simulator relies on: the same seed
// gives the same bytes (a failing run replays exactly), different seeds give
// different universes, and changed bytes never go unnoticed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "tests/crypto_conformance.h"

namespace pbft {
namespace {

using crypto_test::bytes_of;
using crypto_test::patterned;

class FakeUniverse {
 public:
  FakeUniverse(uint64_t seed, uint32_t replica_count, uint32_t client_count)
      : seed_(seed), replica_count_(replica_count), client_count_(client_count) {}

  std::unique_ptr<Crypto> make(Principal self) const {
    return fake::make_crypto(self, seed_, replica_count_, client_count_);
  }

 private:
  uint64_t seed_;
  uint32_t replica_count_;
  uint32_t client_count_;
};

}  // namespace

namespace crypto_test {
INSTANTIATE_TYPED_TEST_SUITE_P(Fake, CryptoConformance, ::testing::Types<FakeUniverse>);
}  // namespace crypto_test

namespace {

constexpr uint32_t n = 4;
constexpr uint32_t clients = 3;

// Two instances built from the same seed are interchangeable: what one
// signs or MACs, the other reproduces byte for byte.
TEST(FakeCrypto, SameSeedGivesSameBytes) {
  const Bytes data = patterned(100);
  auto a = fake::make_crypto(Principal::replica(1), 42, n, clients);
  auto b = fake::make_crypto(Principal::replica(1), 42, n, clients);
  EXPECT_EQ(a->sign(data), b->sign(data));
  EXPECT_EQ(a->mac(Principal::client(2), data), b->mac(Principal::client(2), data));
  EXPECT_EQ(a->mac(Principal::replica(3), data), b->mac(Principal::replica(3), data));
  EXPECT_EQ(a->digest(data), b->digest(data));
}

// Pinned outputs: the simulator's replay of a seed depends on these bytes
// not changing between builds or platforms. The values were computed by an
// independent Python model of the hash in fake_crypto.cpp (and agree with
// it). If the hash is changed on purpose, update them: old seeds then replay
// differently.
TEST(FakeCrypto, OutputsArePinned) {
  auto replica_0 = fake::make_crypto(Principal::replica(0), 1, n, clients);
  EXPECT_EQ(to_hex(replica_0->digest(as_bytes("abc"))),
            "fba9dfdf529032b581405c7f627a04325d20971e035536c66fc43cb178d904a8");
  EXPECT_EQ(to_hex(replica_0->sign(as_bytes("abc"))),
            "93fcff6ca7e91e521797a54a74750b9a298d2b11476ee7e27da8986956dd03a0"
            "d10ff6c3e763c4dff7341b41583a1db2bf4d34b1ffa12c0475a1ac0fff190f53");
  EXPECT_EQ(to_hex(replica_0->mac(Principal::replica(1), as_bytes("abc"))),
            "edb32828acb4ce2ea6af25bfa9cb0676");
}

TEST(FakeCrypto, DifferentSeedsGiveDifferentUniverses) {
  const Bytes data = patterned(100);
  auto one = fake::make_crypto(Principal::replica(1), 1, n, clients);
  auto two = fake::make_crypto(Principal::replica(1), 2, n, clients);
  auto two_peer = fake::make_crypto(Principal::replica(2), 2, n, clients);
  EXPECT_NE(one->sign(data), two->sign(data));
  EXPECT_NE(one->mac(Principal::replica(2), data), two->mac(Principal::replica(2), data));
  EXPECT_FALSE(two_peer->verify(Principal::replica(1), data, one->sign(data)));
  EXPECT_FALSE(
      two_peer->verify_mac(Principal::replica(1), data, one->mac(Principal::replica(2), data)));
  EXPECT_TRUE(two_peer->verify(Principal::replica(1), data, two->sign(data)));
}

// The digest is a hash function, not a secret: it does not depend on the
// universe, like BLAKE2b.
TEST(FakeCrypto, DigestDoesNotDependOnTheSeed) {
  const Bytes data = patterned(100);
  EXPECT_EQ(fake::make_crypto(Principal::replica(0), 1, n, clients)->digest(data),
            fake::make_crypto(Principal::client(2), 77, n, clients)->digest(data));
}

// A universe's size is part of it: a principal beyond it is unknown.
TEST(FakeCrypto, PrincipalsBeyondTheCountsAreUnknown) {
  const Bytes data = patterned(100);
  auto big = fake::make_crypto(Principal::client(9), 5, n, 10);
  auto small = fake::make_crypto(Principal::replica(0), 5, n, 3);
  EXPECT_FALSE(small->verify(Principal::client(9), data, big->sign(data)));
  EXPECT_FALSE(
      small->verify_mac(Principal::client(9), data, big->mac(Principal::replica(0), data)));
  auto big_replica = fake::make_crypto(Principal::replica(0), 5, n, 10);
  EXPECT_TRUE(big_replica->verify(Principal::client(9), data, big->sign(data)));
}

// Any single flipped bit of a 1 KiB message gives a digest, a signature and
// a MAC different from the original and from every other flip.
TEST(FakeCrypto, NoCollisionAmongSingleBitFlips) {
  auto crypto = fake::make_crypto(Principal::client(0), 3, n, clients);
  const Bytes data = patterned(1024);
  std::set<Digest> digests = {crypto->digest(data)};
  std::set<Signature> signatures = {crypto->sign(data)};
  std::set<Mac> macs = {crypto->mac(Principal::replica(0), data)};
  for (size_t bit = 0; bit < data.size() * 8; ++bit) {
    Bytes changed = data;
    changed[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    ASSERT_TRUE(digests.insert(crypto->digest(changed)).second) << bit;
    ASSERT_TRUE(signatures.insert(crypto->sign(changed)).second) << bit;
    ASSERT_TRUE(macs.insert(crypto->mac(Principal::replica(0), changed)).second) << bit;
  }
}

// Structured inputs are what the simulator hashes (headers full of small
// integers and zeros): every pair among them must still differ, including
// in each 64-bit half of every MAC (a weak lane would show as a repeat).
TEST(FakeCrypto, NoCollisionAmongStructuredInputs) {
  auto crypto = fake::make_crypto(Principal::replica(0), 3, n, clients);
  std::set<Digest> digests;
  std::set<uint64_t> mac_halves;
  size_t inputs = 0;
  for (uint32_t value = 0; value < 256; ++value) {
    for (size_t position = 0; position < 128; position += 4) {
      Bytes data(128, 0);
      data[position] = static_cast<uint8_t>(value);
      if (value == 0 && position > 0) continue;  // the all-zero input once
      ++inputs;
      ASSERT_TRUE(digests.insert(crypto->digest(data)).second) << value << "@" << position;
      const Mac tag = crypto->mac(Principal::replica(1), data);
      uint64_t low = 0, high = 0;
      std::memcpy(&low, tag.data(), 8);
      std::memcpy(&high, tag.data() + 8, 8);
      ASSERT_TRUE(mac_halves.insert(low).second) << value << "@" << position;
      ASSERT_TRUE(mac_halves.insert(high).second) << value << "@" << position;
    }
  }
  EXPECT_EQ(digests.size(), inputs);
}

// Each output bit should flip for about half of all single-bit input
// changes; a mixer that leaves some output bits untouched would show here.
TEST(FakeCrypto, DigestBitsAvalanche) {
  auto crypto = fake::make_crypto(Principal::replica(0), 3, n, clients);
  const Bytes data = patterned(200);
  const Digest base = crypto->digest(data);
  std::array<int, digest_size * 8> flips{};
  const size_t trials = data.size() * 8;
  for (size_t bit = 0; bit < trials; ++bit) {
    Bytes changed = data;
    changed[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    const Digest d = crypto->digest(changed);
    for (size_t out = 0; out < flips.size(); ++out) {
      flips[out] += ((d[out / 8] ^ base[out / 8]) >> (out % 8)) & 1;
    }
  }
  // 1600 trials: a fair coin lands in [640, 960] except with probability
  // below 1e-15 per bit.
  for (size_t out = 0; out < flips.size(); ++out) {
    EXPECT_GT(flips[out], static_cast<int>(trials * 4 / 10)) << out;
    EXPECT_LT(flips[out], static_cast<int>(trials * 6 / 10)) << out;
  }
}

TEST(FakeCrypto, SignatureAndMacAreNotTheDigest) {
  auto crypto = fake::make_crypto(Principal::replica(0), 3, n, clients);
  const Bytes data = bytes_of("request");
  const Digest d = crypto->digest(data);
  const Signature s = crypto->sign(data);
  const Mac m = crypto->mac(Principal::replica(0), data);
  EXPECT_FALSE(std::equal(d.begin(), d.end(), s.begin()));
  EXPECT_FALSE(std::equal(m.begin(), m.end(), d.begin()));
  EXPECT_FALSE(std::equal(m.begin(), m.end(), s.begin()));
}

// make_crypto's caller is the simulator, building its own universe: a self
// outside it is a bug there, caught at once.
TEST(FakeCryptoDeathTest, SelfOutsideTheUniverseIsAnInvariantViolation) {
  EXPECT_DEATH(fake::make_crypto(Principal::replica(n), 1, n, clients), "invariant violated");
  EXPECT_DEATH(fake::make_crypto(Principal::client(clients), 1, n, clients), "invariant violated");
}

}  // namespace
}  // namespace pbft
