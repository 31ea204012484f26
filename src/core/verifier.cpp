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

Verifier::Verifier(const ProtocolConfig& config, const Crypto& crypto, mutant::Id mutant)
    : config_(config), crypto_(crypto), mutant_(mutant) {}

Status Verifier::check_replica(ReplicaId id) const {
  if (id >= config_.n) return Status::error("sender " + std::to_string(id) + " is not a replica");
  return Status::ok();
}

Status Verifier::check_request_form(const Request& r) const {
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
  switch (r.auth) {
    case RequestAuth::authenticator:
      if (r.authenticator.size() != config_.n) {
        return Status::error("request authenticator has the wrong size");
      }
      return Status::ok();
    case RequestAuth::signature:
      if (!r.authenticator.empty()) return Status::error("signed request carries MACs");
      return Status::ok();
  }
  return Status::error("unknown request authentication");
}

Status Verifier::verify_request_tag(const Request& r, const Digest& digest) const {
  const Bytes payload = wire::request_tag_payload(digest);
  const Principal client = Principal::client(r.client);
  if (r.auth == RequestAuth::authenticator) {
    if (!verify_authenticator(crypto_, client, r.authenticator, payload)) {
      return Status::error("request MAC does not verify");
    }
  } else if (!crypto_.verify(client, payload, r.signature)) {
    return Status::error("request signature does not verify");
  }
  return Status::ok();
}

Status Verifier::verify_request(const Request& r, Digest& digest) const {
  if (auto s = check_request_form(r); !s) return s;
  digest = request_digest(crypto_, r);
  return verify_request_tag(r, digest);
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

Status Verifier::verify_pre_prepare_batch(const PrePrepare& pp, const Checks& checks,
                                          std::vector<Digest>& digests) const {
  // Forms first, then the digests (hashing), then the batch's digest
  // against the signed one: a batch that does not hash to it is not the
  // batch the primary signed, whatever its requests' tags say. Only then
  // the tags, the costly part (an Ed25519 verification each when signed).
  for (const Request& r : pp.batch) {
    if (auto s = check_request_form(r); !s) return Status::error("batch: " + s.reason());
  }
  digests.reserve(pp.batch.size());
  for (const Request& r : pp.batch) digests.push_back(request_digest(crypto_, r));
  if (batch_digest_of(crypto_, digests) != pp.digest && !PBFT_MUTANT(skip_digest_check)) {
    return Status::error("batch does not hash to the pre-prepare's digest");
  }
  if (checks.requests == BatchRequests::unchecked) return Status::ok();
  auto executed = checks.executed_requests.begin();
  for (size_t i = 0; i < pp.batch.size(); i++) {
    if (executed != checks.executed_requests.end() && *executed == i) {
      ++executed;
      continue;
    }
    if (auto s = verify_request_tag(pp.batch[i], digests[i]); !s) {
      return Status::error("batch: " + s.reason());
    }
  }
  return Status::ok();
}

Status Verifier::check_view_change_bounds(const ViewChange& vc) const {
  if (vc.checkpoint_proof.size() > config_.quorum()) {
    return Status::error("view change: a checkpoint proof of more than 2f+1 checkpoints");
  }
  if (vc.prepared.size() > config_.log_window) {
    return Status::error("view change: more certificates than the log window");
  }
  for (const PreparedCertificate& cert : vc.prepared) {
    if (cert.prepares.size() > 2 * static_cast<size_t>(config_.f)) {
      return Status::error("view change: a certificate of more than 2f prepares");
    }
    if (!cert.pre_prepare.batch.empty()) {
      return Status::error("view change: a certificate's pre-prepare carries a batch");
    }
  }
  return Status::ok();
}

Status Verifier::check_bounds(const Message& message) const {
  if (const auto* pp = std::get_if<PrePrepare>(&message)) {
    if (pp->batch.size() > config_.batch_size_max) {
      return Status::error("a batch of more than batch_size_max requests");
    }
  } else if (const auto* vc = std::get_if<ViewChange>(&message)) {
    return check_view_change_bounds(*vc);
  } else if (const auto* nv = std::get_if<NewView>(&message)) {
    if (nv->view_changes.size() > config_.n) {
      return Status::error("new view: more view changes than replicas");
    }
    if (nv->pre_prepares.size() > config_.log_window) {
      return Status::error("new view: more pre-prepares than the log window");
    }
    for (const ViewChange& embedded : nv->view_changes) {
      if (auto s = check_view_change_bounds(embedded); !s) return s;
    }
  }
  return Status::ok();
}

Result<Verified> Verifier::verify(Message message, BatchRequests requests) const {
  Checks checks;
  checks.requests = requests;
  return verify(std::move(message), std::move(checks));
}

Result<Verified> Verifier::verify(Message message, Checks checks) const {
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

  if (auto s = check_bounds(message); !s) return s;
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
              // (An empty batch is the null request's, or a pre-prepare
              // sent without its batch: nothing to hash or check.)
              if (m.batch.empty()) return Status::ok();
              return verify_pre_prepare_batch(m, checks, request_digests);
            } else if constexpr (std::is_same_v<T, ViewChange>) {
              if (!checks.view_change_contents) return Status::ok();
              return verify_view_change_contents(m);
            } else if constexpr (std::is_same_v<T, NewView>) {
              return verify_new_view_contents(m);
            }
            return Status::ok();
          }
        }
      },
      message);
  if (!status) return status;
  const bool is_pre_prepare = std::holds_alternative<PrePrepare>(message);
  const bool batch_checked = checks.requests == BatchRequests::checked || !is_pre_prepare;
  const bool contents_checked =
      checks.view_change_contents || !std::holds_alternative<ViewChange>(message);
  return Verified(std::move(message), batch_checked, std::move(request_digests),
                  contents_checked);
}

// The signatures a NEW-VIEW embeds, the ones a forger cannot have first:
// each VIEW-CHANGE's own and O's (one each), and only then what the
// VIEW-CHANGEs carry (up to 2f+1 + L(2f+1) each). A new view assembled from
// VIEW-CHANGEs its sender made up fails after at most n + 1 checks.
Status Verifier::verify_new_view_contents(const NewView& nv) const {
  for (const ViewChange& vc : nv.view_changes) {
    if (auto s = check_replica(vc.sender); !s) return s;
    if (!signed_by_sender(crypto_, vc)) {
      return Status::error("embedded view-change signature does not verify");
    }
  }
  for (const PrePrepare& pp : nv.pre_prepares) {
    if (auto s = check_replica(pp.sender); !s) return s;
    if (!signed_by_sender(crypto_, pp)) {
      return Status::error("embedded pre-prepare signature does not verify");
    }
  }
  for (const ViewChange& vc : nv.view_changes) {
    if (auto s = verify_view_change_contents(vc); !s) return s;
  }
  return Status::ok();
}

Status Verifier::verify_view_change_contents(const ViewChange& vc) const {
  for (const Checkpoint& c : vc.checkpoint_proof) {
    if (auto s = check_replica(c.sender); !s) return s;
  }
  for (const PreparedCertificate& cert : vc.prepared) {
    if (auto s = check_replica(cert.pre_prepare.sender); !s) return s;
    for (const Prepare& p : cert.prepares) {
      if (auto s = check_replica(p.sender); !s) return s;
    }
  }
  for (const Checkpoint& c : vc.checkpoint_proof) {
    if (!signed_by_sender(crypto_, c)) return Status::error("checkpoint proof signature does not verify");
  }
  for (const PreparedCertificate& cert : vc.prepared) {
    if (!signed_by_sender(crypto_, cert.pre_prepare)) {
      return Status::error("certificate pre-prepare signature does not verify");
    }
    for (const Prepare& p : cert.prepares) {
      if (!signed_by_sender(crypto_, p)) {
        return Status::error("certificate prepare signature does not verify");
      }
    }
  }
  return Status::ok();
}

}  // namespace pbft
