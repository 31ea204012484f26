// Cheap checks before expensive ones (issue 18, finding 2): every rule that
// needs no cryptography (the view, one message per sender, the counts that
// n, f and the log window L allow, a batch's digest, requests executed
// already, freshness) refuses a message before any signature or MAC of it
// is checked. Each test delivers through the one receive path of every
// host (Replica::screen, Verifier::verify with its Checks, step) to a
// replica whose crypto counts verifications, and asserts both the rule that
// fired (its DropReason, or the verifier's refusal) and how many
// verifications it cost.

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>

#include "core_harness.h"

namespace pbft::testing {
namespace {

// The fake crypto, counting signature and MAC verifications.
class CountingCrypto final : public Crypto {
 public:
  explicit CountingCrypto(std::unique_ptr<Crypto> inner) : inner_(std::move(inner)) {}
  Principal self() const override { return inner_->self(); }
  Digest digest(ByteView data) const override { return inner_->digest(data); }
  Signature sign(ByteView data) const override { return inner_->sign(data); }
  bool verify(Principal signer, ByteView data, const Signature& signature) const override {
    signatures++;
    return inner_->verify(signer, data, signature);
  }
  Mac mac(Principal peer, ByteView data) const override { return inner_->mac(peer, data); }
  bool verify_mac(Principal peer, ByteView data, const Mac& mac) const override {
    macs++;
    return inner_->verify_mac(peer, data, mac);
  }
  mutable std::atomic<uint64_t> signatures{0};
  mutable std::atomic<uint64_t> macs{0};

 private:
  std::unique_ptr<Crypto> inner_;
};

// What delivering one message did.
enum class Fate { refused, verify_failed, stepped };

// One replica (`self`) of a cluster whose other members' messages a
// Cluster makes (the same fake keys), delivered through the receive path.
struct Screened {
  explicit Screened(ProtocolConfig config, ReplicaId id = 1)
      : c(config, 2),
        crypto(fake::make_crypto(Principal::replica(id), universe, config.n, 2)),
        verifier(c.config(), crypto) {
    auto r = Replica::create(c.config(), id, crypto, store);
    EXPECT_TRUE(r.is_ok()) << r.status().reason();
    replica = std::move(r.value());
  }

  Fate deliver(Message m) {
    Replica::Screening screening = replica->screen(m);
    if (screening.taken) return Fate::refused;
    auto v = verifier.verify(std::move(m), std::move(screening.checks));
    if (!v) {
      last_refusal = v.reason();
      return Fate::verify_failed;
    }
    replica->step(v.value());
    return Fate::stepped;
  }
  // Verifications done by `f` (signatures and MACs).
  template <typename F>
  uint64_t cost(F f) {
    const uint64_t before = crypto.signatures + crypto.macs;
    f();
    return crypto.signatures + crypto.macs - before;
  }
  uint64_t dropped(DropReason r) const { return replica->counters().dropped(r); }
  // Enters view v+1 (changing views) by its own timer: it holds a request
  // that does not execute. No VIEW-CHANGE from anyone else is in.
  void join_view_change(View v) {
    ASSERT_EQ(replica->view() + 1, v);
    ASSERT_EQ(deliver(c.make_request(0, 1, put("k", "v"))), Fate::stepped);
    for (int t = 0; t < 10'000 && !replica->view_changing(); t++) replica->tick();
    ASSERT_EQ(replica->view(), v);
    ASSERT_TRUE(replica->view_changing());
    (void)replica->take_effects();
  }

  Cluster c;  // the other replicas' keys, and message makers
  CountingCrypto crypto;
  kv::Store store;
  Verifier verifier;
  std::unique_ptr<Replica> replica;
  std::string last_refusal;
};

ProtocolConfig screening_config() {
  ProtocolConfig c = small_config();  // n = 4, f = 1, K = 16, L = 32
  return c;
}

// The largest VIEW-CHANGE a faulty replica could send before these rules,
// within one frame (constants::message_size_max): certificates of 64
// prepares, as many as fit, and a proof of 64 checkpoints.
ViewChange oversized_view_change(const Cluster& c, ReplicaId sender, View v,
                                 size_t certificates, size_t prepares_each) {
  ViewChange vc;
  vc.new_view = v;
  vc.stable_seq = 0;
  const Digest d{1};
  for (size_t k = 0; k < certificates; k++) {
    PreparedCertificate cert;
    const Seq s = k + 1;
    cert.pre_prepare = PrePrepare{0, s, d, 0, {}, {}};
    authenticate(cert.pre_prepare, c.crypto(0), c.config().n);
    for (size_t p = 0; p < prepares_each; p++) {
      cert.prepares.push_back(c.make_prepare(static_cast<ReplicaId>(1 + p % 3), 0, s, d));
    }
    vc.prepared.push_back(std::move(cert));
  }
  authenticate(vc, c.crypto(sender), c.config().n);
  return vc;
}

// The signatures a verifier that checks everything it is handed (the
// verifier before this issue) checks in a VIEW-CHANGE.
uint64_t signatures_in(const ViewChange& vc) {
  uint64_t n = 1 + vc.checkpoint_proof.size();
  for (const PreparedCertificate& cert : vc.prepared) n += 1 + cert.prepares.size();
  return n;
}

// ===========================================================================
// VIEW-CHANGE

TEST(ScreeningViewChange, MorePreparesPerCertificateThanTwoFIsRefusedUnchecked) {
  Screened t(screening_config());
  const ViewChange vc = oversized_view_change(t.c, 3, 1, 1, 3);  // 2f = 2
  EXPECT_EQ(t.cost([&] { EXPECT_EQ(t.deliver(vc), Fate::refused); }), 0u);
  EXPECT_EQ(t.dropped(DropReason::view_change_oversized), 1u);
  EXPECT_FALSE(t.verifier.check_bounds(vc)) << "the verifier refuses it too, unchecked";
}

TEST(ScreeningViewChange, MoreCertificatesThanTheWindowIsRefusedUnchecked) {
  Screened t(screening_config());
  const ViewChange vc = oversized_view_change(t.c, 3, 1, 33, 2);  // L = 32
  EXPECT_EQ(t.cost([&] { EXPECT_EQ(t.deliver(vc), Fate::refused); }), 0u);
  EXPECT_EQ(t.dropped(DropReason::view_change_oversized), 1u);
}

TEST(ScreeningViewChange, AProofOfMoreThanTwoFPlusOneCheckpointsIsRefusedUnchecked) {
  Screened t(screening_config());
  std::vector<Checkpoint> proof;
  for (ReplicaId i = 0; i < 4; i++) proof.push_back(t.c.make_checkpoint(i, 16, Digest{7}));
  const ViewChange vc = t.c.make_view_change(3, 1, 16, proof);
  EXPECT_EQ(t.cost([&] { EXPECT_EQ(t.deliver(vc), Fate::refused); }), 0u);
  EXPECT_EQ(t.dropped(DropReason::view_change_oversized), 1u);
}

// Before decoding (Replica::refuse_size): a frame longer than the largest
// VIEW-CHANGE n, f and L allow (2f+1 checkpoints, L certificates of 2f
// prepares) is refused on its length; the largest allowed one is not.
TEST(ScreeningViewChange, AFrameLongerThanTheLargestAllowedIsRefusedByItsLength) {
  Screened t(screening_config());
  std::vector<Checkpoint> proof;
  for (ReplicaId i = 0; i < 3; i++) proof.push_back(t.c.make_checkpoint(i, 16, Digest{7}));
  ViewChange largest = oversized_view_change(t.c, 3, 1, 32, 2);  // L = 32, 2f = 2
  largest.checkpoint_proof = proof;
  const size_t bytes = wire::encode(Message{largest}).size();
  EXPECT_FALSE(t.replica->refuse_size(MessageType::view_change, bytes));
  EXPECT_EQ(t.dropped(DropReason::view_change_oversized), 0u);
  EXPECT_TRUE(t.replica->refuse_size(MessageType::view_change, bytes + 1));
  EXPECT_EQ(t.dropped(DropReason::view_change_oversized), 1u);
  const ViewChange too_many = oversized_view_change(t.c, 3, 1, 33, 2);
  EXPECT_TRUE(t.replica->refuse_size(MessageType::view_change,
                                     wire::encode(Message{too_many}).size()));
  // Other types are not judged by length here.
  EXPECT_FALSE(t.replica->refuse_size(MessageType::status, 1u << 20));
}

TEST(ScreeningViewChange, AStaleViewIsRefusedUnchecked) {
  Screened t(screening_config());
  const ViewChange vc = t.c.make_view_change(3, 0);  // view 0 is this replica's, installed
  EXPECT_EQ(t.cost([&] { EXPECT_EQ(t.deliver(vc), Fate::refused); }), 0u);
  EXPECT_EQ(t.dropped(DropReason::view_change_stale), 1u);
}

TEST(ScreeningViewChange, AViewTooFarAheadIsRefusedUnchecked) {
  Screened t(screening_config());
  const ViewChange vc = t.c.make_view_change(3, constants::view_ahead_max + 1);
  EXPECT_EQ(t.cost([&] { EXPECT_EQ(t.deliver(vc), Fate::refused); }), 0u);
  EXPECT_EQ(t.dropped(DropReason::view_change_too_far), 1u);
}

TEST(ScreeningViewChange, ASecondOneFromASenderNotAboveTheHeldOneIsRefusedUnchecked) {
  Screened t(screening_config());
  const ViewChange vc = t.c.make_view_change(3, 2);
  EXPECT_EQ(t.deliver(vc), Fate::stepped);
  // Re-sent at will (the attack of finding 2), or one for a lower view.
  EXPECT_EQ(t.cost([&] { EXPECT_EQ(t.deliver(vc), Fate::refused); }), 0u);
  EXPECT_EQ(t.cost([&] { EXPECT_EQ(t.deliver(t.c.make_view_change(3, 1)), Fate::refused); }), 0u);
  EXPECT_EQ(t.dropped(DropReason::view_change_not_newer), 2u);
}

TEST(ScreeningViewChange, AnInvalidCertificateIsRefusedUnchecked) {
  Screened t(screening_config());
  const Digest d{9};
  // 2f - 1 prepares: too few (check_view_change), found without a signature check.
  const ViewChange vc =
      t.c.make_view_change(3, 1, 0, {}, {t.c.make_certificate(0, 1, d, {2})});
  EXPECT_EQ(t.cost([&] { EXPECT_EQ(t.deliver(vc), Fate::refused); }), 0u);
  EXPECT_EQ(t.dropped(DropReason::view_change_invalid), 1u);
}

// A replica that is not the new view's primary counts a VIEW-CHANGE by its
// view alone: one signature, its own, whatever it carries.
TEST(ScreeningViewChange, AReplicaThatIsNotTheNewPrimaryChecksOnlyTheOuterSignature) {
  Screened t(screening_config(), 2);  // the primary of view 1 is replica 1
  const ViewChange vc = oversized_view_change(t.c, 3, 1, 32, 2);  // the largest valid one
  EXPECT_EQ(t.cost([&] { EXPECT_EQ(t.deliver(vc), Fate::stepped); }), 1u);
  // Its forged contents cost nothing either; its forged signature one check.
  ViewChange bad = oversized_view_change(t.c, 0, 1, 32, 2);
  bad.prepared[5].prepares[1].signature[0] ^= 1;
  bad.signature = t.c.crypto(0).sign(wire::auth_payload(bad));
  EXPECT_EQ(t.cost([&] { EXPECT_EQ(t.deliver(bad), Fate::stepped); }), 1u);
  ViewChange forged = t.c.make_view_change(0, 2);
  forged.signature[0] ^= 1;
  EXPECT_EQ(t.cost([&] { EXPECT_EQ(t.deliver(forged), Fate::verify_failed); }), 1u);
}

// The outer signature comes first: a VIEW-CHANGE whose own signature is
// forged costs one check at the new primary too, however large it is.
TEST(ScreeningViewChange, TheOuterSignatureIsCheckedBeforeTheEmbeddedOnes) {
  Screened t(screening_config());  // replica 1: the primary of view 1
  t.join_view_change(1);
  ViewChange forged = oversized_view_change(t.c, 3, 1, 32, 2);
  forged.signature[0] ^= 1;
  EXPECT_EQ(t.cost([&] { EXPECT_EQ(t.deliver(forged), Fate::verify_failed); }), 1u);
  EXPECT_EQ(t.last_refusal, "signature does not verify");
}

// The new primary, changing to its view, checks everything it will put in
// its NEW-VIEW; a primary of a later view checks the contents once it gets
// there, and drops what fails.
TEST(ScreeningViewChange, TheNewPrimaryChecksTheContentsWhenItNeedsThem) {
  Screened t(screening_config());  // replica 1: the primary of views 1 and 5
  const Digest d{3};
  ViewChange bad = t.c.make_view_change(3, 5, 0, {}, {t.c.make_certificate(0, 1, d, {1, 2})});
  bad.prepared[0].prepares[0].signature[0] ^= 1;
  bad.signature = t.c.crypto(3).sign(wire::auth_payload(bad));
  // For view 5, from view 0: held, counted by its view, its contents unchecked.
  EXPECT_EQ(t.cost([&] { EXPECT_EQ(t.deliver(bad), Fate::stepped); }), 1u);
  EXPECT_EQ(t.dropped(DropReason::view_change_invalid), 0u);
  // Replicas 0 and 2 ask for view 5 too: replica 1 joins it, checks the held
  // VIEW-CHANGEs' contents (3's fails: dropped) and, with its own and 0's
  // and 2's, has 2f+1 valid ones: its NEW-VIEW leaves 3's out.
  EXPECT_EQ(t.deliver(t.c.make_view_change(0, 5)), Fate::stepped);
  EXPECT_EQ(t.deliver(t.c.make_view_change(2, 5)), Fate::stepped);
  EXPECT_EQ(t.replica->view(), 5u);
  EXPECT_EQ(t.dropped(DropReason::view_change_invalid), 1u);
  std::vector<NewView> nvs = sent<NewView>(t.replica->take_effects().all<Send>());
  ASSERT_EQ(nvs.size(), 1u);
  for (const ViewChange& vc : nvs[0].view_changes) EXPECT_NE(vc.sender, 3u);
  // A valid one for the view it is changing to is checked in full on arrival.
  Screened u(screening_config());
  u.join_view_change(1);
  const ViewChange good = u.c.make_view_change(3, 1, 0, {}, {u.c.make_certificate(0, 1, d, {1, 2})});
  EXPECT_EQ(u.cost([&] { EXPECT_EQ(u.deliver(good), Fate::stepped); }), signatures_in(good));
}

// NEW-VIEW(v, V, O): everything but the signatures first.
TEST(ScreeningNewView, AStaleOrOversizedOrInvalidNewViewIsRefusedUnchecked) {
  Screened t(screening_config(), 2);
  std::vector<ViewChange> v1;
  for (ReplicaId i : {0u, 1u, 3u}) v1.push_back(t.c.make_view_change(i, 1));
  // Stale: view 0 is installed.
  EXPECT_EQ(t.cost([&] { EXPECT_EQ(t.deliver(t.c.make_new_view(0, 0, v1, {})), Fate::refused); }),
            0u);
  EXPECT_EQ(t.dropped(DropReason::new_view_stale), 1u);
  // Oversized: more VIEW-CHANGEs than replicas.
  std::vector<ViewChange> five = v1;
  five.push_back(t.c.make_view_change(2, 1));
  five.push_back(t.c.make_view_change(3, 1));
  EXPECT_EQ(t.cost([&] { EXPECT_EQ(t.deliver(t.c.make_new_view(1, 1, five, {})), Fate::refused); }),
            0u);
  EXPECT_EQ(t.dropped(DropReason::new_view_oversized), 1u);
  // Invalid: O is not what V implies (V implies nothing; O has an entry).
  EXPECT_EQ(t.cost([&] {
    EXPECT_EQ(t.deliver(t.c.make_new_view(1, 1, v1, {{1, Digest{4}}})), Fate::refused);
  }),
            0u);
  // Invalid: not from the view's primary.
  EXPECT_EQ(t.cost([&] { EXPECT_EQ(t.deliver(t.c.make_new_view(3, 1, v1, {})), Fate::refused); }),
            0u);
  EXPECT_EQ(t.dropped(DropReason::new_view_invalid), 2u);
  // The valid one: its signature and each VIEW-CHANGE's.
  EXPECT_EQ(t.cost([&] { EXPECT_EQ(t.deliver(t.c.make_new_view(1, 1, v1, {})), Fate::stepped); }),
            4u);
  EXPECT_EQ(t.replica->view(), 1u);
}

// A NEW-VIEW assembled from VIEW-CHANGEs its sender made up fails at the
// first embedded VIEW-CHANGE signature, before any VIEW-CHANGE's contents.
TEST(ScreeningNewView, EmbeddedViewChangeSignaturesComeBeforeTheirContents) {
  Screened t(screening_config(), 2);
  std::vector<ViewChange> v1;
  for (ReplicaId i : {1u, 3u, 0u}) {
    v1.push_back(oversized_view_change(t.c, i, 1, 32, 2));
  }
  v1[2].signature[0] ^= 1;  // replica 0's, made up by the new primary
  std::vector<std::pair<Seq, Digest>> order;
  for (Seq s = 1; s <= 32; s++) order.emplace_back(s, Digest{1});
  const NewView nv = t.c.make_new_view(1, 1, v1, order);
  // Its own signature, then the three VIEW-CHANGEs' own: 4, not 4 + 3 * 96.
  EXPECT_EQ(t.cost([&] { EXPECT_EQ(t.deliver(nv), Fate::verify_failed); }), 4u);
  EXPECT_EQ(t.last_refusal, "embedded view-change signature does not verify");
}

// ===========================================================================
// PRE-PREPARE (signed requests: the costly kind)

ProtocolConfig signed_screening_config() {
  ProtocolConfig c = screening_config();
  c.client_auth = RequestAuth::signature;
  return c;
}

TEST(ScreeningPrePrepare, ABatchThatDoesNotHashToTheDigestCostsOneSignature) {
  Screened t(signed_screening_config());
  std::vector<Request> batch;
  for (Timestamp ts = 1; ts <= 8; ts++) batch.push_back(t.c.make_request(0, ts, put("k", "v")));
  PrePrepare pp = t.c.make_pre_prepare(0, 0, 1, batch);
  pp.batch.pop_back();  // the primary signed another batch
  EXPECT_EQ(t.cost([&] { EXPECT_EQ(t.deliver(pp), Fate::verify_failed); }), 1u);
  EXPECT_EQ(t.last_refusal, "batch does not hash to the pre-prepare's digest");
}

TEST(ScreeningPrePrepare, NotFromTheViewsPrimaryIsRefusedUnchecked) {
  Screened t(signed_screening_config());
  const PrePrepare pp = t.c.make_pre_prepare(3, 0, 1, {t.c.make_request(0, 1, put("k", "v"))});
  EXPECT_EQ(t.cost([&] { EXPECT_EQ(t.deliver(pp), Fate::refused); }), 0u);
  EXPECT_EQ(t.dropped(DropReason::pre_prepare_not_primary), 1u);
}

// A primary that stuffs its batches with requests executed already (valid
// signatures, replayed) costs a digest each, not a signature check each.
TEST(ScreeningPrePrepare, RequestsExecutedAlreadyAreNotCheckedAgain) {
  ProtocolConfig config = signed_screening_config();
  Cluster c(config, 2);
  const Request first = c.make_request(0, 1, put("k", "v"));
  ASSERT_TRUE(c.deliver(0, first));
  c.run();
  ASSERT_EQ(c.replica(1).last_executed(), 1u);
  // Replica 1's screening of a batch with the executed request four times
  // and one fresh request: only the fresh one is to be checked.
  std::vector<Request> batch(4, first);
  batch.push_back(c.make_request(1, 1, put("j", "w")));
  PrePrepare pp = c.make_pre_prepare(0, 0, 2, batch);
  Message m = pp;
  Replica::Screening screening = c.replica(1).screen(m);
  ASSERT_FALSE(screening.taken);
  EXPECT_EQ(screening.checks.executed_requests, (std::vector<uint32_t>{0, 1, 2, 3}));
  CountingCrypto counting(fake::make_crypto(Principal::replica(1), universe, config.n, 2));
  Verifier verifier(c.config(), counting);
  auto v = verifier.verify(m, screening.checks);
  ASSERT_TRUE(v.is_ok()) << v.reason();
  EXPECT_EQ(counting.signatures, 2u) << "the pre-prepare's and the fresh request's";
}

// ===========================================================================
// STATUS and FETCH freshness (finding 4)

TEST(Freshness, AReplayedStatusIsRefusedUncheckedAndAnswersNothing) {
  Screened t(screening_config());
  const StatusMessage status = t.c.make_status(2, 0, false, 0, 0);
  EXPECT_EQ(t.deliver(status), Fate::stepped);
  (void)t.replica->take_effects();
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(t.cost([&] { EXPECT_EQ(t.deliver(status), Fate::refused); }), 0u);
  }
  EXPECT_EQ(t.dropped(DropReason::status_replayed), 3u);
  EXPECT_TRUE(t.replica->take_effects().empty());
  // A newer one from the same sender is taken.
  EXPECT_EQ(t.deliver(t.c.make_status(2, 0, false, 0, 0)), Fate::stepped);
}

TEST(Freshness, AStatusCarriesACounterAboveTheBaseAndRisingWithEachOne) {
  ProtocolConfig config = screening_config();
  Cluster c(config, 1);
  kv::Store store;
  ReplicaOptions options;
  options.freshness_base = 1'000'000;
  auto crypto = fake::make_crypto(Principal::replica(1), universe, config.n, 1);
  auto r = Replica::create(config, 1, *crypto, store, options);
  ASSERT_TRUE(r.is_ok());
  uint64_t last = options.freshness_base;
  for (int i = 0; i < 3; i++) {
    for (uint64_t k = 0; k < 4 * config.status_interval_ticks; k++) r.value()->tick();
    auto statuses = sent<StatusMessage>(r.value()->take_effects().all<Send>());
    ASSERT_EQ(statuses.size(), 1u);
    EXPECT_GT(statuses[0].counter, last);
    last = statuses[0].counter;
  }
}

Fetch make_fetch(const Cluster& c, ReplicaId sender, uint64_t counter) {
  Fetch f;
  f.checkpoint = 0;
  f.level = 1;
  f.index = 0;
  f.counter = counter;
  f.sender = sender;
  f.authenticator = make_authenticator(c.crypto(sender), c.config().n, wire::auth_payload(f));
  return f;
}

TEST(Freshness, AReplayedFetchIsRefusedUncheckedAndReorderedOnesWithinTheWindowAreServed) {
  Screened t(screening_config());
  EXPECT_EQ(t.deliver(make_fetch(t.c, 2, 100)), Fate::stepped);
  EXPECT_EQ(t.deliver(make_fetch(t.c, 2, 98)), Fate::stepped);  // overtaken: still served
  EXPECT_EQ(t.replica->counters().fetches_served, 2u);
  for (uint64_t counter : {100u, 98u}) {
    EXPECT_EQ(t.cost([&] { EXPECT_EQ(t.deliver(make_fetch(t.c, 2, counter)), Fate::refused); }),
              0u);
  }
  // Below the window: refused, even if never seen.
  EXPECT_EQ(t.deliver(make_fetch(t.c, 2, 100 - constants::fetch_replay_window)), Fate::refused);
  EXPECT_EQ(t.dropped(DropReason::fetch_replayed), 3u);
  EXPECT_EQ(t.deliver(make_fetch(t.c, 2, 99)), Fate::stepped);
  EXPECT_EQ(t.deliver(make_fetch(t.c, 2, 500)), Fate::stepped);
  EXPECT_EQ(t.deliver(make_fetch(t.c, 3, 1)), Fate::stepped) << "each sender has its own";
  EXPECT_EQ(t.replica->counters().fetches_served, 5u);
}

// ===========================================================================
// The measure: what the worst VIEW-CHANGE a faulty replica can send costs
// a correct one, in signature verifications, before and after.

TEST(Measure, TheWorstViewChangeOfAFaultyReplica) {
  // Before: the decoder took up to 4,096 certificates of 64 prepares, the
  // verifier checked every signature of whatever fit in one frame (4 MiB:
  // about 36,000 signatures, ~1.7 s of Ed25519), and the same message
  // could be sent again at will.
  const size_t prepare_size = 8 + 8 + digest_size + 4 + signature_size;
  const size_t per_certificate = 8 + 8 + digest_size + 4 + signature_size + 4 + 64 * prepare_size;
  const size_t fits = (constants::message_size_max - 256) / per_certificate;
  Screened t(screening_config());
  const ViewChange huge = oversized_view_change(t.c, 3, 1, fits, 64);
  const uint64_t before = signatures_in(huge);
  const uint64_t refused = t.cost([&] { EXPECT_EQ(t.deliver(huge), Fate::refused); });
  // After: the largest one the rules let through (L certificates of 2f
  // prepares, a proof of 2f+1), at the replica that checks it in full: the
  // new primary, changing to that view; once per sender and view.
  Screened p(screening_config());
  p.join_view_change(1);
  const ViewChange largest = oversized_view_change(p.c, 3, 1, 32, 2);
  const uint64_t at_primary = p.cost([&] { EXPECT_EQ(p.deliver(largest), Fate::stepped); });
  const uint64_t again = p.cost([&] { EXPECT_EQ(p.deliver(largest), Fate::refused); });
  Screened b(screening_config(), 2);
  const uint64_t at_backup = b.cost([&] { EXPECT_EQ(b.deliver(largest), Fate::stepped); });
  std::printf(
      "worst VIEW-CHANGE (n = 4, L = 32), signature verifications: before %llu (one frame, "
      "re-sent at will); now: oversized %llu, largest valid %llu at the new primary (once per "
      "sender and view), %llu at any other replica, %llu re-sent\n",
      static_cast<unsigned long long>(before), static_cast<unsigned long long>(refused),
      static_cast<unsigned long long>(at_primary), static_cast<unsigned long long>(at_backup),
      static_cast<unsigned long long>(again));
  EXPECT_GT(before, 30'000u);
  EXPECT_EQ(refused, 0u);
  EXPECT_EQ(at_primary, 1u + 32u * 3u);  // its own, then L certificates of 1 + 2f
  EXPECT_EQ(at_backup, 1u);
  EXPECT_EQ(again, 0u);
}

// ===========================================================================
// Finding 8: a request older than its client's last executed one is
// answered, not ignored.

TEST(StaleRequests, AReplicaAnswersAnOldTimestampWithItsLastExecutedOne) {
  Cluster c;
  ASSERT_TRUE(c.deliver(0, c.make_request(0, 10, put("k", "v"))));
  c.run();
  ASSERT_EQ(c.completions(0).size(), 0u);  // (the client core did not send it)
  ASSERT_TRUE(c.deliver(1, c.make_request(0, 5, put("k", "w"))));
  std::vector<Reply> replies = sent<Reply>(c.drain(1));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_TRUE(replies[0].stale);
  EXPECT_FALSE(replies[0].full);
  EXPECT_EQ(replies[0].timestamp, 5u);
  EXPECT_EQ(replies[0].executed_timestamp, 10u);
  EXPECT_EQ(c.replica(1).counters().dropped(DropReason::request_old), 1u);
}

// A client restarted with a clock behind the timestamps it used before:
// its first request fails (outcome unknown), the next one executes.
TEST(StaleRequests, AClientWhoseClockWentBackRecoversAfterOneFailedRequest) {
  Cluster c;
  ASSERT_TRUE(c.deliver(0, c.make_request(0, 1'000, put("k", "v"))));  // its earlier life
  c.run();
  auto t = c.client(0).submit(kv::encode_op(put("k", "w")));  // timestamps from 1 again
  ASSERT_TRUE(t.is_ok());
  ASSERT_LT(*t, 1'000u);
  c.run();
  for (int i = 0; i < 20 && c.failures(0).empty(); i++) {
    c.tick_all(10);
    c.run();
  }
  ASSERT_EQ(c.failures(0).size(), 1u);
  EXPECT_NE(c.failures(0)[0].find("1000"), std::string::npos) << c.failures(0)[0];
  EXPECT_TRUE(c.completions(0).empty());
  EXPECT_FALSE(c.client(0).busy());
  auto next = c.client(0).submit(kv::encode_op(put("k", "x")));
  ASSERT_TRUE(next.is_ok());
  EXPECT_GT(*next, 1'000u);
  c.run();
  ASSERT_EQ(c.completions(0).size(), 1u);
  EXPECT_EQ(c.completions(0)[0].timestamp, *next);
}

// f stale replies (faulty replicas) move nothing.
TEST(StaleRequests, FewerThanFPlusOneStaleRepliesDoNotFailTheRequest) {
  Cluster c;
  auto t = c.client(0).submit(Bytes{1});
  ASSERT_TRUE(t.is_ok());
  c.drain_client(0);
  Reply r;
  r.timestamp = *t;
  r.client = 0;
  r.sender = 3;
  r.full = false;
  r.stale = true;
  r.executed_timestamp = *t + 1'000'000;
  r.mac = c.crypto(3).mac(Principal::client(0), wire::auth_payload(r));
  ASSERT_TRUE(c.deliver_to_client(0, r));
  c.drain_client(0);
  EXPECT_TRUE(c.failures(0).empty());
  EXPECT_TRUE(c.client(0).busy());
}


// ===========================================================================
// Replayed requests (issue 18, the replay-requests attack): a request at or
// below its client's last executed timestamp is answered from the
// last-reply table before any signature check, and at most once per status
// interval per client; the rest are counted and cost nothing.

TEST(ReplayedRequests, AreAnsweredUncheckedAndAtMostOncePerStatusInterval) {
  Cluster c;
  ASSERT_TRUE(c.deliver(0, c.make_request(0, 10, put("k", "v"))));
  c.run();
  (void)c.drain(1);
  Request replay = c.make_request(0, 10, put("k", "v"));
  // Not even authentic: screening answers first.
  if (replay.auth == RequestAuth::signature) {
    replay.signature[0] ^= 1;
  } else {
    replay.authenticator.at(1)[0] ^= 1;
  }
  Message m = replay;
  EXPECT_TRUE(c.replica(1).screen(m).taken);
  std::vector<Reply> replies = sent<Reply>(c.drain(1));
  ASSERT_EQ(replies.size(), 1u) << "the cached reply, re-sent";
  EXPECT_EQ(replies[0].timestamp, 10u);
  EXPECT_FALSE(replies[0].stale);

  // Again and again, and older ones, within the status interval: nothing.
  for (int i = 0; i < 100; i++) {
    Message again = c.make_request(0, i % 2 == 0 ? 10 : 3, put("k", "v"));
    EXPECT_TRUE(c.replica(1).screen(again).taken);
  }
  EXPECT_TRUE(sent<Reply>(c.drain(1)).empty());
  EXPECT_EQ(c.replica(1).counters().dropped(DropReason::reply_rate_limited), 100u);

  // A status interval later, one more answer (the client may have missed
  // the reply: a correct client re-sends far less often than this).
  for (uint64_t t = 0; t < c.config().status_interval_ticks; t++) c.replica(1).tick();
  (void)c.drain(1);
  Message old = c.make_request(0, 3, put("k", "w"));
  EXPECT_TRUE(c.replica(1).screen(old).taken);
  replies = sent<Reply>(c.drain(1));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_TRUE(replies[0].stale);
  EXPECT_EQ(replies[0].executed_timestamp, 10u);

  // A newer request is not screened out: it is verified and ordered.
  Message next = c.make_request(0, 11, put("k", "x"));
  EXPECT_FALSE(c.replica(1).screen(next).taken);
}

}  // namespace
}  // namespace pbft::testing
