// The replica family: the cluster's f = 1 faulty replica. The attacker
// holds replica `replica`'s key and takes its place: it dials the other
// replicas as that replica, and listens on its port for the links they dial
// to it, from which it learns the view and the stable checkpoint (their
// STATUS, CHECKPOINT and NEW-VIEW messages). It never votes.
//
//   replay-status          one signed STATUS and one FETCH, made once, then
//                          sent again and again (their freshness counters
//                          should make every copy after the first useless);
//   oversized-view-change  VIEW-CHANGEs as large as the decoder takes (the
//                          largest checkpoint proof, and as many
//                          certificates of as many prepares as fit a frame),
//                          properly signed, for each of the next views,
//                          sent again and again;
//   replica-junk           frames in its own name with valid headers and
//                          random bodies, and now and then a bad header.
#include <fmt/format.h>

#include <chrono>

#include "pbft/assert.h"
#include "pbft/constants.h"
#include "pbft/verifier.h"
#include "pbft/wire.h"
#include "src/attack/campaign.h"
#include "src/attack/junk.h"
#include "src/attack/links.h"

namespace pbft::attack {

namespace {

using std::chrono::milliseconds;

uint64_t wall_clock_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

class ReplicaCampaign : public Campaign {
 public:
  ReplicaCampaign(Context& context, runtime::QueueLimits limits, milliseconds pump_period)
      : context_(context),
        cluster_(context.options.cluster),
        n_(cluster_.protocol.n),
        self_(context.options.replica),
        identity_(LinkIdentity::replica(self_, context.options.replica_key)),
        links_(context.io, cluster_, identity_, limits, [](ReplicaId, Bytes) {}),
        listener_(context.io, cluster_, identity_, peers_, listener_counters_),
        pump_(context.io, pump_period, [this] { pump(); }) {
    Result<std::unique_ptr<Crypto>> crypto =
        sodium::make_crypto(Principal::replica(self_), context.options.replica_key,
                            std::make_shared<const KeyDirectory>(cluster_.key_directory()));
    PBFT_ASSERT(crypto.is_ok());
    crypto_ = std::move(crypto).value();
  }

  void start() override {
    // The port may still be taken (the honest replica it replaces has not
    // let go of it): the attacker dials anyway, and learns nothing.
    (void)listener_.start();
    links_.start();
    pump_.start();
  }
  void stop() override {
    pump_.stop();
    listener_.stop();
    links_.stop();
  }
  AttackCounters counters() const override {
    AttackCounters c = counters_;
    links_.add_to(c);
    c.frames_received += listener_counters_.frames_received;
    c.view_seen = view_;
    return c;
  }

 protected:
  // Called every pump period once every peer's link is up.
  virtual void attack() = 0;

  bool links_up() const {
    for (ReplicaId r = 0; r < n_; r++) {
      if (r != self_ && !links_.up(r)) return false;
    }
    return true;
  }

  // Sends `frame` to every peer whose link takes it; false when none did.
  bool send_all(const std::shared_ptr<const Bytes>& frame) {
    bool any = false;
    for (ReplicaId r = 0; r < n_; r++) {
      if (r != self_ && links_.send(r, frame) == runtime::SendResult::queued) any = true;
    }
    return any;
  }

  Context& context_;
  const ClusterConfig& cluster_;
  const uint32_t n_;
  const ReplicaId self_;
  LinkIdentity identity_;
  std::unique_ptr<Crypto> crypto_;
  // What the peers' messages show: the highest view and stable checkpoint.
  View view_ = 0;
  Seq stable_ = 0;
  std::chrono::steady_clock::time_point learning_since_ = std::chrono::steady_clock::now();
  AttackCounters counters_;
  LinkSet links_;

 private:
  // Frames the peers send on the links they dialed to this replica: STATUS,
  // CHECKPOINT and NEW-VIEW are read for the view and the checkpoint, the
  // rest is dropped unread (the pre-prepares' batches are large).
  class Peers final : public runtime::ConnectionOwner {
   public:
    explicit Peers(ReplicaCampaign& campaign) : campaign_(campaign) {}
    void on_hello(runtime::Connection&, const runtime::Hello&) override {}
    bool reserve(runtime::Connection&, size_t) override { return true; }
    void on_frame(runtime::Connection&, Bytes frame) override { campaign_.learn(frame); }
    void on_closed(runtime::Connection&, const std::string&) override {}

   private:
    ReplicaCampaign& campaign_;
  };

  void learn(const Bytes& frame) {
    const std::optional<MessageType> type = wire::peek_type(frame);
    if (type != MessageType::status && type != MessageType::checkpoint &&
        type != MessageType::new_view) {
      return;
    }
    Result<Message> decoded = wire::decode(frame);
    if (!decoded) return;
    if (const auto* s = std::get_if<StatusMessage>(&*decoded)) {
      view_ = std::max(view_, s->view);
      stable_ = std::max(stable_, s->last_stable);
    } else if (const auto* c = std::get_if<Checkpoint>(&*decoded)) {
      stable_ = std::max(stable_, c->seq);
    } else if (const auto* nv = std::get_if<NewView>(&*decoded)) {
      view_ = std::max(view_, nv->view);
    }
  }

  void pump() {
    if (!links_up()) return;
    attack();
  }

  Peers peers_{*this};
  runtime::RuntimeCounters listener_counters_;
  PeerListener listener_;
  Ticker pump_;
};

// How long a replica attacker listens to its peers before it makes the
// messages that depend on what they said (a STATUS goes out every few
// hundred milliseconds, even when idle).
constexpr auto learning_time = milliseconds(800);

// ------------------------------------------------------------ replay-status

class ReplayStatus final : public ReplicaCampaign {
 public:
  explicit ReplayStatus(Context& context)
      : ReplicaCampaign(context, runtime::QueueLimits{4096, 8 * 1024 * 1024}, milliseconds(1)) {}

 private:
  void attack() override {
    if (!status_) {
      if (std::chrono::steady_clock::now() - learning_since_ < learning_time) return;
      // One STATUS: "I executed nothing", which asks every peer for all it
      // holds; one FETCH of the stable checkpoint's tree. Each with a fresh
      // counter, once; every copy after is a replay.
      StatusMessage status;
      status.view = view_;
      status.counter = wall_clock_ns();
      authenticate(status, *crypto_, n_);
      status_ = std::make_shared<const Bytes>(wire::encode(Message(std::move(status))));
      Fetch fetch;
      fetch.checkpoint = stable_;
      fetch.level = 1;
      fetch.counter = wall_clock_ns();
      authenticate(fetch, *crypto_, n_);
      fetch_ = std::make_shared<const Bytes>(wire::encode(Message(std::move(fetch))));
      counters_.messages_built += 2;
    }
    constexpr size_t per_link_per_pump = 256;
    for (size_t k = 0; k < per_link_per_pump; k++) {
      if (!send_all(k % 2 == 0 ? status_ : fetch_)) break;
    }
  }

  std::shared_ptr<const Bytes> status_;
  std::shared_ptr<const Bytes> fetch_;
};

// ---------------------------------------------------- oversized-view-change

class OversizedViewChange final : public ReplicaCampaign {
 public:
  explicit OversizedViewChange(Context& context)
      : ReplicaCampaign(context, runtime::QueueLimits{4, 32 * 1024 * 1024}, milliseconds(5)) {}

 private:
  // The next views attacked at once.
  static constexpr View views_ahead = 8;

  void attack() override {
    if (std::chrono::steady_clock::now() - learning_since_ < learning_time) return;
    if (frames_.empty() || built_for_ != view_) build();
    for (size_t k = 0; k < frames_.size(); k++) {
      if (!send_all(frames_[next_++ % frames_.size()])) break;
    }
  }

  // The largest VIEW-CHANGE the decoder takes: a proof of
  // checkpoint_proof_max CHECKPOINTs and certificates of replicas_max
  // prepares each, as many as fit frame_size_max; the nested messages'
  // signatures are made up (only its own is real), one per view.
  void build() {
    Random& random = context_.random;
    auto random_digest = [&] {
      Digest d;
      for (uint8_t& b : d) b = static_cast<uint8_t>(random.next());
      return d;
    };
    auto random_signature = [&] {
      Signature s;
      for (uint8_t& b : s) b = static_cast<uint8_t>(random.next());
      return s;
    };
    ViewChange vc;
    vc.stable_seq = stable_;
    for (size_t i = 0; i < constants::checkpoint_proof_max; i++) {
      vc.checkpoint_proof.push_back(Checkpoint{stable_, random_digest(),
                                               static_cast<ReplicaId>(i % n_), random_signature()});
    }
    auto certificate = [&](Seq seq) {
      PreparedCertificate cert;
      cert.pre_prepare = PrePrepare{view_, seq, random_digest(), cluster_.protocol.primary(view_),
                                    {}, random_signature()};
      for (size_t p = 0; p < constants::replicas_max; p++) {
        cert.prepares.push_back(Prepare{view_, seq, cert.pre_prepare.digest,
                                        static_cast<ReplicaId>(p % n_), random_signature()});
      }
      return cert;
    };
    // One certificate's encoded size, by difference, then as many as fit.
    vc.new_view = view_ + 1;
    const size_t empty = wire::encode(Message(vc)).size();
    vc.prepared.push_back(certificate(stable_ + 1));
    const size_t one = wire::encode(Message(vc)).size() - empty;
    const size_t fit = std::min<size_t>((constants::frame_size_max - empty) / one,
                                        constants::view_change_prepared_max);
    for (size_t i = 1; i < fit; i++) vc.prepared.push_back(certificate(stable_ + 1 + i));
    frames_.clear();
    for (View v = view_ + 1; v <= view_ + views_ahead; v++) {
      vc.new_view = v;
      authenticate(vc, *crypto_, n_);
      auto frame = std::make_shared<const Bytes>(wire::encode(Message(vc)));
      PBFT_ASSERT(frame->size() <= constants::frame_size_max);
      frames_.push_back(std::move(frame));
      counters_.messages_built++;
    }
    built_for_ = view_;
  }

  std::vector<std::shared_ptr<const Bytes>> frames_;
  View built_for_ = 0;
  size_t next_ = 0;
};

// ------------------------------------------------------------- replica-junk

class ReplicaJunk final : public ReplicaCampaign {
 public:
  explicit ReplicaJunk(Context& context)
      : ReplicaCampaign(context, runtime::QueueLimits{4096, 16 * 1024 * 1024}, milliseconds(1)),
        junk_(context.options.seed) {}

 private:
  static constexpr size_t body_max = 4 * 1024;
  static constexpr auto bad_header_period = std::chrono::seconds(1);

  void attack() override {
    static constexpr MessageType replica_types[] = {
        MessageType::pre_prepare, MessageType::prepare,     MessageType::commit,
        MessageType::checkpoint,  MessageType::view_change, MessageType::new_view,
        MessageType::status,      MessageType::fetch,       MessageType::fetch_reply};
    Random& random = context_.random;
    // Now and then a frame whose header is noise, which closes the link
    // (the attacker's link then reconnects, after the runtime's back-off).
    const auto now = std::chrono::steady_clock::now();
    const bool bad_header = now - last_bad_header_ >= bad_header_period;
    if (bad_header) last_bad_header_ = now;
    for (ReplicaId r = 0; r < n_; r++) {
      if (r == self_) continue;
      if (bad_header) {
        Bytes noise;
        junk_.noise(random, constants::header_size + 64, noise);
        noise[0] = static_cast<uint8_t>(~constants::wire_magic);  // never the magic's first byte
        links_.send(r, std::make_shared<const Bytes>(std::move(noise)));
        continue;
      }
      constexpr size_t per_link_per_pump = 256;
      for (size_t k = 0; k < per_link_per_pump; k++) {
        const MessageType type = replica_types[random.uniform(std::size(replica_types))];
        auto frame = std::make_shared<const Bytes>(junk_.frame(random, type, self_, body_max));
        if (links_.send(r, std::move(frame)) != runtime::SendResult::queued) break;
      }
    }
  }

  JunkMaker junk_;
  std::chrono::steady_clock::time_point last_bad_header_ = std::chrono::steady_clock::now();
};

}  // namespace

std::unique_ptr<Campaign> make_replica_campaign(Context& context) {
  switch (context.options.mode) {
    case Mode::replay_status: return std::make_unique<ReplayStatus>(context);
    case Mode::oversized_view_change: return std::make_unique<OversizedViewChange>(context);
    case Mode::replica_junk: return std::make_unique<ReplicaJunk>(context);
    default: PBFT_ASSERT(false); return nullptr;
  }
}

}  // namespace pbft::attack
