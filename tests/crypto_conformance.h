// The contract of include/pbft/crypto.h as one typed test suite, run against
// every implementation: crypto_sodium_test.cpp and crypto_fake_test.cpp each
// instantiate it with a Universe that builds one Crypto per principal.
//
// A Universe type U provides:
//   U(uint64_t seed, uint32_t replica_count, uint32_t client_count);
//   std::unique_ptr<pbft::Crypto> make(pbft::Principal self) const;
// where clients are numbered 0..client_count-1.
//
// The rules checked are those of PBFT.md, Cryptography: signatures are
// verifiable by everyone and bind the signer; MACs use a key only the two
// parties share; an authenticator carries one MAC per replica, and each
// replica checks only its own entry.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "pbft/crypto.h"

namespace pbft::crypto_test {

inline Bytes bytes_of(std::string_view s) { return Bytes(s.begin(), s.end()); }

// A message with no structure a hash could be lucky on.
inline Bytes patterned(size_t size, uint8_t salt = 0) {
  Bytes b(size);
  for (size_t i = 0; i < size; ++i) b[i] = static_cast<uint8_t>(i * 131 + salt * 7 + 17);
  return b;
}

template <typename Universe>
class CryptoConformance : public ::testing::Test {
 protected:
  static constexpr uint32_t replica_count = 4;  // n = 3f+1, f = 1
  static constexpr uint32_t client_count = 3;

  CryptoConformance() : universe_(20240601, replica_count, client_count) {
    for (ReplicaId r = 0; r < replica_count; ++r) {
      replicas_.push_back(universe_.make(Principal::replica(r)));
    }
    for (ClientId c = 0; c < client_count; ++c) {
      clients_.push_back(universe_.make(Principal::client(c)));
    }
  }

  const Crypto& replica(ReplicaId r) const { return *replicas_.at(r); }
  const Crypto& client(ClientId c) const { return *clients_.at(c); }
  std::vector<const Crypto*> everyone() const {
    std::vector<const Crypto*> all;
    for (const auto& c : replicas_) all.push_back(c.get());
    for (const auto& c : clients_) all.push_back(c.get());
    return all;
  }

  Universe universe_;
  std::vector<std::unique_ptr<Crypto>> replicas_;
  std::vector<std::unique_ptr<Crypto>> clients_;
};

TYPED_TEST_SUITE_P(CryptoConformance);

TYPED_TEST_P(CryptoConformance, SelfIsThePrincipalItWasMadeFor) {
  EXPECT_EQ(this->replica(2).self(), Principal::replica(2));
  EXPECT_EQ(this->client(1).self(), Principal::client(1));
}

// Signatures are verifiable by every principal (PBFT.md: messages in
// certificates must be checkable by third parties).
TYPED_TEST_P(CryptoConformance, SignatureVerifiesAtEveryPrincipal) {
  const Bytes data = patterned(100);
  for (const Crypto* signer : this->everyone()) {
    const Signature signature = signer->sign(data);
    for (const Crypto* verifier : this->everyone()) {
      EXPECT_TRUE(verifier->verify(signer->self(), data, signature));
    }
  }
}

TYPED_TEST_P(CryptoConformance, SignatureOverEmptyDataVerifies) {
  const Signature signature = this->client(0).sign({});
  EXPECT_TRUE(this->replica(3).verify(Principal::client(0), {}, signature));
  EXPECT_FALSE(this->replica(3).verify(Principal::client(0), Bytes{0}, signature));
}

TYPED_TEST_P(CryptoConformance, SignatureFailsOnAnyFlippedDataBit) {
  const Bytes data = patterned(64);
  const Signature signature = this->replica(0).sign(data);
  for (size_t bit = 0; bit < data.size() * 8; ++bit) {
    Bytes changed = data;
    changed[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_FALSE(this->replica(1).verify(Principal::replica(0), changed, signature)) << bit;
  }
}

TYPED_TEST_P(CryptoConformance, SignatureFailsOnAnyFlippedSignatureBit) {
  const Bytes data = patterned(64);
  const Signature signature = this->replica(0).sign(data);
  for (size_t bit = 0; bit < signature.size() * 8; ++bit) {
    Signature changed = signature;
    changed[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_FALSE(this->replica(1).verify(Principal::replica(0), data, changed)) << bit;
  }
}

TYPED_TEST_P(CryptoConformance, SignatureFailsOnAddedOrRemovedByte) {
  const Bytes data = patterned(64);
  const Signature signature = this->replica(0).sign(data);
  Bytes longer = data;
  longer.push_back(0);
  Bytes shorter(data.begin(), data.end() - 1);
  Bytes headless(data.begin() + 1, data.end());
  EXPECT_FALSE(this->replica(1).verify(Principal::replica(0), longer, signature));
  EXPECT_FALSE(this->replica(1).verify(Principal::replica(0), shorter, signature));
  EXPECT_FALSE(this->replica(1).verify(Principal::replica(0), headless, signature));
}

// A signature binds its signer: a Byzantine replica cannot pass its own
// signature off as another principal's, not even the client with its id.
TYPED_TEST_P(CryptoConformance, SignatureFailsUnderAnotherSigner) {
  const Bytes data = patterned(64);
  const Signature signature = this->replica(1).sign(data);
  EXPECT_FALSE(this->replica(0).verify(Principal::replica(2), data, signature));
  EXPECT_FALSE(this->replica(0).verify(Principal::replica(0), data, signature));
  EXPECT_FALSE(this->replica(0).verify(Principal::client(1), data, signature));
  const Signature by_client = this->client(1).sign(data);
  EXPECT_FALSE(this->replica(0).verify(Principal::replica(1), data, by_client));
}

TYPED_TEST_P(CryptoConformance, UnknownSignerFails) {
  const Bytes data = patterned(64);
  const Signature signature = this->replica(1).sign(data);
  const uint32_t n = this->replica_count;
  EXPECT_FALSE(this->replica(0).verify(Principal::replica(n), data, signature));
  EXPECT_FALSE(this->replica(0).verify(Principal::client(this->client_count), data, signature));
  EXPECT_FALSE(this->replica(0).verify(Principal::client(UINT32_MAX), data, signature));
  EXPECT_FALSE(this->replica(0).verify(Principal::replica(UINT32_MAX), data, signature));
}

// A MAC from a to b is under the key a and b share: b verifies it as from a,
// and both compute the same tag for the same data.
// Every pair that talks shares a key: replicas with replicas and clients,
// not clients with clients (which never exchange messages).
TYPED_TEST_P(CryptoConformance, MacIsPairwiseSymmetric) {
  const Bytes data = patterned(80);
  for (const Crypto* a : this->everyone()) {
    for (const Crypto* b : this->everyone()) {
      if (a->self().kind == PrincipalKind::client && b->self().kind == PrincipalKind::client) {
        continue;
      }
      const Mac tag = a->mac(b->self(), data);
      EXPECT_TRUE(b->verify_mac(a->self(), data, tag));
      EXPECT_EQ(tag, b->mac(a->self(), data));
    }
  }
}

TYPED_TEST_P(CryptoConformance, MacWithSelfVerifies) {
  const Bytes data = patterned(80);
  const Mac tag = this->replica(2).mac(Principal::replica(2), data);
  EXPECT_TRUE(this->replica(2).verify_mac(Principal::replica(2), data, tag));
  EXPECT_NE(tag, this->replica(2).mac(Principal::replica(1), data));
}

// The key of (a, b) is not the key of (a, c) nor of (b, c): a third party
// can neither check nor forge the MAC.
TYPED_TEST_P(CryptoConformance, ThirdPartyKeyDiffers) {
  const Bytes data = patterned(80);
  const Mac tag = this->client(0).mac(Principal::replica(1), data);
  EXPECT_NE(tag, this->client(0).mac(Principal::replica(2), data));
  EXPECT_NE(tag, this->client(1).mac(Principal::replica(1), data));
  EXPECT_NE(tag, this->replica(2).mac(Principal::replica(1), data));
  EXPECT_FALSE(this->replica(2).verify_mac(Principal::client(0), data, tag));
  EXPECT_FALSE(this->replica(1).verify_mac(Principal::client(1), data, tag));
  EXPECT_FALSE(this->replica(1).verify_mac(Principal::replica(2), data, tag));
}

TYPED_TEST_P(CryptoConformance, MacSeparatesReplicaFromClientWithSameId) {
  const Bytes data = patterned(80);
  const Mac to_replica = this->replica(0).mac(Principal::replica(1), data);
  const Mac to_client = this->replica(0).mac(Principal::client(1), data);
  EXPECT_NE(to_replica, to_client);
  EXPECT_FALSE(this->client(1).verify_mac(Principal::replica(0), data, to_replica));
}

TYPED_TEST_P(CryptoConformance, MacFailsOnAnyFlippedBit) {
  const Bytes data = patterned(64);
  const Mac tag = this->client(2).mac(Principal::replica(3), data);
  for (size_t bit = 0; bit < data.size() * 8; ++bit) {
    Bytes changed = data;
    changed[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_FALSE(this->replica(3).verify_mac(Principal::client(2), changed, tag)) << bit;
  }
  for (size_t bit = 0; bit < tag.size() * 8; ++bit) {
    Mac changed = tag;
    changed[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_FALSE(this->replica(3).verify_mac(Principal::client(2), data, changed)) << bit;
  }
  Bytes longer = data;
  longer.push_back(0);
  EXPECT_FALSE(this->replica(3).verify_mac(Principal::client(2), longer, tag));
  EXPECT_FALSE(this->replica(3).verify_mac(Principal::client(2),
                                           ByteView(data).first(data.size() - 1), tag));
}

// An unknown peer shares no key: nothing from it verifies, and the tag made
// for it (the all-zero tag) verifies nowhere.
TYPED_TEST_P(CryptoConformance, UnknownPeerMacFails) {
  const Bytes data = patterned(64);
  const Principal stranger = Principal::client(this->client_count);
  const Mac tag = this->replica(0).mac(stranger, data);
  EXPECT_EQ(tag, Mac{});
  EXPECT_FALSE(this->replica(0).verify_mac(stranger, data, tag));
  EXPECT_FALSE(this->replica(0).verify_mac(Principal::replica(this->replica_count), data, Mac{}));
  for (const Crypto* c : this->everyone()) {
    EXPECT_FALSE(c->verify_mac(Principal::replica(0), data, tag));
  }
}

TYPED_TEST_P(CryptoConformance, DigestIsTheSameFunctionEverywhere) {
  const Bytes data = patterned(300);
  const Digest d = this->replica(0).digest(data);
  for (const Crypto* c : this->everyone()) EXPECT_EQ(c->digest(data), d);
}

// D(m) stands for m in certificates (PBFT.md, Cryptography): any changed,
// added or removed byte must give another digest.
TYPED_TEST_P(CryptoConformance, DigestChangesWithAnyByte) {
  const Crypto& c = this->replica(0);
  const Bytes data = patterned(130);  // two full 64-byte blocks and a tail
  const Digest d = c.digest(data);
  for (size_t bit = 0; bit < data.size() * 8; ++bit) {
    Bytes changed = data;
    changed[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_NE(c.digest(changed), d) << bit;
  }
  Bytes longer = data;
  longer.push_back(0);
  EXPECT_NE(c.digest(longer), d);
  EXPECT_NE(c.digest(ByteView(data).first(data.size() - 1)), d);
  EXPECT_NE(c.digest(ByteView(data).subspan(1)), d);
  EXPECT_NE(c.digest({}), c.digest(Bytes{0}));
}

// Zero padding inside the hash must not make m and m||0 collide, at any
// length around the block boundaries.
TYPED_TEST_P(CryptoConformance, DigestSeparatesLengthsOfZeros) {
  const Crypto& c = this->replica(0);
  std::vector<Digest> seen;
  for (size_t length = 0; length <= 200; ++length) {
    const Digest d = c.digest(Bytes(length, 0));
    for (const Digest& earlier : seen) ASSERT_NE(d, earlier) << length;
    seen.push_back(d);
  }
}

// Swapping two blocks (e.g. two requests of a batch) changes the digest.
TYPED_TEST_P(CryptoConformance, DigestDependsOnOrder) {
  const Crypto& c = this->replica(0);
  const Bytes a = patterned(64, 1), b = patterned(64, 2);
  Bytes ab = a, ba = b;
  ab.insert(ab.end(), b.begin(), b.end());
  ba.insert(ba.end(), a.begin(), a.end());
  EXPECT_NE(c.digest(ab), c.digest(ba));
}

// A client's authenticated request: one MAC per replica, each replica checks
// its own entry.
TYPED_TEST_P(CryptoConformance, AuthenticatorRoundTrip) {
  const Bytes data = patterned(200);
  const std::vector<Mac> authenticator =
      make_authenticator(this->client(1), this->replica_count, data);
  ASSERT_EQ(authenticator.size(), this->replica_count);
  for (ReplicaId r = 0; r < this->replica_count; ++r) {
    EXPECT_EQ(authenticator[r], this->client(1).mac(Principal::replica(r), data));
    EXPECT_TRUE(verify_authenticator(this->replica(r), Principal::client(1), authenticator, data));
  }
}

// A replica's multicast (commit, status) carries an authenticator too; its
// own entry is under the key it shares with itself.
TYPED_TEST_P(CryptoConformance, ReplicaAuthenticatorRoundTrip) {
  const Bytes data = patterned(48);
  const std::vector<Mac> authenticator =
      make_authenticator(this->replica(2), this->replica_count, data);
  for (ReplicaId r = 0; r < this->replica_count; ++r) {
    EXPECT_TRUE(verify_authenticator(this->replica(r), Principal::replica(2), authenticator, data));
  }
}

// verify_authenticator cannot know n; it rejects an authenticator too short
// to hold self's entry (the Verifier checks the size against n).
TYPED_TEST_P(CryptoConformance, AuthenticatorTooShortIsRejected) {
  const Bytes data = patterned(48);
  const uint32_t n = this->replica_count;
  std::vector<Mac> authenticator = make_authenticator(this->client(0), n, data);
  authenticator.pop_back();
  EXPECT_FALSE(
      verify_authenticator(this->replica(n - 1), Principal::client(0), authenticator, data));
  EXPECT_TRUE(verify_authenticator(this->replica(0), Principal::client(0), authenticator, data));
  EXPECT_FALSE(verify_authenticator(this->replica(0), Principal::client(0), {}, data));
  EXPECT_TRUE(make_authenticator(this->client(0), 0, data).empty());
}

TYPED_TEST_P(CryptoConformance, AuthenticatorEntryForAnotherReplicaIsRejected) {
  const Bytes data = patterned(48);
  std::vector<Mac> authenticator = make_authenticator(this->client(0), this->replica_count, data);
  std::swap(authenticator[0], authenticator[1]);
  EXPECT_FALSE(verify_authenticator(this->replica(0), Principal::client(0), authenticator, data));
  EXPECT_FALSE(verify_authenticator(this->replica(1), Principal::client(0), authenticator, data));
  EXPECT_TRUE(verify_authenticator(this->replica(2), Principal::client(0), authenticator, data));
}

TYPED_TEST_P(CryptoConformance, AuthenticatorFromAnotherSenderOrForOtherDataIsRejected) {
  const Bytes data = patterned(48);
  const std::vector<Mac> authenticator =
      make_authenticator(this->client(0), this->replica_count, data);
  EXPECT_FALSE(verify_authenticator(this->replica(1), Principal::client(2), authenticator, data));
  EXPECT_FALSE(verify_authenticator(this->replica(1), Principal::replica(0), authenticator, data));
  EXPECT_FALSE(verify_authenticator(this->replica(1), Principal::client(0), authenticator,
                                    patterned(48, 9)));
}

// Only replicas have an entry: a client holding an authenticator rejects it.
TYPED_TEST_P(CryptoConformance, AuthenticatorIsRejectedByAClient) {
  const Bytes data = patterned(48);
  const std::vector<Mac> authenticator =
      make_authenticator(this->replica(0), this->replica_count, data);
  EXPECT_FALSE(verify_authenticator(this->client(0), Principal::replica(0), authenticator, data));
}

// The runtime verifies on a thread pool (crypto.h: const methods may run
// concurrently). Under -DPBFT_SANITIZE or TSan this is where a race shows.
TYPED_TEST_P(CryptoConformance, ConstMethodsRunConcurrently) {
  const Crypto& shared = this->replica(1);
  const Bytes data = patterned(256);
  const Signature signature = this->client(0).sign(data);
  const Mac tag = this->client(0).mac(Principal::replica(1), data);
  const Digest digest = shared.digest(data);
  const Signature own_signature = shared.sign(data);
  const Mac own_tag = shared.mac(Principal::client(2), data);

  constexpr int thread_count = 4;
  constexpr int rounds = 50;
  std::vector<int> failures(thread_count, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < thread_count; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < rounds; ++i) {
        failures[t] += !shared.verify(Principal::client(0), data, signature);
        failures[t] += !shared.verify_mac(Principal::client(0), data, tag);
        failures[t] += shared.digest(data) != digest;
        failures[t] += shared.sign(data) != own_signature;
        failures[t] += shared.mac(Principal::client(2), data) != own_tag;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < thread_count; ++t) EXPECT_EQ(failures[t], 0) << t;
}

REGISTER_TYPED_TEST_SUITE_P(
    CryptoConformance, SelfIsThePrincipalItWasMadeFor, SignatureVerifiesAtEveryPrincipal,
    SignatureOverEmptyDataVerifies, SignatureFailsOnAnyFlippedDataBit,
    SignatureFailsOnAnyFlippedSignatureBit, SignatureFailsOnAddedOrRemovedByte,
    SignatureFailsUnderAnotherSigner, UnknownSignerFails, MacIsPairwiseSymmetric,
    MacWithSelfVerifies, ThirdPartyKeyDiffers, MacSeparatesReplicaFromClientWithSameId,
    MacFailsOnAnyFlippedBit, UnknownPeerMacFails, DigestIsTheSameFunctionEverywhere,
    DigestChangesWithAnyByte, DigestSeparatesLengthsOfZeros, DigestDependsOnOrder,
    AuthenticatorRoundTrip, ReplicaAuthenticatorRoundTrip, AuthenticatorTooShortIsRejected,
    AuthenticatorEntryForAnotherReplicaIsRejected,
    AuthenticatorFromAnotherSenderOrForOtherDataIsRejected, AuthenticatorIsRejectedByAClient,
    ConstMethodsRunConcurrently);

}  // namespace pbft::crypto_test
