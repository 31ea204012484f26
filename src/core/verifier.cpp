#include "pbft/verifier.h"

#include <string>

#include "pbft/assert.h"
#include "pbft/wire.h"

namespace pbft {

Digest request_digest(const Crypto& crypto, const Request& request) {
  return crypto.digest(wire::auth_payload(request));
}

void authenticate(Request& r, const Crypto& client, uint32_t replica_count) {
  const Bytes payload = wire::request_tag_payload(request_digest(client, r));
  r.authenticator.clear();
  if (r.auth == RequestAuth::authenticator) {
    r.authenticator = make_authenticator(client, replica_count, payload);
  } else {
    r.signature = client.sign(payload);
  }
}

void authenticate(Message& m, const Crypto& crypto, uint32_t replica_count) {
  std::visit(
      [&](auto& x) {
        if constexpr (!std::is_same_v<std::decay_t<decltype(x)>, Request>) {
          authenticate(x, crypto, replica_count);
        }
      },
      m);
}

Digest batch_digest(const Crypto& crypto, const std::vector<Request>& batch) {
  std::vector<Digest> digests;
  digests.reserve(batch.size());
  for (const Request& r : batch) digests.push_back(request_digest(crypto, r));
  return batch_digest_of(crypto, digests);
}

Digest batch_digest_of(const Crypto& crypto, std::span<const Digest> request_digests) {
  Bytes concatenated;
  concatenated.reserve(request_digests.size() * digest_size);
  for (const Digest& d : request_digests) {
    concatenated.insert(concatenated.end(), d.begin(), d.end());
  }
  return crypto.digest(concatenated);
}

Verifier::Verifier(const ProtocolConfig& config, const Crypto& crypto)
    : config_(config), crypto_(crypto) {}

Status Verifier::check_replica(ReplicaId id) const {
  if (id >= config_.n) return Status::error("sender " + std::to_string(id) + " is not a replica");
  return Status::ok();
}

Status Verifier::verify_request(const Request& r, Digest& digest) const {
  if (r.client >= constants::clients_max) return Status::error("client id out of range");
  // The cluster's choice binds every client: a client that may pick MACs
  // when the cluster wants signatures can mount the "big MAC" attack
  // (an authenticator valid for some replicas only).
  if (r.auth != config_.client_auth) {
    return Status::error("request authenticated otherwise than the cluster requires");
  }
  if (r.replier >= config_.n && r.replier != every_replica) {
    return Status::error("request names replier " + std::to_string(r.replier) +
                         ", not a replica");
  }
  digest = request_digest(crypto_, r);
  const Bytes payload = wire::request_tag_payload(digest);
  const Principal client = Principal::client(r.client);
  switch (r.auth) {
    case RequestAuth::authenticator:
      if (r.authenticator.size() != config_.n) {
        return Status::error("request authenticator has the wrong size");
      }
      if (!verify_authenticator(crypto_, client, r.authenticator, payload)) {
        return Status::error("request MAC does not verify");
      }
      return Status::ok();
    case RequestAuth::signature:
      if (!r.authenticator.empty()) return Status::error("signed request carries MACs");
      if (!crypto_.verify(client, payload, r.signature)) {
        return Status::error("request signature does not verify");
      }
      return Status::ok();
  }
  return Status::error("unknown request authentication");
}

namespace {

template <typename M>
bool signed_by_sender(const Crypto& crypto, const M& m) {
  return crypto.verify(Principal::replica(m.sender), wire::auth_payload(m), m.signature);
}

}  // namespace

Status Verifier::verify_batch(const PrePrepare& pp, std::vector<Digest>* digests) const {
  if (digests != nullptr) digests->reserve(digests->size() + pp.batch.size());
  for (const Request& r : pp.batch) {
    Digest d;
    if (auto s = verify_request(r, d); !s) return Status::error("batch: " + s.reason());
    if (digests != nullptr) digests->push_back(d);
  }
  return Status::ok();
}

Result<Verified> Verifier::verify(Message message, BatchRequests requests) const {
  const Principal self = crypto_.self();
  const bool at_replica = self.kind == PrincipalKind::replica;

  if (!at_replica) {
    // A client takes only replies addressed to it.
    const auto* reply = std::get_if<Reply>(&message);
    if (reply == nullptr) return Status::error("a client accepts only replies");
    if (auto s = check_replica(reply->sender); !s) return s;
    if (reply->client != self.id) return Status::error("reply addressed to another client");
    if (!crypto_.verify_mac(Principal::replica(reply->sender), wire::auth_payload(*reply),
                            reply->mac)) {
      return Status::error("reply MAC does not verify");
    }
    return Verified(std::move(message));
  }

  std::vector<Digest> request_digests;
  Status status = std::visit(
      [&](const auto& m) -> Status {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, Request>) {
          request_digests.resize(1);
          return verify_request(m, request_digests[0]);
        } else if constexpr (std::is_same_v<T, Reply>) {
          return Status::error("a replica does not accept replies");
        } else {
          if (auto s = check_replica(m.sender); !s) return s;
          if constexpr (std::is_same_v<T, Commit> || std::is_same_v<T, StatusMessage> ||
                        std::is_same_v<T, Fetch> || std::is_same_v<T, FetchReply>) {
            if (m.authenticator.size() != config_.n) {
              return Status::error("authenticator has the wrong size");
            }
            if (!verify_authenticator(crypto_, Principal::replica(m.sender), m.authenticator,
                                      wire::auth_payload(m))) {
              return Status::error("MAC does not verify");
            }
            return Status::ok();
          } else {
            if (!signed_by_sender(crypto_, m)) return Status::error("signature does not verify");
            if constexpr (std::is_same_v<T, PrePrepare>) {
              if (requests == BatchRequests::checked) return verify_batch(m, &request_digests);
            } else if constexpr (std::is_same_v<T, ViewChange>) {
              return verify_view_change_contents(m);
            } else if constexpr (std::is_same_v<T, NewView>) {
              for (const ViewChange& vc : m.view_changes) {
                if (auto s = check_replica(vc.sender); !s) return s;
                if (!signed_by_sender(crypto_, vc)) {
                  return Status::error("embedded view-change signature does not verify");
                }
                if (auto s = verify_view_change_contents(vc); !s) return s;
              }
              for (const PrePrepare& pp : m.pre_prepares) {
                if (auto s = check_replica(pp.sender); !s) return s;
                if (!signed_by_sender(crypto_, pp)) {
                  return Status::error("embedded pre-prepare signature does not verify");
                }
              }
            }
            return Status::ok();
          }
        }
      },
      message);
  if (!status) return status;
  const bool batch_checked =
      requests == BatchRequests::checked || !std::holds_alternative<PrePrepare>(message);
  return Verified(std::move(message), batch_checked, std::move(request_digests));
}

Status Verifier::verify_view_change_contents(const ViewChange& vc) const {
  for (const Checkpoint& c : vc.checkpoint_proof) {
    if (auto s = check_replica(c.sender); !s) return s;
    if (!signed_by_sender(crypto_, c)) return Status::error("checkpoint proof signature does not verify");
  }
  for (const PreparedCertificate& cert : vc.prepared) {
    if (auto s = check_replica(cert.pre_prepare.sender); !s) return s;
    if (!signed_by_sender(crypto_, cert.pre_prepare)) {
      return Status::error("certificate pre-prepare signature does not verify");
    }
    for (const Prepare& p : cert.prepares) {
      if (auto s = check_replica(p.sender); !s) return s;
      if (!signed_by_sender(crypto_, p)) {
        return Status::error("certificate prepare signature does not verify");
      }
    }
  }
  return Status::ok();
}

}  // namespace pbft
