#include "sim/byzantine.h"

#include <algorithm>
#include <string>

#include "pbft/kv.h"
#include "pbft/verifier.h"
#include "pbft/wire.h"

namespace pbft::sim {

const char* to_string(Behaviour behaviour) {
  switch (behaviour) {
    case Behaviour::silent: return "silent";
    case Behaviour::equivocate: return "equivocate";
    case Behaviour::slow: return "slow";
    case Behaviour::censor: return "censor";
    case Behaviour::forge: return "forge";
    case Behaviour::replay: return "replay";
    case Behaviour::wrong_digest: return "wrong-digest";
    case Behaviour::bad_checkpoint: return "bad-checkpoint";
    case Behaviour::bad_view_change: return "bad-view-change";
    case Behaviour::bad_new_view: return "bad-new-view";
    case Behaviour::twins: return "twins";
    case Behaviour::bad_reply: return "bad-reply";
  }
  return "unknown";
}

const char* to_string(ClientAttack attack) {
  switch (attack) {
    case ClientAttack::timestamps: return "client-timestamps";
    case ClientAttack::big_mac: return "big-mac";
    case ClientAttack::flood: return "client-flood";
  }
  return "unknown";
}

namespace {

Digest random_digest(Random& random) {
  Digest d{};
  for (size_t i = 0; i < d.size(); i += 8) {
    const uint64_t x = random.next();
    for (size_t j = 0; j < 8; j++) d[i + j] = static_cast<uint8_t>(x >> (8 * j));
  }
  return d;
}

// Every replica but `self`, as single destinations.
std::vector<Destination> others(const ProtocolConfig& config, ReplicaId self) {
  std::vector<Destination> out;
  for (ReplicaId r = 0; r < config.n; r++) {
    if (r != self) out.push_back(Destination::replica(r));
  }
  return out;
}

}  // namespace

ByzantineReplica::ByzantineReplica(const ProtocolConfig& config, const Crypto& crypto,
                                   std::vector<Behaviour> behaviours, uint64_t tick_ns)
    : config_(config),
      crypto_(crypto),
      self_(crypto.self().id),
      behaviours_(std::move(behaviours)),
      tick_ns_(tick_ns) {}

bool ByzantineReplica::has(Behaviour b) const {
  return std::find(behaviours_.begin(), behaviours_.end(), b) != behaviours_.end();
}

// Authenticates m again with this replica's keys, as its own.
std::shared_ptr<const Message> ByzantineReplica::sign(Message m) const {
  authenticate(m, crypto_, config_.n);
  return std::make_shared<const Message>(std::move(m));
}

std::vector<Outgoing> ByzantineReplica::rewrite(const Send& send, Random& random) {
  if (has(Behaviour::silent)) {
    lies_++;
    return {};
  }
  std::shared_ptr<const Message> message = send.message;
  const bool own = sender_of(*message) == Principal::replica(self_);
  uint64_t delay_ns = 0;

  if (const auto* pp = std::get_if<PrePrepare>(message.get()); pp && own) {
    if (has(Behaviour::censor) && !pp->batch.empty()) {
      if (!censored_chosen_) {
        censored_ = pp->batch.front().client;
        censored_chosen_ = true;
      }
      PrePrepare changed = *pp;
      std::erase_if(changed.batch, [&](const Request& r) { return r.client == censored_; });
      if (changed.batch.size() != pp->batch.size()) {
        changed.digest = batch_digest(crypto_, changed.batch);
        message = sign(std::move(changed));
        lies_++;
      }
    }
    if (has(Behaviour::forge) && !std::get<PrePrepare>(*message).batch.empty() &&
        random.chance(0.2)) {
      // A request whose client authentication is bad, in a batch the
      // pre-prepare's own signature still covers: the authentication tags
      // are not part of the digest. Backups that check the batch refuse
      // the pre-prepare; one that left it to the others' certificate finds
      // out when the certificate does not come (check_unchecked_batches).
      PrePrepare changed = std::get<PrePrepare>(*message);
      Request& r = changed.batch[random.uniform(changed.batch.size())];
      if (r.auth == RequestAuth::signature) {
        r.signature[random.uniform(r.signature.size())] ^= 0x5a;
      } else {
        for (Mac& mac : r.authenticator) mac[random.uniform(mac.size())] ^= 0x5a;
      }
      message = std::make_shared<const Message>(std::move(changed));
      lies_++;
    }
    if (has(Behaviour::slow)) {
      // Just under the base timeout: the backups' timers restart with
      // every execution, so the view never fails, it only crawls.
      delay_ns = (config_.view_change_timeout_ticks * tick_ns_) / 10 *
                 (5 + random.uniform(4));
      lies_++;
    }
    if (has(Behaviour::equivocate) && send.to.kind == Destination::Kind::all_replicas &&
        random.chance(0.5)) {
      lies_++;
      return equivocate(send, std::get<PrePrepare>(*message), random);
    }
  } else if (const auto* p = std::get_if<Prepare>(message.get()); p && own) {
    if (has(Behaviour::wrong_digest) && random.chance(0.5)) {
      Prepare lie = *p;
      lie.digest = random_digest(random);
      message = sign(std::move(lie));
      lies_++;
    }
  } else if (const auto* c = std::get_if<Commit>(message.get()); c && own) {
    if (has(Behaviour::wrong_digest) && random.chance(0.5)) {
      Commit lie = *c;
      lie.digest = random_digest(random);
      message = sign(std::move(lie));
      lies_++;
    }
  } else if (const auto* cp = std::get_if<Checkpoint>(message.get()); cp && own) {
    if (has(Behaviour::bad_checkpoint) && random.chance(0.5)) {
      Checkpoint lie = *cp;
      lie.state_digest = random_digest(random);
      message = sign(std::move(lie));
      lies_++;
    }
  } else if (const auto* vc = std::get_if<ViewChange>(message.get()); vc && own) {
    if (has(Behaviour::bad_view_change)) {
      message = sign(lie_in_view_change(*vc, random));
      lies_++;
    }
  } else if (const auto* nv = std::get_if<NewView>(message.get()); nv && own) {
    if (has(Behaviour::bad_new_view)) {
      message = sign(lie_in_new_view(*nv, random));
      lies_++;
    }
  } else if (const auto* reply = std::get_if<Reply>(message.get()); reply && own) {
    if (has(Behaviour::bad_reply) && random.chance(0.5)) {
      Reply lie = *reply;
      if (lie.full && random.chance(0.5)) {
        lie.full = false;  // withholds the result
        lie.result_digest = crypto_.digest(lie.result);
        lie.result.clear();
      } else {
        lie.full = true;
        lie.result.push_back(static_cast<uint8_t>(random.next()));
      }
      lie.mac = crypto_.mac(Principal::client(lie.client), wire::auth_payload(lie));
      message = std::make_shared<const Message>(std::move(lie));
      lies_++;
    }
  }

  Outgoing out{send.to, message, false, delay_ns};
  if (has(Behaviour::forge) && random.chance(0.2)) {
    lies_++;
    if (random.chance(0.5)) {
      out.corrupt_bytes = true;
    } else {
      out.message = forge(*message, random);
    }
  }
  return {out};
}

// Half of the backups get the batch, the others another one (reversed, or
// the null request for a single request): signed for its own digest, or
// under the first one's digest and signature (which only the backups'
// digest check catches).
std::vector<Outgoing> ByzantineReplica::equivocate(const Send& send, const PrePrepare& pp,
                                                   Random& random) {
  PrePrepare other = pp;
  if (other.batch.size() >= 2) {
    std::reverse(other.batch.begin(), other.batch.end());
  } else {
    other.batch.clear();
  }
  std::shared_ptr<const Message> second;
  if (random.chance(0.5)) {
    second = std::make_shared<const Message>(std::move(other));  // same digest, other batch
  } else {
    other.digest = batch_digest(crypto_, other.batch);
    second = sign(std::move(other));
  }
  const uint64_t split = random.next();
  std::vector<Outgoing> out;
  for (const Destination& to : others(config_, self_)) {
    const bool flip = ((split >> (to.id % 64)) & 1) != 0;
    out.push_back({to, flip ? second : send.message, false, 0});
  }
  return out;
}

// A message that the receivers' verifiers must reject: another replica's
// name on it, or a damaged signature or MAC.
std::shared_ptr<const Message> ByzantineReplica::forge(const Message& m, Random& random) const {
  Message forged = m;
  const ReplicaId victim = static_cast<ReplicaId>((self_ + 1 + random.uniform(config_.n - 1)) %
                                                  config_.n);
  std::visit(
      [&](auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, Request> || std::is_same_v<T, Reply>) {
          // Not this replica's to forge here.
        } else {
          if (random.chance(0.5)) {
            x.sender = victim;  // claims to be another replica; authenticated as itself
          } else if constexpr (requires { x.signature; }) {
            x.signature[random.uniform(x.signature.size())] ^= 0x5a;
          } else if constexpr (requires { x.authenticator; }) {
            for (Mac& mac : x.authenticator) mac[0] ^= 0x5a;
          }
        }
      },
      forged);
  return std::make_shared<const Message>(std::move(forged));
}

ViewChange ByzantineReplica::lie_in_view_change(const ViewChange& vc, Random& random) const {
  ViewChange lie = vc;
  switch (random.uniform(3)) {
    case 0: {
      // Hides what it prepared: undetectable, and harmless while at most f lie.
      lie.prepared.clear();
      break;
    }
    case 1: {
      // A certificate for a made-up batch, "prepared" by itself alone.
      PreparedCertificate cert;
      cert.pre_prepare.view = vc.new_view == 0 ? 0 : vc.new_view - 1;
      cert.pre_prepare.seq = vc.stable_seq + 1 + random.uniform(config_.log_window);
      cert.pre_prepare.digest = random_digest(random);
      authenticate(cert.pre_prepare, crypto_, config_.n);
      Prepare p;
      p.view = cert.pre_prepare.view;
      p.seq = cert.pre_prepare.seq;
      p.digest = cert.pre_prepare.digest;
      authenticate(p, crypto_, config_.n);
      cert.prepares.assign(2 * config_.f, p);
      std::erase_if(lie.prepared, [&](const PreparedCertificate& c) {
        return c.pre_prepare.seq >= cert.pre_prepare.seq;
      });
      lie.prepared.push_back(std::move(cert));
      break;
    }
    default: {
      // A stable checkpoint further on, "proven" by its own word only.
      Checkpoint claim;
      claim.seq = vc.stable_seq + config_.checkpoint_interval * (1 + random.uniform(4));
      claim.state_digest = random_digest(random);
      authenticate(claim, crypto_, config_.n);
      lie.stable_seq = claim.seq;
      lie.checkpoint_proof.assign(config_.quorum(), claim);
      std::erase_if(lie.prepared,
                    [&](const PreparedCertificate& c) { return c.pre_prepare.seq <= claim.seq; });
      break;
    }
  }
  return lie;
}

NewView ByzantineReplica::lie_in_new_view(const NewView& nv, Random& random) const {
  NewView lie = nv;
  auto resign = [&](PrePrepare& pp) { authenticate(pp, crypto_, config_.n); };
  const uint64_t how = lie.pre_prepares.empty() ? 2 : random.uniform(3);
  if (how == 0) {
    lie.pre_prepares.pop_back();  // omits the last prepared request
  } else if (how == 1) {
    PrePrepare& pp = lie.pre_prepares[random.uniform(lie.pre_prepares.size())];
    pp.digest = random_digest(random);  // alters one
    resign(pp);
  } else {
    PrePrepare extra;  // orders a made-up batch after the last
    extra.view = nv.view;
    extra.seq = lie.pre_prepares.empty() ? 1 : lie.pre_prepares.back().seq + 1;
    for (const ViewChange& vc : nv.view_changes) extra.seq = std::max(extra.seq, vc.stable_seq + 1);
    extra.digest = random_digest(random);
    resign(extra);
    lie.pre_prepares.push_back(std::move(extra));
  }
  return lie;
}

std::vector<Outgoing> ByzantineReplica::on_tick(View view, Seq low_watermark, Random& random) {
  std::vector<Outgoing> out;
  if (has(Behaviour::silent)) return out;
  if (has(Behaviour::replay) && !seen_.empty() && random.chance(0.2)) {
    const auto& old = seen_[random.uniform(seen_.size())];
    out.push_back({Destination::all_replicas(), old, false, 0});
    lies_++;
  }
  if (has(Behaviour::bad_checkpoint) && random.chance(0.05)) {
    Checkpoint claim;
    claim.seq = low_watermark + config_.checkpoint_interval * (1 + random.uniform(1'000'000));
    claim.state_digest = random_digest(random);
    out.push_back({Destination::all_replicas(), sign(claim), false, 0});
    lies_++;
  }
  if (has(Behaviour::bad_view_change) && random.chance(0.01)) {
    // Alone it asks for a view change: fewer than f+1 cannot force one.
    ViewChange vc;
    vc.new_view = view + 1 + random.uniform(3);
    out.push_back({Destination::all_replicas(), sign(vc), false, 0});
    lies_++;
  }
  if (has(Behaviour::forge) && random.chance(0.05)) {
    Prepare p;
    p.view = view;
    p.seq = low_watermark + 1 + random.uniform(config_.log_window);
    p.digest = random_digest(random);
    out.push_back({Destination::all_replicas(), forge(*sign(p), random), false, 0});
    lies_++;
  }
  return out;
}

void ByzantineReplica::observe_received(const std::shared_ptr<const Message>& message) {
  if (!has(Behaviour::replay)) return;
  seen_.push_back(message);
  if (seen_.size() > seen_max) seen_.pop_front();
}

std::vector<Request> client_attack(ClientAttack attack, ClientId id, const ProtocolConfig& config,
                                   const Crypto& crypto, Timestamp& next_timestamp,
                                   Random& random) {
  auto make = [&](Timestamp t, RequestAuth auth) {
    Request r;
    r.client = id;
    r.timestamp = t;
    const std::string key = "byz-" + std::to_string(id) + "-" + std::to_string(random.uniform(4));
    r.operation = kv::encode_op(
        kv::Op{kv::OpType::append, Bytes(key.begin(), key.end()), Bytes{'x'}});
    r.auth = auth;
    authenticate(r, crypto, config.n);
    return r;
  };
  std::vector<Request> out;
  switch (attack) {
    case ClientAttack::timestamps: {
      // Now the next timestamp, now one used before, now one far back.
      const Timestamp t = random.chance(0.4)   ? ++next_timestamp
                          : random.chance(0.5) ? next_timestamp
                                               : next_timestamp / 2;
      out.push_back(make(t, config.client_auth));
      break;
    }
    case ClientAttack::big_mac: {
      // MACs valid for some replicas only. Where the cluster requires
      // signatures, every replica refuses the request outright.
      Request r = make(++next_timestamp, RequestAuth::authenticator);
      const uint64_t valid = random.next();
      for (ReplicaId i = 0; i < r.authenticator.size(); i++) {
        if (((valid >> i) & 1) == 0) r.authenticator[i][0] ^= 0x5a;
      }
      out.push_back(std::move(r));
      break;
    }
    case ClientAttack::flood: {
      for (int i = 0; i < 10; i++) out.push_back(make(++next_timestamp, config.client_auth));
      break;
    }
  }
  return out;
}

}  // namespace pbft::sim
