// The client side of PBFT (Castro and Liskov, section 4.1).

#include "pbft/client.h"

#include <algorithm>
#include <map>
#include <optional>

#include "pbft/assert.h"
#include "pbft/mutant.h"
#include "pbft/wire.h"

namespace pbft {

struct Client::State {
  State(const ProtocolConfig& c, ClientId i, const Crypto& cr, ClientOptions o)
      : config(c),
        id(i),
        crypto(cr),
        options(o),
        mutant_(o.mutant),
        timestamp(o.first_timestamp),
        replier(static_cast<ReplicaId>(i % c.n)) {}

  const ProtocolConfig config;
  const ClientId id;
  const Crypto& crypto;
  const ClientOptions options;
  const mutant::Id mutant_;  // ClientOptions::mutant (PBFT_MUTANT)

  View view = 0;            // the view the client believes current
  Timestamp timestamp;      // the last timestamp used
  // The replica asked for the full result (the others send its digest):
  // spread over the replicas by client id, and moved on to the next one
  // when a request needed a retransmission and this one had not sent the
  // accepted result before it (nothing, a wrong result, or only later).
  ReplicaId replier;
  bool retransmitted = false;  // the outstanding request was re-sent
  // The digest of the replier's full result when the first retransmission
  // went out, if it had sent one.
  std::optional<Digest> replier_result_at_retransmission;
  // The outstanding request, if any, as sent (shared for retransmission).
  std::shared_ptr<const Message> outstanding;
  // Replies for the outstanding request, the first from each replica.
  struct ReplyFrom {
    View view;
    Digest result_digest;
    std::optional<Bytes> result;  // from a full reply
  };
  std::map<ReplicaId, ReplyFrom> replies;
  // Stale replies for the outstanding request: each replica's last
  // executed timestamp of this client, above the request's.
  std::map<ReplicaId, Timestamp> stale;
  uint64_t ticks_waiting = 0;
  uint64_t timeout_ticks = 0;  // current retransmission timeout (doubles)
  ClientEffects effects;

  const Request& request() const { return std::get<Request>(*outstanding); }
};

Result<std::unique_ptr<Client>> Client::create(const ProtocolConfig& config, ClientId id,
                                               const Crypto& crypto, ClientOptions options) {
  // A client may also talk to one server (n = 1, f = 0: the benchmark's
  // unreplicated baseline, which answers like a cluster of one); replicas
  // and cluster files require f >= 1.
  const bool one_server = config.n == 1 && config.f == 0;
  if (!one_server) {
    if (auto s = config.validate(); !s) return s;
  }
  if (id >= constants::clients_max) return Status::error("client id out of range");
  if (crypto.self() != Principal::client(id)) {
    return Status::error("crypto belongs to another principal");
  }
  if (options.retransmit_ticks < 1 || options.retransmit_ticks_max < options.retransmit_ticks) {
    return Status::error("retransmit_ticks must be >= 1 and <= retransmit_ticks_max");
  }
  return std::unique_ptr<Client>(
      new Client(std::make_unique<State>(config, id, crypto, options)));
}

Client::Client(std::unique_ptr<State> state) : state_(std::move(state)) {}
Client::~Client() = default;

Result<Timestamp> Client::submit(Bytes operation, bool read_only) {
  State& s = *state_;
  if (s.outstanding != nullptr) return Status::error("a request is already outstanding");
  if (operation.size() > constants::operation_size_max) {
    return Status::error("operation is larger than " +
                         std::to_string(constants::operation_size_max) + " bytes");
  }
  Request r;
  r.client = s.id;
  r.timestamp = ++s.timestamp;
  r.read_only = read_only;
  r.replier = s.replier;
  r.operation = std::move(operation);
  r.auth = s.config.client_auth;
  authenticate(r, s.crypto, s.config.n);
  const Timestamp t = r.timestamp;
  s.outstanding = std::make_shared<const Message>(std::move(r));
  s.replies.clear();
  s.stale.clear();
  s.retransmitted = false;
  s.replier_result_at_retransmission.reset();
  s.ticks_waiting = 0;
  s.timeout_ticks = s.options.retransmit_ticks;
  // Step 1: send to the primary of the last view seen.
  s.effects.sends.push_back({Destination::replica(s.config.primary(s.view)), s.outstanding});
  return t;
}

// Step 2: accept a result once f+1 replicas sent matching replies (same t,
// same result digest: at least one of them is correct) and one of the
// replies carried a result with that digest.
bool Client::wants(const Reply& reply) const {
  const State& s = *state_;
  return s.outstanding != nullptr && reply.client == s.id &&
         reply.timestamp == s.request().timestamp;
}

void Client::step(const Verified& verified) {
  State& s = *state_;
  [[maybe_unused]] const mutant::Id mutant_ = s.mutant_;  // for PBFT_MUTANT
  const auto* reply = std::get_if<Reply>(&verified.message());
  if (reply == nullptr || !wants(*reply)) return;
  if (reply->stale) {
    on_stale_reply(*reply);
    return;
  }

  const Digest d = reply->full ? s.crypto.digest(reply->result) : reply->result_digest;
  // A replica may re-send its reply from a later view; keep the latest, and
  // a result it sent before with the same digest.
  State::ReplyFrom& from = s.replies[reply->sender];
  std::optional<Bytes> result;
  if (reply->full) {
    result = reply->result;
  } else if (from.result && from.result_digest == d) {
    result = std::move(from.result);
  }
  from = {reply->view, d, std::move(result)};

  std::vector<View> views;
  const Bytes* matching_result = nullptr;
  for (const auto& [sender, r] : s.replies) {
    if (r.result && PBFT_MUTANT(client_takes_any_result)) matching_result = &*r.result;
    if (r.result_digest != d) continue;
    views.push_back(r.view);
    if (r.result) matching_result = &*r.result;
  }
  if (views.size() < s.config.weak_quorum() || matching_result == nullptr) return;

  // Learn the view: the highest view that f+1 matching replies vouch for
  // (at least one of them is correct), so a faulty replica cannot move the
  // client to a view of its choosing.
  std::sort(views.begin(), views.end(), std::greater<>());
  const View vouched = views[s.config.f];
  s.view = std::max(s.view, vouched);

  if (s.retransmitted && s.replier_result_at_retransmission != d) {
    s.replier = static_cast<ReplicaId>((s.replier + 1) % s.config.n);
  }
  s.effects.completed = Completion{s.request().timestamp, *matching_result, vouched};
  s.outstanding = nullptr;
  s.replies.clear();
  s.stale.clear();
}

// f+1 replicas executed a later timestamp of this client than the
// outstanding request's (at least one of them is correct): the request
// will never execute now, since every correct replica executes the batches
// after that one's with that timestamp as the client's last. It may have
// executed before it (a clock that went back while a request of the
// earlier, faster clock was in flight), its replies lost: so it fails with
// an unknown outcome rather than being sent again under a new timestamp,
// which might execute it twice. The next request goes on above the
// timestamp f+1 replicas vouch for.
void Client::on_stale_reply(const Reply& reply) {
  State& s = *state_;
  if (reply.executed_timestamp <= s.request().timestamp) return;  // not stale: a faulty replica
  s.stale[reply.sender] = reply.executed_timestamp;
  if (s.stale.size() < s.config.weak_quorum()) return;
  std::vector<Timestamp> executed;
  for (const auto& [sender, t] : s.stale) executed.push_back(t);
  std::sort(executed.begin(), executed.end(), std::greater<>());
  const Timestamp vouched = executed[s.config.f];
  const Timestamp t = s.request().timestamp;
  s.timestamp = std::max(s.timestamp, vouched);
  s.effects.completed = Status::error(
      "timestamp " + std::to_string(t) + " is below one this client used before (" +
      std::to_string(vouched) +
      ", executed; its clock went back?): the request did not execute now and may have "
      "executed before; the next requests use timestamps above " +
      std::to_string(vouched));
  s.outstanding = nullptr;
  s.replies.clear();
  s.stale.clear();
}

// Step 3: on timeout, re-send to all replicas (backups relay it to the
// primary), doubling the timeout up to its maximum. Replicas answer a
// re-sent request with the full result (at once if they executed it, in
// their first reply otherwise), so a replier that is faulty or slow costs
// one timeout.
void Client::tick() {
  State& s = *state_;
  if (s.outstanding == nullptr) return;
  if (++s.ticks_waiting < s.timeout_ticks) return;
  s.ticks_waiting = 0;
  s.timeout_ticks = std::min(s.timeout_ticks * 2, s.options.retransmit_ticks_max);
  if (!s.retransmitted) {
    s.retransmitted = true;
    auto it = s.replies.find(s.replier);
    if (it != s.replies.end() && it->second.result) {
      s.replier_result_at_retransmission = it->second.result_digest;
    }
  }
  s.effects.sends.push_back({Destination::all_replicas(), s.outstanding});
}

ClientEffects Client::take_effects() { return std::exchange(state_->effects, ClientEffects{}); }

bool Client::busy() const { return state_->outstanding != nullptr; }
View Client::view() const { return state_->view; }
ClientId Client::id() const { return state_->id; }

}  // namespace pbft
