// A Crypto decorator for the partial-auth attack (Aardvark's "big MAC"):
// everything is the wrapped Crypto's, except that the MACs it makes for the
// replicas it is told to corrupt have a bit flipped. A client core or
// pbft::authenticate given one makes authenticators that are right for
// some replicas and wrong for the others, through the same code path as a
// correct client's: the core has no attack path of its own. Internal to
// src/attack (and its tests).
//
// Thread safety: as the wrapped Crypto for the const methods; the set of
// corrupted replicas is changed on one thread, between uses.
#pragma once

#include <memory>
#include <vector>

#include "pbft/crypto.h"

namespace pbft::attack {

class CorruptingCrypto final : public Crypto {
 public:
  explicit CorruptingCrypto(std::unique_ptr<Crypto> inner) : inner_(std::move(inner)) {}

  // MACs for replica r come out wrong from now on iff corrupted[r].
  void corrupt(std::vector<bool> corrupted) { corrupted_ = std::move(corrupted); }
  // Right for replica `valid` only, of replicas 0..n-1.
  void corrupt_all_but(ReplicaId valid, uint32_t n) {
    std::vector<bool> corrupted(n, true);
    if (valid < n) corrupted[valid] = false;
    corrupt(std::move(corrupted));
  }

  Principal self() const override { return inner_->self(); }
  Digest digest(ByteView data) const override { return inner_->digest(data); }
  Signature sign(ByteView data) const override { return inner_->sign(data); }
  bool verify(Principal signer, ByteView data, const Signature& signature) const override {
    return inner_->verify(signer, data, signature);
  }
  Mac mac(Principal peer, ByteView data) const override {
    Mac m = inner_->mac(peer, data);
    if (peer.kind == PrincipalKind::replica && peer.id < corrupted_.size() &&
        corrupted_[peer.id]) {
      m[0] ^= 0x01;
    }
    return m;
  }
  bool verify_mac(Principal peer, ByteView data, const Mac& mac) const override {
    return inner_->verify_mac(peer, data, mac);
  }

 private:
  std::unique_ptr<Crypto> inner_;
  std::vector<bool> corrupted_;  // index: replica id
};

}  // namespace pbft::attack
