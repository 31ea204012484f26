#include "sim/byzantine.h"

#include <algorithm>
#include <utility>
#include <string>

#include "pbft/assert.h"
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
    case Behaviour::replay_requests: return "replay-requests";
    case Behaviour::collude: return "collude";
  }
  return "unknown";
}

bool acts_as_primary(Behaviour behaviour) {
  switch (behaviour) {
    case Behaviour::equivocate:
    case Behaviour::slow:
    case Behaviour::censor:
    case Behaviour::replay_requests:
    case Behaviour::collude: return true;
    default: return false;
  }
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

// ---------------------------------------------------------------------------
// The cabal

bool Cabal::member(ReplicaId r) const {
  return std::find(members_.begin(), members_.end(), r) != members_.end();
}

const Cabal::Attack* Cabal::attack_in(View view) const {
  for (const Attack& a : attacks_) {
    if (a.view == view) return &a;
  }
  return nullptr;
}

Cabal::Attack* Cabal::attack_in(View view) {
  return const_cast<Attack*>(std::as_const(*this).attack_in(view));
}

const Cabal::Attack* Cabal::attack_before(View view) const {
  const Attack* latest = nullptr;
  for (const Attack& a : attacks_) {
    if (a.view < view) latest = &a;
  }
  return latest;
}

Cabal::Attack& Cabal::start(Attack attack) {
  attacks_.push_back(std::move(attack));
  return attacks_.back();
}

void Cabal::observe_prepare(const Prepare& prepare) {
  Attack* a = attack_in(prepare.view);
  if (a == nullptr || prepare.seq != a->seq) return;
  for (const Prepare& p : a->prepares) {
    if (p.sender == prepare.sender && p.digest == prepare.digest) return;
  }
  a->prepares.push_back(prepare);
}

// ---------------------------------------------------------------------------

ByzantineReplica::ByzantineReplica(const ProtocolConfig& config, const Crypto& crypto,
                                   std::vector<Behaviour> behaviours, uint64_t tick_ns,
                                   std::shared_ptr<Cabal> cabal)
    : config_(config),
      crypto_(crypto),
      self_(crypto.self().id),
      behaviours_(std::move(behaviours)),
      tick_ns_(tick_ns),
      cabal_(std::move(cabal)) {
  PBFT_ASSERT(!has(Behaviour::collude) || cabal_ != nullptr);
  if (cabal_ != nullptr) cabal_->join(self_);
}

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
  if (has(Behaviour::collude)) {
    if (std::optional<std::vector<Outgoing>> out = collude(send, random)) return std::move(*out);
  }
  std::shared_ptr<const Message> message = send.message;
  const bool own = sender_of(*message) == Principal::replica(self_);
  uint64_t delay_ns = 0;

  if (const auto* pp = std::get_if<PrePrepare>(message.get()); pp && own) {
    if (has(Behaviour::replay_requests) && !pp->batch.empty()) {
      const std::vector<Request> batch = pp->batch;
      if (random.chance(0.5)) {
        message = sign(replay_requests(*pp, random));
        lies_++;
      }
      remember_batch(batch);
    }
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

// A batch with one request more: a request of the batch a second time, or
// one ordered in an earlier batch (executed by now, or about to be). Every
// request in it is authentic, so the backups take the batch; execution
// must skip the repeats (exactly-once) and answer them from the last reply.
PrePrepare ByzantineReplica::replay_requests(const PrePrepare& pp, Random& random) {
  PrePrepare lie = pp;
  const Request repeat = !ordered_.empty() && random.chance(0.5)
                             ? ordered_[random.uniform(ordered_.size())]
                             : pp.batch[random.uniform(pp.batch.size())];
  // A full batch gets the repeat in place of one of its requests: one
  // more than batch_size_max is refused unread (Verifier::check_bounds).
  if (lie.batch.size() >= config_.batch_size_max) {
    lie.batch[random.uniform(lie.batch.size())] = repeat;
  } else {
    const auto at = static_cast<std::ptrdiff_t>(random.uniform(lie.batch.size() + 1));
    lie.batch.insert(lie.batch.begin() + at, repeat);
  }
  lie.digest = batch_digest(crypto_, lie.batch);
  return lie;
}

void ByzantineReplica::remember_batch(const std::vector<Request>& batch) {
  for (const Request& r : batch) {
    ordered_.push_back(r);
    if (ordered_.size() > ordered_max) ordered_.pop_front();
  }
}

// ---------------------------------------------------------------------------
// Behaviour::collude (Cabal says what the cabal does).

// One message for group A, another for the rest (nullptr: none), to the
// send's destinations.
std::vector<Outgoing> ByzantineReplica::split(const Destination& destination,
                                              const Cabal::Attack& a,
                                              const std::shared_ptr<const Message>& to_a,
                                              const std::shared_ptr<const Message>& to_others) {
  std::vector<Outgoing> out;
  for (const Destination& to : others(config_, self_)) {
    if (destination.kind == Destination::Kind::replica && destination.id != to.id) continue;
    const bool in_a = std::find(a.group_a.begin(), a.group_a.end(), to.id) != a.group_a.end();
    if (const auto& message = in_a ? to_a : to_others) out.push_back({to, message, false, 0});
  }
  lies_++;
  return out;
}

std::optional<std::vector<Outgoing>> ByzantineReplica::collude(const Send& send, Random& random) {
  const Message& m = *send.message;
  if (sender_of(m) != Principal::replica(self_)) return std::nullopt;
  if (const auto* pp = std::get_if<PrePrepare>(&m)) {
    if (const Cabal::Attack* a = cabal_->attack_in(pp->view)) {
      // The attacking primary proposes nothing more in its view.
      if (a->primary == self_ && pp->seq > a->seq) {
        lies_++;
        return std::vector<Outgoing>{};
      }
      return std::nullopt;
    }
    // Only a fresh batch: a NEW-VIEW slot's batch, re-sent with its
    // pre-prepare, is bound to O's digest at every backup already.
    const bool fresh = pp->seq > highest_proposed_;
    highest_proposed_ = std::max(highest_proposed_, pp->seq);
    if (!fresh || pp->batch.empty() || send.to.kind != Destination::Kind::all_replicas ||
        !random.chance(0.5)) {
      return std::nullopt;
    }
    return equivocate_for_cabal(send, *pp);
  }
  if (const auto* p = std::get_if<Prepare>(&m)) {
    Cabal::Attack* a = cabal_->attack_in(p->view);
    if (a == nullptr || p->seq != a->seq) return std::nullopt;
    // A member votes for both batches: A to group A, B to the others.
    Prepare for_a = *p;
    for_a.digest = a->pre_prepare_a.digest;
    Prepare for_b = *p;
    for_b.digest = a->digest_b;
    auto signed_a = sign(for_a);
    auto signed_b = sign(for_b);
    cabal_->observe_prepare(std::get<Prepare>(*signed_a));
    cabal_->observe_prepare(std::get<Prepare>(*signed_b));
    return split(send.to, *a, signed_a, signed_b);
  }
  if (const auto* c = std::get_if<Commit>(&m)) {
    const Cabal::Attack* a = cabal_->attack_in(c->view);
    if (a == nullptr || c->seq != a->seq) return std::nullopt;
    // Commits for B, to the others only: B commits there, A nowhere.
    Commit for_b = *c;
    for_b.digest = a->digest_b;
    return split(send.to, *a, nullptr, sign(for_b));
  }
  if (const auto* vc = std::get_if<ViewChange>(&m)) {
    if (cabal_->attack_before(vc->new_view) == nullptr) return std::nullopt;
    std::optional<ViewChange> lie = claim_assembled_certificate(*vc, random);
    if (!lie) return std::nullopt;
    lies_++;
    return std::vector<Outgoing>{{send.to, sign(std::move(*lie)), false, 0}};
  }
  return std::nullopt;
}

// PRE-PREPARE(v, s, A) to group A, the original (B) to everybody else. Group
// A is the next view's primary (so that its own VIEW-CHANGE, first in its V,
// carries no certificate for s), unless it is a member, and the correct
// replicas after it: 2f - k of them with k members (so that A gathers 2f-1
// real prepares), but at least one and at most f (so that B still commits
// among the others). With k < f, A gathers fewer than 2f-1.
std::vector<Outgoing> ByzantineReplica::equivocate_for_cabal(const Send& send,
                                                             const PrePrepare& pp) {
  // A stable checkpoint at s would make s no view change's business.
  if (pp.seq % config_.checkpoint_interval == 0) return {{send.to, send.message, false, 0}};
  Cabal::Attack a;
  a.view = pp.view;
  a.seq = pp.seq;
  a.primary = self_;
  a.primary_crypto = &crypto_;
  a.digest_b = pp.digest;
  uint32_t members = 0;
  for (ReplicaId r = 0; r < config_.n; r++) members += cabal_->member(r) ? 1 : 0;
  const uint32_t wanted = std::clamp<int64_t>(int64_t{2} * config_.f - members, 1, config_.f);
  // From the next view's primary on (past members: a member leading the
  // next view builds its NEW-VIEW with the correct core, which is fine too).
  const ReplicaId next = config_.primary(pp.view + 1);
  for (uint32_t i = 0; i < config_.n && a.group_a.size() < wanted; i++) {
    const auto r = static_cast<ReplicaId>((next + i) % config_.n);
    if (!cabal_->member(r)) a.group_a.push_back(r);
  }
  PrePrepare other = pp;
  if (other.batch.size() >= 2) {
    std::reverse(other.batch.begin(), other.batch.end());
  } else {
    other.batch.clear();
  }
  other.digest = batch_digest(crypto_, other.batch);
  authenticate(other, crypto_, config_.n);
  a.pre_prepare_a = other;
  const Cabal::Attack& attack = cabal_->start(std::move(a));
  return split(send.to, attack, std::make_shared<const Message>(std::move(other)), send.message);
}

// The member's VIEW-CHANGE with the cabal's latest attack claimed: A
// prepared at s (nothing, when s is not above its stable checkpoint inside
// the window), proven by the real PRE-PREPARE for A and the real prepares
// for it, filled up to 2f entries in one of the ways a certificate must not
// be (drawn for each VIEW-CHANGE).
std::optional<ViewChange> ByzantineReplica::claim_assembled_certificate(const ViewChange& vc,
                                                                       Random& random) const {
  const Cabal::Attack* a = cabal_->attack_before(vc.new_view);
  if (a->seq <= vc.stable_seq || a->seq - vc.stable_seq > config_.log_window) {
    return std::nullopt;  // s is no view change's business any more
  }
  const size_t needed = 2 * static_cast<size_t>(config_.f);
  PreparedCertificate cert;
  cert.pre_prepare = a->pre_prepare_a;
  cert.pre_prepare.batch.clear();  // the signature does not cover it
  std::vector<const Prepare*> for_a;
  std::vector<const Prepare*> for_b;
  for (const Prepare& p : a->prepares) {
    if (p.sender == a->primary) continue;
    (p.digest == a->pre_prepare_a.digest ? for_a : for_b).push_back(&p);
  }
  for (const Prepare* p : for_a) {
    if (cert.prepares.size() + 1 < needed) cert.prepares.push_back(*p);
  }
  switch (static_cast<Cabal::Shortfall>(random.uniform(Cabal::shortfall_count))) {
    case Cabal::Shortfall::short_by_one:
      break;
    case Cabal::Shortfall::duplicates:
      while (!cert.prepares.empty() && cert.prepares.size() < needed) {
        cert.prepares.push_back(cert.prepares.front());
      }
      break;
    case Cabal::Shortfall::from_primary: {
      Prepare own;
      own.view = a->view;
      own.seq = a->seq;
      own.digest = a->pre_prepare_a.digest;
      authenticate(own, *a->primary_crypto, config_.n);
      cert.prepares.push_back(own);
      break;
    }
    case Cabal::Shortfall::other_digest:
      for (const Prepare* p : for_b) {
        const bool counted = std::any_of(cert.prepares.begin(), cert.prepares.end(),
                                         [&](const Prepare& q) { return q.sender == p->sender; });
        if (!counted && cert.prepares.size() < needed) cert.prepares.push_back(*p);
      }
      break;
  }
  ViewChange lie = vc;
  std::erase_if(lie.prepared,
                [&](const PreparedCertificate& c) { return c.pre_prepare.seq == a->seq; });
  auto at = std::find_if(lie.prepared.begin(), lie.prepared.end(),
                         [&](const PreparedCertificate& c) { return c.pre_prepare.seq > a->seq; });
  lie.prepared.insert(at, std::move(cert));
  return lie;
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
  enum class Lie : uint8_t {
    hide,              // clears what it prepared
    made_up,           // a certificate for a made-up batch
    checkpoint,        // a stable checkpoint proven by its own word
    above_window,      // a made-up certificate above the window
    from_new_view,     // a made-up certificate from the new view itself
    out_of_order,      // its own certificates out of order
  };
  constexpr uint64_t lie_kinds = 6;
  ViewChange lie = vc;
  const auto how = static_cast<Lie>(random.uniform(lie_kinds));
  switch (how) {
    case Lie::hide: {
      // Hides what it prepared: undetectable, and harmless while at most f lie.
      lie.prepared.clear();
      break;
    }
    case Lie::made_up:
    case Lie::above_window:
    case Lie::from_new_view: {
      // A certificate for a made-up batch, "prepared" by itself alone; or
      // one above the window; or one from the new view itself.
      PreparedCertificate cert;
      cert.pre_prepare.view =
          vc.new_view == 0 || how == Lie::from_new_view ? vc.new_view : vc.new_view - 1;
      cert.pre_prepare.seq = vc.stable_seq + 1 + random.uniform(config_.log_window) +
                             (how == Lie::above_window ? config_.log_window : 0);
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
    case Lie::out_of_order: {
      // Its own certificates out of order: the last first, or one twice.
      if (lie.prepared.size() >= 2) {
        std::rotate(lie.prepared.begin(), lie.prepared.end() - 1, lie.prepared.end());
      } else if (lie.prepared.size() == 1) {
        lie.prepared.push_back(lie.prepared.front());
      }
      break;
    }
    case Lie::checkpoint: {
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
    // A STATUS in its own name, or (forged) in another's, with the highest
    // counter there is: a receiver records a counter only once the MACs
    // check, so the forgery cannot shut the real sender's STATUS out.
    StatusMessage status;
    status.view = view;
    status.last_executed = low_watermark;
    status.last_stable = low_watermark;
    status.counter = UINT64_MAX - random.uniform(2);
    out.push_back({Destination::all_replicas(), forge(*sign(status), random), false, 0});
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

void ByzantineReplica::observe_received(const Message& message, Random& random) {
  if (cabal_ != nullptr) {
    if (const auto* p = std::get_if<Prepare>(&message)) cabal_->observe_prepare(*p);
  }
  if (has(Behaviour::replay_requests)) {
    if (const auto* pp = std::get_if<PrePrepare>(&message)) remember_batch(pp->batch);
  }
  // Others' STATUS and FETCH (MAC'd for every replica, so any one can
  // replay them) are the replays finding 4 of issue 18 was about: kept
  // more often.
  const bool fresh_kind = std::holds_alternative<StatusMessage>(message) ||
                          std::holds_alternative<Fetch>(message);
  if (has(Behaviour::replay) && random.chance(fresh_kind ? 0.5 : 0.1)) {
    seen_.push_back(std::make_shared<const Message>(message));
    if (seen_.size() > seen_max) seen_.pop_front();
  }
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
