// The parts of include/pbft/crypto.h that do not depend on which Crypto
// implementation is behind the interface: key lookup and authenticators.
#include "pbft/crypto.h"

namespace pbft {

const PublicKey* KeyDirectory::find(Principal p) const {
  switch (p.kind) {
    case PrincipalKind::replica:
      return p.id < replicas.size() ? &replicas[p.id] : nullptr;
    case PrincipalKind::client: {
      auto it = clients.find(p.id);
      return it == clients.end() ? nullptr : &it->second;
    }
  }
  // A PrincipalKind outside the enumeration names nobody.
  return nullptr;
}

// An authenticator (Castro and Liskov, TOCS 2002; PBFT.md, Cryptography) is a
// vector of MACs, one per replica, each under the pairwise key of the sender and that
// replica; entry i is meant for replica i. It costs n MACs to make and one to
// check, which is why requests and commits use it instead of a signature.
std::vector<Mac> make_authenticator(const Crypto& crypto, uint32_t replica_count, ByteView data) {
  std::vector<Mac> authenticator(replica_count);
  for (ReplicaId i = 0; i < replica_count; ++i) {
    authenticator[i] = crypto.mac(Principal::replica(i), data);
  }
  return authenticator;
}

bool verify_authenticator(const Crypto& crypto, Principal sender,
                          const std::vector<Mac>& authenticator, ByteView data) {
  const Principal self = crypto.self();
  // Only replicas have an entry. A client holding an authenticator cannot
  // check any of it, and an authenticator too short to reach self's entry
  // is malformed: both are rejections, not errors, since the vector comes
  // from a peer. (Checking that the size is exactly n needs n, which the
  // caller has: the Verifier checks it structurally.)
  if (self.kind != PrincipalKind::replica) return false;
  if (self.id >= authenticator.size()) return false;
  return crypto.verify_mac(sender, data, authenticator[self.id]);
}

}  // namespace pbft
