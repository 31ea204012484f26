// The libsodium Crypto: the shared contract (crypto_conformance.h), known
// answers from the standards and from an independent implementation, and
// make_crypto's refusals of a bad key configuration.
#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "tests/crypto_conformance.h"

namespace pbft {
namespace {

using crypto_test::bytes_of;
using crypto_test::patterned;

template <size_t N>
std::array<uint8_t, N> from_hex(std::string_view hex) {
  std::array<uint8_t, N> out{};
  EXPECT_EQ(hex.size(), 2 * N);
  for (size_t i = 0; i < N && 2 * i + 1 < hex.size(); ++i) {
    out[i] = static_cast<uint8_t>(std::stoi(std::string(hex.substr(2 * i, 2)), nullptr, 16));
  }
  return out;
}

// Keys from seeds, so that every run uses the same universe.
std::array<uint8_t, 32> seed_for(uint64_t universe_seed, Principal p) {
  std::array<uint8_t, 32> seed{};
  for (int i = 0; i < 8; ++i) seed[i] = static_cast<uint8_t>(universe_seed >> (8 * i));
  seed[8] = static_cast<uint8_t>(p.kind);
  for (int i = 0; i < 4; ++i) seed[9 + i] = static_cast<uint8_t>(p.id >> (8 * i));
  return seed;
}

class SodiumUniverse {
 public:
  SodiumUniverse(uint64_t seed, uint32_t replica_count, uint32_t client_count) : seed_(seed) {
    sodium::initialize();
    auto directory = std::make_shared<KeyDirectory>();
    for (ReplicaId r = 0; r < replica_count; ++r) {
      directory->replicas.push_back(key(Principal::replica(r)).public_key);
    }
    for (ClientId c = 0; c < client_count; ++c) {
      directory->clients[c] = key(Principal::client(c)).public_key;
    }
    directory_ = std::move(directory);
  }

  std::unique_ptr<Crypto> make(Principal self) const {
    auto crypto = sodium::make_crypto(self, key(self).secret_key, directory_);
    EXPECT_TRUE(crypto.is_ok()) << crypto.status().reason();
    return crypto.is_ok() ? std::move(crypto).value() : nullptr;
  }

 private:
  KeyPair key(Principal p) const { return sodium::keypair_from_seed(seed_for(seed_, p)); }

  uint64_t seed_;
  std::shared_ptr<const KeyDirectory> directory_;
};

}  // namespace

namespace crypto_test {
INSTANTIATE_TYPED_TEST_SUITE_P(Sodium, CryptoConformance, ::testing::Types<SodiumUniverse>);
}  // namespace crypto_test

namespace {

// RFC 8032, section 7.1, tests 1 and 2.
constexpr std::string_view rfc8032_seed_1 =
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
constexpr std::string_view rfc8032_public_1 =
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
constexpr std::string_view rfc8032_signature_1 =  // of the empty message
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e3970"
    "1cf9b46bd25bf5f0595bbe24655141438e7a100b";
constexpr std::string_view rfc8032_seed_2 =
    "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";
constexpr std::string_view rfc8032_public_2 =
    "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
constexpr std::string_view rfc8032_signature_2 =  // of the one byte 0x72
    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613"
    "d0f11d8c387b2eaeb4302aeeb00d291612bb0c00";

class SodiumCryptoTest : public ::testing::Test {
 protected:
  void SetUp() override { sodium::initialize(); }

  // Replicas 0 and 1 hold the RFC 8032 keys; replicas 2, 3 and clients 5
  // and 9 (sparse ids: the directory lists whom it lists) hold seeded keys.
  static std::shared_ptr<KeyDirectory> rfc_directory() {
    auto directory = std::make_shared<KeyDirectory>();
    directory->replicas = {from_hex<32>(rfc8032_public_1), from_hex<32>(rfc8032_public_2),
                           keypair(Principal::replica(2)).public_key,
                           keypair(Principal::replica(3)).public_key};
    directory->clients[5] = keypair(Principal::client(5)).public_key;
    directory->clients[9] = keypair(Principal::client(9)).public_key;
    return directory;
  }
  static KeyPair keypair(Principal p) { return sodium::keypair_from_seed(seed_for(99, p)); }
  static KeyPair rfc_keypair_1() { return sodium::keypair_from_seed(from_hex<32>(rfc8032_seed_1)); }
  static KeyPair rfc_keypair_2() { return sodium::keypair_from_seed(from_hex<32>(rfc8032_seed_2)); }

  static std::unique_ptr<Crypto> make(Principal self, const SecretKey& secret,
                                      std::shared_ptr<const KeyDirectory> directory) {
    auto crypto = sodium::make_crypto(self, secret, std::move(directory));
    EXPECT_TRUE(crypto.is_ok()) << crypto.status().reason();
    return crypto.is_ok() ? std::move(crypto).value() : nullptr;
  }
};

// D(m) is BLAKE2b-256 (crypto.h); answers from RFC 7693's reference code
// (Python hashlib.blake2b(m, digest_size=32)).
TEST_F(SodiumCryptoTest, DigestIsBlake2b256) {
  auto crypto = make(Principal::replica(0), rfc_keypair_1().secret_key, rfc_directory());
  ASSERT_NE(crypto, nullptr);
  EXPECT_EQ(to_hex(crypto->digest(as_bytes("abc"))),
            "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
  EXPECT_EQ(to_hex(crypto->digest({})),
            "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
}

// Signatures are Ed25519 (crypto.h): RFC 8032's test vectors.
TEST_F(SodiumCryptoTest, SignaturesAreEd25519) {
  const KeyPair one = rfc_keypair_1();
  const KeyPair two = rfc_keypair_2();
  EXPECT_EQ(to_hex(one.public_key), rfc8032_public_1);
  EXPECT_EQ(to_hex(two.public_key), rfc8032_public_2);

  const auto directory = rfc_directory();
  auto replica_0 = make(Principal::replica(0), one.secret_key, directory);
  auto replica_1 = make(Principal::replica(1), two.secret_key, directory);
  ASSERT_NE(replica_0, nullptr);
  ASSERT_NE(replica_1, nullptr);
  EXPECT_EQ(to_hex(replica_0->sign({})), rfc8032_signature_1);
  const Bytes message = {0x72};
  EXPECT_EQ(to_hex(replica_1->sign(message)), rfc8032_signature_2);
  EXPECT_TRUE(replica_1->verify(Principal::replica(0), {}, from_hex<64>(rfc8032_signature_1)));
  EXPECT_TRUE(replica_0->verify(Principal::replica(1), message, from_hex<64>(rfc8032_signature_2)));
}

// The pairwise MAC key derivation is part of the wire contract (two builds
// must agree). Expected values computed independently of libsodium, with
// Python's `cryptography` (X25519) and hashlib (BLAKE2b):
//   k   = BLAKE2b-256(X25519(a, B) || min(pk_a, pk_b) || max(pk_a, pk_b) ||
//                     "pbft/mac-key/x25519-blake2b/v1")
//   mac = BLAKE2b(data, key=k, digest_size=16)
TEST_F(SodiumCryptoTest, MacKeyDerivationKnownAnswer) {
  const auto directory = rfc_directory();
  auto replica_0 = make(Principal::replica(0), rfc_keypair_1().secret_key, directory);
  auto replica_1 = make(Principal::replica(1), rfc_keypair_2().secret_key, directory);
  ASSERT_NE(replica_0, nullptr);
  ASSERT_NE(replica_1, nullptr);
  EXPECT_EQ(to_hex(replica_0->mac(Principal::replica(1), as_bytes("abc"))),
            "259f2c4c4908ac8c840f53876d563605");
  EXPECT_EQ(to_hex(replica_1->mac(Principal::replica(0), as_bytes("abc"))),
            "259f2c4c4908ac8c840f53876d563605");
  EXPECT_EQ(to_hex(replica_0->mac(Principal::replica(0), as_bytes("abc"))),
            "3d951ea38f3ebaab4bacb8b135c3d2ce");
}

TEST_F(SodiumCryptoTest, SparseClientIdsAreKnownExactlyAsListed) {
  const auto directory = rfc_directory();
  auto replica_2 =
      make(Principal::replica(2), keypair(Principal::replica(2)).secret_key, directory);
  auto client_9 = make(Principal::client(9), keypair(Principal::client(9)).secret_key, directory);
  ASSERT_NE(replica_2, nullptr);
  ASSERT_NE(client_9, nullptr);
  const Bytes data = patterned(32);
  EXPECT_TRUE(replica_2->verify(Principal::client(9), data, client_9->sign(data)));
  EXPECT_TRUE(replica_2->verify_mac(Principal::client(9), data,
                                    client_9->mac(Principal::replica(2), data)));
  // Client 6 is not listed: an honest-looking claim to be it fails.
  EXPECT_FALSE(replica_2->verify(Principal::client(6), data, client_9->sign(data)));
  EXPECT_FALSE(replica_2->verify_mac(Principal::client(6), data,
                                     client_9->mac(Principal::replica(2), data)));
}

// Clients never talk to each other, so a client derives MAC keys with the
// replicas only (thousands of clients would otherwise cost each of them
// thousands of X25519 operations); it still checks other clients' signatures.
TEST_F(SodiumCryptoTest, ClientsShareNoMacKeyWithEachOther) {
  const auto directory = rfc_directory();
  ASSERT_GE(directory->clients.size(), 2u);
  const ClientId a = directory->clients.begin()->first;
  const ClientId b = std::next(directory->clients.begin())->first;
  auto client_a = make(Principal::client(a), keypair(Principal::client(a)).secret_key, directory);
  auto client_b = make(Principal::client(b), keypair(Principal::client(b)).secret_key, directory);
  ASSERT_NE(client_a, nullptr);
  ASSERT_NE(client_b, nullptr);
  const Bytes data = patterned(32);
  EXPECT_EQ(client_a->mac(Principal::client(b), data), Mac{}) << "no key: the all-zero tag";
  EXPECT_FALSE(client_b->verify_mac(Principal::client(a), data,
                                    client_a->mac(Principal::client(b), data)));
  EXPECT_TRUE(client_b->verify(Principal::client(a), data, client_a->sign(data)));
}

// make_crypto copies what it needs: the directory may go away.
TEST_F(SodiumCryptoTest, CryptoOutlivesTheDirectory) {
  auto directory = rfc_directory();
  auto replica_0 = make(Principal::replica(0), rfc_keypair_1().secret_key, directory);
  auto replica_1 = make(Principal::replica(1), rfc_keypair_2().secret_key, directory);
  ASSERT_NE(replica_0, nullptr);
  ASSERT_NE(replica_1, nullptr);
  directory->replicas.clear();
  directory.reset();
  const Bytes data = patterned(32);
  EXPECT_TRUE(replica_1->verify(Principal::replica(0), data, replica_0->sign(data)));
  EXPECT_TRUE(replica_1->verify_mac(Principal::replica(0), data,
                                    replica_0->mac(Principal::replica(1), data)));
}

TEST_F(SodiumCryptoTest, RejectsASecretKeyOfAnotherPrincipal) {
  auto crypto = sodium::make_crypto(Principal::replica(2),
                                    keypair(Principal::replica(3)).secret_key, rfc_directory());
  ASSERT_FALSE(crypto.is_ok());
  EXPECT_NE(crypto.reason().find("does not match the public key of replica 2"), std::string::npos)
      << crypto.reason();
}

// A secret key is seed || public key; halves from different keys are refused.
TEST_F(SodiumCryptoTest, RejectsASecretKeyWhoseHalvesDisagree) {
  SecretKey secret = keypair(Principal::replica(3)).secret_key;
  const PublicKey listed = rfc_directory()->replicas[2];
  std::copy(listed.begin(), listed.end(), secret.begin() + 32);
  auto crypto = sodium::make_crypto(Principal::replica(2), secret, rfc_directory());
  ASSERT_FALSE(crypto.is_ok());
  EXPECT_NE(crypto.reason().find("corrupt"), std::string::npos) << crypto.reason();
}

// Keys that are not points of the prime-order group would make the X25519
// shared secret predictable; make_crypto names the principal that has one.
TEST_F(SodiumCryptoTest, RejectsAMalformedReplicaPublicKey) {
  const std::vector<std::pair<std::string, PublicKey>> malformed = {
      {"all zero (small order)", PublicKey{}},
      {"identity point", from_hex<32>("01000000000000000000000000000000"
                                      "00000000000000000000000000000000")},
      {"not on the curve (y = 2)", from_hex<32>("02000000000000000000000000000000"
                                                "00000000000000000000000000000000")},
      {"all ones (non-canonical)", from_hex<32>("ffffffffffffffffffffffffffffffff"
                                                "ffffffffffffffffffffffffffffffff")},
  };
  for (const auto& [what, key] : malformed) {
    auto directory = rfc_directory();
    directory->replicas[3] = key;
    auto crypto = sodium::make_crypto(Principal::replica(0), rfc_keypair_1().secret_key, directory);
    ASSERT_FALSE(crypto.is_ok()) << what;
    EXPECT_NE(crypto.reason().find("public key of replica 3"), std::string::npos)
        << what << ": " << crypto.reason();
  }
}

TEST_F(SodiumCryptoTest, RejectsAMalformedClientPublicKey) {
  auto directory = rfc_directory();
  directory->clients[9] = PublicKey{};
  auto crypto = sodium::make_crypto(Principal::replica(0), rfc_keypair_1().secret_key, directory);
  ASSERT_FALSE(crypto.is_ok());
  EXPECT_NE(crypto.reason().find("public key of client 9"), std::string::npos) << crypto.reason();
}

// Two principals with one key could sign for each other.
TEST_F(SodiumCryptoTest, RejectsTwoPrincipalsWithOneKey) {
  auto directory = rfc_directory();
  directory->clients[5] = directory->replicas[1];
  auto crypto = sodium::make_crypto(Principal::replica(0), rfc_keypair_1().secret_key, directory);
  ASSERT_FALSE(crypto.is_ok());
  EXPECT_NE(crypto.reason().find("replica 1 and client 5 have the same public key"),
            std::string::npos)
      << crypto.reason();
}

TEST_F(SodiumCryptoTest, RejectsASelfNotInTheDirectory) {
  const SecretKey secret = keypair(Principal::client(7)).secret_key;
  auto as_client = sodium::make_crypto(Principal::client(7), secret, rfc_directory());
  ASSERT_FALSE(as_client.is_ok());
  EXPECT_NE(as_client.reason().find("client 7 is not in the key directory"), std::string::npos);
  auto as_replica = sodium::make_crypto(Principal::replica(4), secret, rfc_directory());
  ASSERT_FALSE(as_replica.is_ok());
  EXPECT_NE(as_replica.reason().find("replica 4 is not in the key directory"), std::string::npos);
  auto no_directory = sodium::make_crypto(Principal::replica(0), secret, nullptr);
  EXPECT_FALSE(no_directory.is_ok());
}

TEST_F(SodiumCryptoTest, KeypairFromSeedIsDeterministicAndGenerateIsFresh) {
  const std::array<uint8_t, 32> seed = seed_for(1, Principal::replica(0));
  const KeyPair a = sodium::keypair_from_seed(seed);
  const KeyPair b = sodium::keypair_from_seed(seed);
  EXPECT_EQ(a.public_key, b.public_key);
  EXPECT_EQ(a.secret_key, b.secret_key);
  // The secret key is seed || public key.
  EXPECT_TRUE(std::equal(seed.begin(), seed.end(), a.secret_key.begin()));
  EXPECT_TRUE(std::equal(a.public_key.begin(), a.public_key.end(), a.secret_key.begin() + 32));

  const KeyPair fresh_1 = sodium::generate_keypair();
  const KeyPair fresh_2 = sodium::generate_keypair();
  EXPECT_NE(fresh_1.public_key, fresh_2.public_key);
  auto directory = std::make_shared<KeyDirectory>();
  directory->replicas = {fresh_1.public_key, fresh_2.public_key};
  auto crypto = make(Principal::replica(1), fresh_2.secret_key, directory);
  ASSERT_NE(crypto, nullptr);
  const Bytes data = bytes_of("generated keys work");
  EXPECT_TRUE(crypto->verify(Principal::replica(1), data, crypto->sign(data)));
}

TEST(SodiumInitialize, IsIdempotentAcrossThreads) {
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back([] { sodium::initialize(); });
  for (std::thread& t : threads) t.join();
  sodium::initialize();
  EXPECT_NE(sodium::generate_keypair().public_key, PublicKey{});
}

}  // namespace
}  // namespace pbft
