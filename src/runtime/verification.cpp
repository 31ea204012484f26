#include "src/runtime/verification.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "pbft/assert.h"
#include "pbft/wire.h"
#include "src/runtime/connection.h"

namespace pbft::runtime {

namespace {

std::string principal_name(const Message& m) {
  const Principal p = sender_of(m);
  return fmt::format("{}{}", p.kind == PrincipalKind::replica ? "replica " : "client ", p.id);
}

FrameOutcome undecodable(std::string reason) {
  FrameOutcome out;
  out.kind = FrameOutcome::Kind::undecodable;
  out.reason = std::move(reason);
  return out;
}

MessageType type_of(ByteView frame) {
  std::optional<MessageType> type = wire::peek_type(frame);
  PBFT_ASSERT(type.has_value());  // Connection checked the header
  return *type;
}

}  // namespace

FrameOutcome examine(Message message, const Verifier& verifier, const ClusterConfig& cluster,
                     Checks checks) {
  FrameOutcome out;
  const Principal sender = sender_of(message);
  if ((sender.kind == PrincipalKind::replica && sender.id >= cluster.protocol.n) ||
      (sender.kind == PrincipalKind::client && cluster.clients.count(sender.id) == 0)) {
    out.kind = FrameOutcome::Kind::unknown_sender;
    out.reason = principal_name(message) + " is not in the cluster file";
    return out;
  }
  Result<Verified> verified = verifier.verify(std::move(message), std::move(checks));
  if (!verified) {
    out.kind = FrameOutcome::Kind::unauthentic;
    out.reason = verified.reason();
    return out;
  }
  out.verified = std::move(verified).value();
  return out;
}

FrameOutcome examine(ByteView frame, const Verifier& verifier, const ClusterConfig& cluster) {
  Result<Message> decoded = wire::decode(frame);
  if (!decoded) return undecodable(decoded.reason());
  return examine(std::move(decoded).value(), verifier, cluster);
}

void count_dropped(const FrameOutcome& outcome, const Connection& c, RuntimeCounters& counters) {
  switch (outcome.kind) {
    case FrameOutcome::Kind::ok:
      PBFT_ASSERT(false);
      return;
    case FrameOutcome::Kind::undecodable:
      counters.frames_undecodable++;
      spdlog::debug("dropped a frame from {} that does not decode: {}", c.remote_address(),
                    outcome.reason);
      return;
    case FrameOutcome::Kind::unknown_sender:
      counters.frames_unknown_sender++;
      spdlog::debug("dropped a frame from {}: {}", c.remote_address(), outcome.reason);
      return;
    case FrameOutcome::Kind::unwanted:
      counters.frames_unwanted++;
      return;
    case FrameOutcome::Kind::unauthentic:
      counters.frames_unauthentic++;
      spdlog::debug("dropped a frame from {} that is not authentic: {}", c.remote_address(),
                    outcome.reason);
      return;
    case FrameOutcome::Kind::wrong_sender:
    case FrameOutcome::Kind::wrong_client:
      return;  // counted by the check that refused it
  }
  PBFT_ASSERT(false);
}

LinkVerdict check_link(ByteView frame, const Hello& link) {
  Result<wire::Header> header = wire::decode_header(frame.first(constants::header_size));
  PBFT_ASSERT(header.is_ok());  // Connection checked it
  const MessageType type = header->type;
  const uint32_t sender = header->sender;
  LinkVerdict out;
  if (link.kind == Hello::Kind::client) {
    if (type != MessageType::request) {
      out.kind = FrameOutcome::Kind::wrong_sender;
      out.reason = fmt::format("a {} on the link of clients {}..{}", type_name(type), link.id,
                               link.id + link.count - 1);
    } else if (!link.carries(sender)) {
      out.kind = FrameOutcome::Kind::wrong_client;
      out.reason = fmt::format("a request of client {} on the link of clients {}..{}", sender,
                               link.id, link.id + link.count - 1);
    } else {
      out.own = true;
    }
    return out;
  }
  switch (type) {
    case MessageType::request:
      return out;  // a backup's forward: the client's, checked as such
    case MessageType::pre_prepare:
    case MessageType::new_view:
      return out;  // relayed, or carrying others' messages: never the link's fault alone
    case MessageType::prepare:
    case MessageType::checkpoint:
      out.own = sender == link.id;  // relayed when another's
      return out;
    case MessageType::commit:
    case MessageType::status:
    case MessageType::view_change:
    case MessageType::fetch:
    case MessageType::fetch_reply:
      if (sender == link.id) {
        out.own = type != MessageType::view_change;  // it carries others' messages
        return out;
      }
      break;
    case MessageType::reply:
      break;  // replicas send replies to clients only
  }
  out.kind = FrameOutcome::Kind::wrong_sender;
  out.reason = fmt::format("a {} of replica {} on replica {}'s link (only its sender sends it)",
                           type_name(type), sender, link.id);
  return out;
}

Cost verify_cost(ByteView frame, const ProtocolConfig& config) {
  constexpr size_t cheap_bytes_max = 16 * 1024;
  constexpr size_t one_signature_bytes_max = 64 * 1024;
  const bool macs = config.client_auth == RequestAuth::authenticator;
  switch (type_of(frame)) {
    case MessageType::request:
      if (!macs) return Cost::one_signature;
      return frame.size() <= cheap_bytes_max ? Cost::cheap : Cost::heavy;
    case MessageType::commit:
    case MessageType::reply:
    case MessageType::status:
    case MessageType::fetch:
    case MessageType::fetch_reply:
      return frame.size() <= cheap_bytes_max ? Cost::cheap : Cost::heavy;
    case MessageType::prepare:
    case MessageType::checkpoint:
      return Cost::one_signature;
    case MessageType::pre_prepare:
      // Its own signature, and each request's MACs or signature.
      return macs && frame.size() <= one_signature_bytes_max ? Cost::one_signature : Cost::heavy;
    default:
      return Cost::heavy;
  }
}

// SCREENING: see verification.h.
ScreenedFrame screen_frame(ByteView frame, Replica& replica) {
  // The core's screening (Replica::screen): frames of the types it screens
  // are decoded here on the loop, where the core lives, and it may take
  // them unchecked (a vote for a slot already done) or ask for less to be
  // checked (a pre-prepare whose signed requests it leaves to the others).
  ScreenedFrame out;
  if (replica.refuse_size(type_of(frame), frame.size())) {
    FrameOutcome refused;
    refused.kind = FrameOutcome::Kind::unwanted;  // counted by the core
    // Larger than any a correct replica sends, and only its sender's own
    // link carries it (check_link): the link closes and that replica backs
    // off, so that it cannot make this one read megabytes at will.
    refused.close_link = true;
    out.settled = std::move(refused);
    return out;
  }
  if (!replica.screens(type_of(frame))) return out;
  Result<Message> decoded = wire::decode(frame);
  if (!decoded) {
    out.settled = undecodable(decoded.reason());
    return out;
  }
  Message message = std::move(decoded).value();
  const Replica::Screening screening = replica.screen(message);
  if (screening.taken) {
    FrameOutcome unwanted;
    unwanted.kind = FrameOutcome::Kind::unwanted;
    out.settled = std::move(unwanted);
    return out;
  }
  out.checks = std::move(screening.checks);
  out.decoded = std::move(message);
  return out;
}

FrameChecker::FrameChecker(asio::io_context& io, unsigned threads, const Verifier& verifier,
                           const ClusterConfig& cluster)
    : verifier_(verifier), cluster_(cluster), pool_(io, threads) {}

bool FrameChecker::checks_here(ByteView frame, const ScreenedFrame& screened) const {
  // Cheap frames are checked here: the hand-off to a worker and back costs
  // more. So is a frame with one signature while no worker is busy: the
  // hand-off's two thread switches would add to its latency what they save
  // only when there is other work to overlap.
  const Cost cost = screened.checks.requests == BatchRequests::unchecked
                        ? Cost::one_signature
                        : verify_cost(frame, cluster_.protocol);
  return pool_.threads() == 0 || cost == Cost::cheap ||
         (cost == Cost::one_signature && pool_jobs_ == 0);
}

FrameOutcome FrameChecker::check_here(ByteView frame, ScreenedFrame screened) const {
  return screened.decoded
             ? examine(std::move(*screened.decoded), verifier_, cluster_, std::move(screened.checks))
             : examine(frame, verifier_, cluster_);
}

void FrameChecker::check_on_pool(Lane lane, Bytes frame, ScreenedFrame screened,
                                 std::function<void(FrameOutcome)> done) {
  const Verifier* verifier = &verifier_;
  const ClusterConfig* cluster = &cluster_;
  std::function<FrameOutcome()> work;
  if (screened.decoded) {
    work = [decoded = std::make_shared<Message>(std::move(*screened.decoded)), verifier, cluster,
            checks = std::move(screened.checks)]() mutable {
      return examine(std::move(*decoded), *verifier, *cluster, std::move(checks));
    };
  } else {
    work = [shared_frame = std::make_shared<Bytes>(std::move(frame)), verifier, cluster]() {
      FrameOutcome out = examine(*shared_frame, *verifier, *cluster);
      shared_frame->clear();
      shared_frame->shrink_to_fit();
      return out;
    };
  }
  pool_jobs_++;
  pool_.submit<FrameOutcome>(lane, std::move(work),
                             [this, done = std::move(done)](FrameOutcome outcome) {
                               pool_jobs_--;
                               done(std::move(outcome));
                             });
}

}  // namespace pbft::runtime
