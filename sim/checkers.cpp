#include "sim/checkers.h"

#include <fmt/format.h>

#include "pbft/verifier.h"
#include "pbft/wire.h"
#include "sim/trace_hash.h"

namespace pbft::sim {

std::string describe(const Message& message) {
  struct Describe {
    std::string operator()(const Request& m) const {
      return fmt::format("request c{} t{}", m.client, m.timestamp);
    }
    std::string operator()(const PrePrepare& m) const {
      return fmt::format("pre-prepare v{} s{} ({} requests)", m.view, m.seq, m.batch.size());
    }
    std::string operator()(const Prepare& m) const {
      return fmt::format("prepare v{} s{}", m.view, m.seq);
    }
    std::string operator()(const Commit& m) const {
      return fmt::format("commit v{} s{}", m.view, m.seq);
    }
    std::string operator()(const Reply& m) const {
      return fmt::format("reply v{} c{} t{}{}", m.view, m.client, m.timestamp,
                         m.full ? "" : " (digest)");
    }
    std::string operator()(const Checkpoint& m) const {
      return fmt::format("checkpoint s{}", m.seq);
    }
    std::string operator()(const ViewChange& m) const {
      return fmt::format("view-change v{} stable s{} ({} prepared)", m.new_view, m.stable_seq,
                         m.prepared.size());
    }
    std::string operator()(const NewView& m) const {
      return fmt::format("new-view v{} ({} pre-prepares)", m.view, m.pre_prepares.size());
    }
    std::string operator()(const StatusMessage& m) const {
      return fmt::format("status v{} executed s{} stable s{}{}", m.view, m.last_executed,
                         m.last_stable, m.recovering ? " recovering" : "");
    }
    std::string operator()(const Fetch& m) const {
      return fmt::format("fetch checkpoint s{} level {} index {} offset {}", m.checkpoint, m.level,
                         m.index, m.offset);
    }
    std::string operator()(const FetchReply& m) const {
      return fmt::format("fetch-reply checkpoint s{} level {} index {} ({} digests, {} bytes)",
                         m.checkpoint, m.level, m.index, m.digests.size(), m.data.size());
    }
  };
  return std::visit(Describe{}, message);
}


namespace {

std::string short_digest(const Digest& d) { return to_hex(ByteView(d.data(), 8)); }

}  // namespace

std::string format_seconds(uint64_t ns) {
  return fmt::format("{}.{:03} s", ns / 1'000'000'000, ns / 1'000'000 % 1000);
}

std::string format_trace_hash(uint64_t hash) { return fmt::format("{:016x}", hash); }

void AgreementChecker::observe(ReplicaId replica, const Executed& executed) {
  auto [it, inserted] = decided_.try_emplace(
      executed.seq, Decision{executed.batch_digest, replica, executed.view});
  if (inserted || it->second.batch_digest == executed.batch_digest || failure_) return;
  const Decision& first = it->second;
  failure_ = Failure{
      checker_name::agreement,
      fmt::format("seq {}: replica {} executed batch {} (view {}), but replica {} executed "
                  "batch {} (view {})",
                  executed.seq, first.replica, short_digest(first.batch_digest), first.view,
                  replica, short_digest(executed.batch_digest), executed.view)};
}

void AgreementChecker::observe_checkpoint(ReplicaId replica, Seq seq, const Digest& digest) {
  auto [it, inserted] = checkpoints_.try_emplace(seq, Announcement{digest, replica});
  if (inserted || it->second.state_digest == digest || failure_) return;
  failure_ = Failure{
      checker_name::agreement,
      fmt::format("checkpoint {}: replica {} announced state {}, but replica {} announced "
                  "state {}",
                  seq, it->second.replica, short_digest(it->second.state_digest), replica,
                  short_digest(digest))};
}

std::optional<Digest> AgreementChecker::checkpoint_digest(Seq seq) const {
  auto it = checkpoints_.find(seq);
  if (it == checkpoints_.end()) return std::nullopt;
  return it->second.state_digest;
}

void ExactlyOnceChecker::observe(ReplicaId replica, const Executed& executed) {
  if (auto [it, inserted] = reference_.try_emplace(executed.seq); inserted) {
    for (const ExecutedRequest& request : executed.requests) {
      if (request.fresh) it->second.push_back({request.client, request.timestamp});
    }
  }
  if (failure_) return;
  std::map<ClientId, LastFresh>& last = last_fresh_.at(replica);
  for (const ExecutedRequest& request : executed.requests) {
    if (!request.fresh) continue;
    auto [it, inserted] =
        last.try_emplace(request.client, LastFresh{request.timestamp, executed.seq});
    if (inserted) continue;
    const LastFresh previous = it->second;
    if (request.timestamp > previous.timestamp) {
      it->second = LastFresh{request.timestamp, executed.seq};
      continue;
    }
    const char* what = request.timestamp == previous.timestamp
                           ? "executed the same request twice"
                           : "executed an old request after a newer one";
    failure_ = Failure{
        checker_name::exactly_once,
        fmt::format("replica {} {}: client {} timestamp {} at seq {}, after timestamp {} at "
                    "seq {}",
                    replica, what, request.client, request.timestamp, executed.seq,
                    previous.timestamp, previous.seq)};
    return;
  }
}

void ExactlyOnceChecker::observe_install(ReplicaId replica, Seq seq) {
  if (failure_) return;
  std::map<ClientId, LastFresh> record;
  Seq expected = 1;
  for (auto it = reference_.begin(); it != reference_.end() && it->first <= seq; ++it) {
    if (it->first != expected) break;
    for (const FreshRequest& request : it->second) {
      record.insert_or_assign(request.client, LastFresh{request.timestamp, it->first});
    }
    expected++;
  }
  if (expected <= seq) {
    // Every checkpoint's state was built by executing the batches below it
    // at some replica; a state nobody executed came from nowhere.
    failure_ = Failure{checker_name::exactly_once,
                       fmt::format("replica {} installed checkpoint {}, but no replica executed "
                                   "seq {}",
                                   replica, seq, expected)};
    return;
  }
  last_fresh_.at(replica) = std::move(record);
}

void ExactlyOnceChecker::observe_wipe(ReplicaId replica) { last_fresh_.at(replica).clear(); }

void ExecutionOrderChecker::observe(ReplicaId replica, const Executed& executed) {
  Seq& last = last_executed_.at(replica);
  if (!failure_ && executed.seq != last + 1) {
    const char* what = executed.seq <= last ? "re-executed" : "skipped to";
    failure_ = Failure{checker_name::execution_order,
                       fmt::format("replica {} {} seq {} after executing seq {}", replica, what,
                                   executed.seq, last)};
  }
  if (executed.seq > last) last = executed.seq;
}

void ExecutionOrderChecker::observe_install(ReplicaId replica, const StateInstalled& installed,
                                            const std::optional<Digest>& announced) {
  Seq& last = last_executed_.at(replica);
  if (!failure_) {
    if (installed.seq <= last) {
      failure_ = Failure{checker_name::execution_order,
                         fmt::format("replica {} installed checkpoint {} after executing seq {}",
                                     replica, installed.seq, last)};
    } else if (!announced) {
      failure_ = Failure{checker_name::execution_order,
                         fmt::format("replica {} installed checkpoint {} (state {}), which no "
                                     "replica announced",
                                     replica, installed.seq, short_digest(installed.digest))};
    } else if (*announced != installed.digest) {
      failure_ = Failure{checker_name::execution_order,
                         fmt::format("replica {} installed checkpoint {} with state {}, but the "
                                     "replicas announced state {}",
                                     replica, installed.seq, short_digest(installed.digest),
                                     short_digest(*announced))};
    }
  }
  if (installed.seq > last) last = installed.seq;
}

void ExecutionOrderChecker::observe_wipe(ReplicaId replica) { last_executed_.at(replica) = 0; }

void CommitQuorumChecker::observe_commit(ReplicaId replica, const Commit& commit) {
  commits_[{commit.view, commit.seq, commit.digest}].insert(replica);
}

void CommitQuorumChecker::observe(ReplicaId replica, const Executed& executed) {
  if (failure_) return;
  auto it = commits_.find({executed.view, executed.seq, executed.batch_digest});
  const size_t senders = it == commits_.end() ? 0 : it->second.size();
  if (senders >= 2 * static_cast<size_t>(f_) + 1) return;
  failure_ = Failure{checker_name::commit_quorum,
                     fmt::format("replica {} executed s{} v{} batch {} when {} replicas had sent "
                                 "a matching COMMIT (2f+1 = {} needed)",
                                 replica, executed.seq, executed.view,
                                 short_digest(executed.batch_digest), senders, 2 * f_ + 1)};
}

void RecoverySilenceChecker::observe_send(ReplicaId replica, bool recovering,
                                          const Message& message) {
  if (failure_) return;
  std::optional<VoteKey> key;
  Digest digest{};
  if (const auto* m = std::get_if<PrePrepare>(&message)) {
    key = VoteKey{replica, MessageType::pre_prepare, m->view, m->seq};
    digest = m->digest;
  } else if (const auto* p = std::get_if<Prepare>(&message)) {
    key = VoteKey{replica, MessageType::prepare, p->view, p->seq};
    digest = p->digest;
  } else if (const auto* c = std::get_if<Commit>(&message)) {
    key = VoteKey{replica, MessageType::commit, c->view, c->seq};
    digest = c->digest;
  }
  // Relayed votes (a retransmitted PREPARE of another replica) are not this
  // replica's: the signer is the sender field.
  if (!key || sender_of(message) != Principal::replica(replica)) return;
  const auto& [who, type, view, seq] = *key;
  if (recovering) {
    failure_ = Failure{checker_name::recovery_silence,
                       fmt::format("replica {} sent {} v{} s{} while recovering", who,
                                   type_name(type), view, seq)};
    return;
  }
  auto [it, inserted] = votes_.try_emplace(*key, digest);
  if (inserted || it->second == digest) return;
  failure_ = Failure{checker_name::recovery_silence,
                     fmt::format("replica {} sent {} v{} s{} for batch {} after sending it for "
                                 "batch {}",
                                 who, type_name(type), view, seq, short_digest(digest),
                                 short_digest(it->second))};
}

std::optional<Failure> check_catch_up(const std::vector<ReplicaEnd>& replicas) {
  Seq mark = 0;
  for (const ReplicaEnd& r : replicas) {
    if (r.reference) mark = std::max(mark, r.low_watermark);
  }
  for (const ReplicaEnd& r : replicas) {
    if (r.faults.empty() || r.last_executed >= mark) continue;
    std::string faults;
    for (NodeFault fault : r.faults) {
      if (!faults.empty()) faults += ", ";
      faults += to_string(fault);
    }
    return Failure{checker_name::catch_up,
                   fmt::format("replica {} ({}) executed up to seq {}, below the stable "
                               "checkpoint {} of the replicas that stayed correct",
                               r.replica, faults, r.last_executed, mark)};
  }
  return std::nullopt;
}

void BoundedMemoryChecker::observe(ReplicaId replica, size_t log_size, size_t pending_requests) {
  if (failure_) return;
  if (log_size > log_window_) {
    failure_ = Failure{checker_name::bounded_memory,
                       fmt::format("replica {} holds {} sequence numbers in its log, more than "
                                   "the log window of {}",
                                   replica, log_size, log_window_)};
  } else if (pending_requests > pending_max_) {
    failure_ = Failure{checker_name::bounded_memory,
                       fmt::format("replica {} holds {} pending requests, more than {}", replica,
                                   pending_requests, pending_max_)};
  }
}

void BoundedMemoryChecker::observe_network(size_t queued) {
  if (failure_ || queued <= network_queued_max) return;
  failure_ = Failure{checker_name::bounded_memory,
                     fmt::format("the network holds {} queued events, more than {}: traffic grows "
                                 "without bound (a message storm)",
                                 queued, network_queued_max)};
}

std::optional<Failure> check_linearizability(const std::vector<history::Entry>& entries,
                                             uint64_t search_budget) {
  const history::CheckResult result = history::check_linearizable(entries, search_budget);
  if (!result.complete) {
    // Not a verdict on the cluster, but a run whose history went unchecked
    // must not pass.
    return Failure{checker_name::linearizability,
                   fmt::format("the check of {} operations did not finish (search budget {} "
                               "states per key): {}",
                               entries.size(), search_budget, result.explanation)};
  }
  if (!result.linearizable) {
    return Failure{checker_name::linearizability, result.explanation};
  }
  return std::nullopt;
}

std::optional<Failure> check_liveness(const std::vector<ClientProgress>& clients,
                                      uint64_t fault_phase_end_ns, uint64_t bound_ns) {
  const uint64_t deadline = fault_phase_end_ns + bound_ns;
  const std::string bound = fmt::format("the bound is {} after the fault phase ended at {}",
                                        format_seconds(bound_ns),
                                        format_seconds(fault_phase_end_ns));
  for (const ClientProgress& c : clients) {
    if (c.completed < c.required) {
      std::string details = fmt::format("client {} completed {} of {} requests; {}", c.client,
                                        c.completed, c.required, bound);
      if (c.outstanding_since_ns) {
        details += fmt::format("; request {} was outstanding since {}", c.completed + 1,
                               format_seconds(*c.outstanding_since_ns));
      }
      return Failure{checker_name::liveness, std::move(details)};
    }
    if (c.last_completion_ns > deadline) {
      return Failure{checker_name::liveness,
                     fmt::format("client {} completed its last request at {}; {}", c.client,
                                 format_seconds(c.last_completion_ns), bound)};
    }
  }
  return std::nullopt;
}

// ------------------------------------------------------------ write-ahead

namespace {

// What a binding message commits its sender to, and the view it is in.
struct Binding {
  std::tuple<uint8_t, View, Seq, Digest> key;
  std::optional<View> view;
};

std::optional<Binding> binding_of(const Message& message) {
  const auto type = static_cast<uint8_t>(message.index());
  return std::visit(
      [&](const auto& m) -> std::optional<Binding> {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, PrePrepare> || std::is_same_v<T, Prepare> ||
                      std::is_same_v<T, Commit>) {
          return Binding{{type, m.view, m.seq, m.digest}, m.view};
        } else if constexpr (std::is_same_v<T, Checkpoint>) {
          return Binding{{type, 0, m.seq, m.state_digest}, std::nullopt};
        } else if constexpr (std::is_same_v<T, ViewChange>) {
          return Binding{{type, m.new_view, 0, Digest{}}, m.new_view};
        } else if constexpr (std::is_same_v<T, NewView>) {
          return Binding{{type, m.view, 0, Digest{}}, m.view};
        } else {
          return std::nullopt;
        }
      },
      message);
}

}  // namespace

void WriteAheadChecker::record(Recorded& recorded, const Message& message) {
  if (std::optional<Binding> b = binding_of(message)) recorded.messages.insert(b->key);
  if (const auto* nv = std::get_if<NewView>(&message)) {
    for (const PrePrepare& pp : nv->pre_prepares) record(recorded, Message(pp));
  }
}

void WriteAheadChecker::observe(ReplicaId replica, const Effects& effects) {
  Recorded& recorded = recorded_[replica];
  for (const Effect& effect : effects.list) {
    if (const auto* persist = std::get_if<Persist>(&effect)) {
      for (const Record& r : persist->records) {
        if (const auto* view = std::get_if<ViewRecord>(&r)) {
          if (view->view < recorded.view && !failure_) {
            failure_ = Failure{checker_name::write_ahead,
                               fmt::format("replica {} recorded view {} after view {}: it forgot "
                                           "its view",
                                           replica, view->view, recorded.view)};
          }
          recorded.view = std::max(recorded.view, view->view);
        } else if (const auto* sent = std::get_if<SentRecord>(&r)) {
          std::optional<Binding> b = binding_of(*sent->message);
          if (b && b->view && *b->view < recorded.view && !failure_) {
            failure_ = Failure{checker_name::write_ahead,
                               fmt::format("replica {} recorded {} after recording view {}",
                                           replica, describe(*sent->message), recorded.view)};
          }
          record(recorded, *sent->message);
        }
      }
      continue;
    }
    const auto* send = std::get_if<Send>(&effect);
    if (send == nullptr || failure_) continue;
    const Message& m = *send->message;
    if (sender_of(m) != Principal::replica(replica)) continue;  // a relay binds nobody
    std::optional<Binding> b = binding_of(m);
    if (!b) continue;
    if (!recorded.messages.contains(b->key)) {
      failure_ = Failure{checker_name::write_ahead,
                         fmt::format("replica {} sent {} before persisting it", replica,
                                     describe(m))};
    } else if (b->view && *b->view > recorded.view) {
      failure_ = Failure{checker_name::write_ahead,
                         fmt::format("replica {} sent {} in a view above its recorded view {}",
                                     replica, describe(m), recorded.view)};
    }
  }
}

void WriteAheadChecker::forget(ReplicaId replica) { recorded_.erase(replica); }

// ------------------------------------------------------------ new-view

const char* to_string(ViewChangeDefect defect) {
  switch (defect) {
    case ViewChangeDefect::checkpoint_off_interval: return "stable checkpoint off the interval";
    case ViewChangeDefect::checkpoint_proof: return "checkpoint proof too small or not matching";
    case ViewChangeDefect::out_of_order: return "certificates out of order";
    case ViewChangeDefect::above_window: return "certificate above the window";
    case ViewChangeDefect::later_view: return "certificate from the new view or later";
    case ViewChangeDefect::not_primary: return "certificate pre-prepare not from its primary";
    case ViewChangeDefect::prepare_mismatch: return "certificate prepare not matching";
    case ViewChangeDefect::prepare_from_primary: return "certificate prepare from the primary";
    case ViewChangeDefect::duplicate_prepares: return "certificate padded with a repeated prepare";
    case ViewChangeDefect::too_few_prepares: return "certificate with fewer than 2f backups";
    case ViewChangeDefect::signature: return "a signature does not verify";
  }
  return "unknown";
}

namespace {

// Signed by its sender, a replica (PBFT.md, "Cryptography").
template <typename M>
bool signed_by_sender(const ProtocolConfig& config, const Crypto& crypto, const M& m) {
  return m.sender < config.n &&
         crypto.verify(Principal::replica(m.sender), wire::auth_payload(m), m.signature);
}

}  // namespace

std::vector<ViewChangeDefect> view_change_defects(const ProtocolConfig& config,
                                                  const ViewChange& vc, const Crypto* crypto) {
  uint32_t found = 0;  // bit i: defect i
  auto add = [&found](ViewChangeDefect d) { found |= 1u << static_cast<unsigned>(d); };
  auto check_signature = [&](const auto& m) {
    if (crypto != nullptr && !signed_by_sender(config, *crypto, m)) add(ViewChangeDefect::signature);
  };
  check_signature(vc);
  // C: 2f+1 CHECKPOINTs from distinct replicas for the stable checkpoint,
  // with one state digest; none for the initial state.
  if (vc.stable_seq % config.checkpoint_interval != 0) add(ViewChangeDefect::checkpoint_off_interval);
  if (vc.stable_seq == 0) {
    if (!vc.checkpoint_proof.empty()) add(ViewChangeDefect::checkpoint_proof);
  } else {
    std::set<ReplicaId> signers;
    for (const Checkpoint& c : vc.checkpoint_proof) {
      check_signature(c);
      if (c.seq != vc.stable_seq || c.state_digest != vc.checkpoint_proof.front().state_digest) {
        add(ViewChangeDefect::checkpoint_proof);
      } else if (c.sender < config.n) {
        signers.insert(c.sender);
      }
    }
    if (signers.size() < config.quorum()) add(ViewChangeDefect::checkpoint_proof);
  }
  // P: one prepared certificate per seq, ascending, in (h, h + L], each a
  // pre-prepare of an earlier view by that view's primary and 2f matching
  // prepares from distinct backups.
  const size_t needed = 2 * static_cast<size_t>(config.f);
  Seq previous = vc.stable_seq;
  for (const PreparedCertificate& cert : vc.prepared) {
    const PrePrepare& pp = cert.pre_prepare;
    check_signature(pp);
    if (pp.seq <= previous) add(ViewChangeDefect::out_of_order);
    previous = std::max(previous, pp.seq);
    if (pp.seq > vc.stable_seq && pp.seq - vc.stable_seq > config.log_window) {
      add(ViewChangeDefect::above_window);
    }
    if (pp.view >= vc.new_view) add(ViewChangeDefect::later_view);
    const ReplicaId primary = config.primary(pp.view);
    if (pp.sender != primary) add(ViewChangeDefect::not_primary);
    std::set<ReplicaId> backups;
    size_t matching = 0;
    for (const Prepare& p : cert.prepares) {
      check_signature(p);
      if (p.view != pp.view || p.seq != pp.seq || p.digest != pp.digest) {
        add(ViewChangeDefect::prepare_mismatch);
      } else if (p.sender == primary) {
        add(ViewChangeDefect::prepare_from_primary);
      } else if (p.sender < config.n) {
        matching++;
        backups.insert(p.sender);
      }
    }
    if (backups.size() < needed) {
      add(ViewChangeDefect::too_few_prepares);
      if (matching >= needed) add(ViewChangeDefect::duplicate_prepares);
    }
  }
  std::vector<ViewChangeDefect> defects;
  for (unsigned i = 0; i <= static_cast<unsigned>(ViewChangeDefect::signature); i++) {
    if ((found & (1u << i)) != 0) defects.push_back(static_cast<ViewChangeDefect>(i));
  }
  return defects;
}

NewViewChecker::NewViewChecker(const ProtocolConfig& config, const Crypto& crypto)
    : config_(config), crypto_(crypto), null_digest_(batch_digest(crypto, {})) {}

const NewViewVerdict& NewViewChecker::judge(const NewView& nv) {
  auto [it, inserted] = verdicts_.try_emplace({nv.sender, nv.signature});
  if (inserted) it->second = compute(nv);
  return it->second;
}

void NewViewChecker::observe_install(ReplicaId replica, const NewView& nv) {
  const NewViewVerdict& verdict = judge(nv);
  if (failure_ || !verdict.violation) return;
  failure_ = Failure{checker_name::new_view,
                     fmt::format("replica {} installed the NEW-VIEW for view {} from replica {}: "
                                 "{}",
                                 replica, nv.view, nv.sender, *verdict.violation)};
}

NewViewVerdict NewViewChecker::compute(const NewView& nv) const {
  NewViewVerdict verdict;
  auto violation = [&verdict](std::string why) {
    verdict.violation = std::move(why);
    return verdict;
  };
  const ReplicaId primary = config_.primary(nv.view);
  if (nv.sender != primary) {
    return violation(fmt::format("sent by replica {}, not the view's primary {}", nv.sender,
                                 primary));
  }
  if (!signed_by_sender(config_, crypto_, nv)) return violation("its signature does not verify");

  // V: 2f+1 valid VIEW-CHANGEs for this view from distinct replicas.
  std::set<ReplicaId> senders;
  for (const ViewChange& vc : nv.view_changes) {
    if (vc.new_view != nv.view) {
      return violation(fmt::format("V holds replica {}'s VIEW-CHANGE for view {}", vc.sender,
                                   vc.new_view));
    }
    if (!senders.insert(vc.sender).second) {
      return violation(fmt::format("V holds two VIEW-CHANGEs from replica {}", vc.sender));
    }
    if (std::vector<ViewChangeDefect> defects = view_change_defects(config_, vc, &crypto_);
        !defects.empty()) {
      std::string list;
      for (ViewChangeDefect d : defects) list += (list.empty() ? "" : ", ") + std::string(to_string(d));
      return violation(fmt::format("V holds an invalid VIEW-CHANGE from replica {} (stable s{}, "
                                   "{} certificates): {}",
                                   vc.sender, vc.stable_seq, vc.prepared.size(), list));
    }
    verdict.min_s = std::max(verdict.min_s, vc.stable_seq);
  }
  if (senders.size() < config_.quorum()) {
    return violation(fmt::format("V holds {} VIEW-CHANGEs, fewer than 2f+1 = {}", senders.size(),
                                 config_.quorum()));
  }

  // O: for each seq in (min-s, max-s], the digest of the certificate of the
  // highest view, or the null request.
  std::map<Seq, std::map<View, Digest>> certificates;
  for (const ViewChange& vc : nv.view_changes) {
    for (const PreparedCertificate& cert : vc.prepared) {
      const PrePrepare& pp = cert.pre_prepare;
      if (pp.seq <= verdict.min_s) continue;
      auto [it, inserted] = certificates[pp.seq].try_emplace(pp.view, pp.digest);
      if (!inserted && it->second != pp.digest) {
        // Two prepared certificates in one view for one seq need a correct
        // replica that prepared both, or more than f faulty ones.
        return violation(fmt::format("V holds certificates of view {} for seq {} with two "
                                     "digests, {} and {}",
                                     pp.view, pp.seq, short_digest(it->second),
                                     short_digest(pp.digest)));
      }
    }
  }
  const Seq max_s = certificates.empty() ? verdict.min_s : certificates.rbegin()->first;
  std::vector<std::pair<Seq, Digest>> expected;
  for (const auto& [seq, by_view] : certificates) {
    if (by_view.size() < 2) continue;
    verdict.certificates_of_two_views = true;
    for (const auto& [view, digest] : by_view) {
      if (digest != by_view.begin()->second) verdict.conflicting_certificates = true;
    }
  }
  for (Seq s = verdict.min_s + 1; s <= max_s; s++) {
    auto it = certificates.find(s);
    if (it == certificates.end()) {
      expected.emplace_back(s, null_digest_);
      verdict.nulls_ordered++;
    } else {
      expected.emplace_back(s, it->second.rbegin()->second);
      verdict.certificates_ordered++;
    }
  }
  auto what = [&](Seq s) -> std::string {
    auto it = certificates.find(s);
    if (it == certificates.end()) return "the null request: V has no certificate for it";
    return fmt::format("the certificate of view {}", it->second.rbegin()->first);
  };
  for (size_t i = 0; i < std::max(expected.size(), nv.pre_prepares.size()); i++) {
    if (i >= nv.pre_prepares.size()) {
      return violation(fmt::format("O stops at {} pre-prepares; V implies {} (min-s {}), the "
                                   "next s{} digest {} ({})",
                                   nv.pre_prepares.size(), expected.size(), verdict.min_s,
                                   expected[i].first, short_digest(expected[i].second),
                                   what(expected[i].first)));
    }
    const PrePrepare& pp = nv.pre_prepares[i];
    if (i >= expected.size()) {
      return violation(fmt::format("O has {} pre-prepares; V implies {} (min-s {}, max-s {}), "
                                   "not s{} digest {}",
                                   nv.pre_prepares.size(), expected.size(), verdict.min_s, max_s,
                                   pp.seq, short_digest(pp.digest)));
    }
    const auto& [seq, digest] = expected[i];
    if (pp.seq != seq || pp.digest != digest) {
      return violation(fmt::format("O's pre-prepare {} is s{} digest {}; V implies s{} digest {} "
                                   "({})",
                                   i, pp.seq, short_digest(pp.digest), seq, short_digest(digest),
                                   what(seq)));
    }
    if (pp.view != nv.view || pp.sender != nv.sender) {
      return violation(fmt::format("O's pre-prepare for s{} is of view {} by replica {}", pp.seq,
                                   pp.view, pp.sender));
    }
    if (!pp.batch.empty()) {
      return violation(fmt::format("O's pre-prepare for s{} carries a batch", pp.seq));
    }
    if (!signed_by_sender(config_, crypto_, pp)) {
      return violation(fmt::format("O's pre-prepare for s{} has a bad signature", pp.seq));
    }
  }
  return verdict;
}

}  // namespace pbft::sim
