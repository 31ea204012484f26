// The new-view checker's reference rules (sim/checkers.h), shown on
// hand-made, properly signed messages: a valid VIEW-CHANGE has no defect
// and each invalid one names its own; a NEW-VIEW whose O is what V implies
// passes, and one that chooses another certificate, omits or adds one, or
// rests on an invalid V is a failure that says who installed what.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "pbft/verifier.h"
#include "sim/checkers.h"
#include "tests/sim_test_util.h"

namespace pbft::sim {
namespace {

using test::digest_of;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class NewViewRules : public ::testing::Test {
 protected:
  NewViewRules() {
    config_.n = 4;
    config_.f = 1;
    config_.checkpoint_interval = 8;
    config_.log_window = 32;
    for (ReplicaId r = 0; r < config_.n; r++) {
      crypto_.push_back(fake::make_crypto(Principal::replica(r), 7, config_.n, 1));
    }
  }

  template <typename M>
  M signed_by(ReplicaId r, M m) const {
    authenticate(m, *crypto_[r], config_.n);
    return m;
  }

  // A prepared certificate for (v, s, d): the primary's pre-prepare and
  // the prepares of the first 2f backups.
  PreparedCertificate certificate(View v, Seq s, const Digest& d) const {
    PreparedCertificate cert;
    PrePrepare pp;
    pp.view = v;
    pp.seq = s;
    pp.digest = d;
    cert.pre_prepare = signed_by(config_.primary(v), pp);
    for (ReplicaId r = 0; r < config_.n && cert.prepares.size() < 2 * config_.f; r++) {
      if (r != config_.primary(v)) cert.prepares.push_back(prepare(v, s, d, r));
    }
    return cert;
  }

  Prepare prepare(View v, Seq s, const Digest& d, ReplicaId sender) const {
    Prepare p;
    p.view = v;
    p.seq = s;
    p.digest = d;
    return signed_by(sender, p);
  }

  // VIEW-CHANGE(new_view, stable, C, P) by `sender`, C from replicas 0..2f.
  ViewChange view_change(View new_view, ReplicaId sender, Seq stable,
                         std::vector<PreparedCertificate> prepared = {}) const {
    ViewChange vc;
    vc.new_view = new_view;
    vc.stable_seq = stable;
    if (stable > 0) {
      for (ReplicaId r = 0; r < config_.quorum(); r++) {
        Checkpoint c;
        c.seq = stable;
        c.state_digest = digest_of(0xcc);
        vc.checkpoint_proof.push_back(signed_by(r, c));
      }
    }
    vc.prepared = std::move(prepared);
    return signed_by(sender, vc);
  }

  ViewChange resigned(ViewChange vc) const { return signed_by(vc.sender, vc); }

  // NEW-VIEW(v, V, O) by v's primary, O as (seq, digest) pairs.
  NewView new_view(View v, std::vector<ViewChange> view_changes,
                   const std::vector<std::pair<Seq, Digest>>& order) const {
    NewView nv;
    nv.view = v;
    nv.view_changes = std::move(view_changes);
    for (const auto& [seq, digest] : order) {
      PrePrepare pp;
      pp.view = v;
      pp.seq = seq;
      pp.digest = digest;
      nv.pre_prepares.push_back(signed_by(config_.primary(v), pp));
    }
    return signed_by(config_.primary(v), nv);
  }

  std::vector<ViewChangeDefect> defects(const ViewChange& vc) const {
    return view_change_defects(config_, vc, crypto_[0].get());
  }

  Digest null() const { return batch_digest(*crypto_[0], {}); }

  ProtocolConfig config_;
  std::vector<std::unique_ptr<Crypto>> crypto_;
};

using Defects = std::vector<ViewChangeDefect>;

TEST_F(NewViewRules, AValidViewChangeHasNoDefect) {
  EXPECT_EQ(defects(view_change(3, 1, 0)), Defects{});
  EXPECT_EQ(defects(view_change(3, 1, 8, {certificate(1, 9, digest_of(1)),
                                          certificate(2, 12, digest_of(2))})),
            Defects{});
}

TEST_F(NewViewRules, TheStableCheckpointMustBeOnTheIntervalAndProven) {
  EXPECT_EQ(defects(view_change(3, 1, 5)), Defects{ViewChangeDefect::checkpoint_off_interval});
  ViewChange small = view_change(3, 1, 8);
  small.checkpoint_proof.pop_back();  // 2f CHECKPOINTs
  EXPECT_EQ(defects(resigned(small)), Defects{ViewChangeDefect::checkpoint_proof});
  ViewChange repeated = view_change(3, 1, 8);
  repeated.checkpoint_proof[2] = repeated.checkpoint_proof[0];  // 2f+1, two distinct
  EXPECT_EQ(defects(resigned(repeated)), Defects{ViewChangeDefect::checkpoint_proof});
  ViewChange mismatched = view_change(3, 1, 8);
  Checkpoint other = mismatched.checkpoint_proof[1];
  other.state_digest = digest_of(0xdd);
  mismatched.checkpoint_proof[1] = signed_by(1, other);
  EXPECT_EQ(defects(resigned(mismatched)), Defects{ViewChangeDefect::checkpoint_proof});
  ViewChange initial = view_change(3, 1, 0);
  initial.checkpoint_proof = view_change(3, 1, 8).checkpoint_proof;
  EXPECT_EQ(defects(resigned(initial)), Defects{ViewChangeDefect::checkpoint_proof});
}

TEST_F(NewViewRules, CertificatesAscendAboveTheCheckpointWithinTheWindow) {
  EXPECT_EQ(defects(view_change(3, 1, 8, {certificate(1, 12, digest_of(1)),
                                          certificate(1, 10, digest_of(2))})),
            Defects{ViewChangeDefect::out_of_order});
  EXPECT_EQ(defects(view_change(3, 1, 8, {certificate(1, 8, digest_of(1))})),
            Defects{ViewChangeDefect::out_of_order});
  EXPECT_EQ(defects(view_change(3, 1, 8, {certificate(1, 8 + 33, digest_of(1))})),
            Defects{ViewChangeDefect::above_window});
  EXPECT_EQ(defects(view_change(3, 1, 8, {certificate(1, 8 + 32, digest_of(1))})), Defects{});
  EXPECT_EQ(defects(view_change(3, 1, 8, {certificate(3, 9, digest_of(1))})),
            Defects{ViewChangeDefect::later_view});
}

TEST_F(NewViewRules, ACertificateIsAPrePrepareByThePrimaryAnd2fMatchingBackups) {
  PreparedCertificate not_primary = certificate(1, 9, digest_of(1));
  not_primary.pre_prepare = signed_by(2, not_primary.pre_prepare);
  EXPECT_EQ(defects(view_change(3, 1, 8, {not_primary})), Defects{ViewChangeDefect::not_primary});

  PreparedCertificate mismatch = certificate(1, 9, digest_of(1));
  mismatch.prepares[1] = prepare(1, 9, digest_of(2), mismatch.prepares[1].sender);
  EXPECT_EQ(defects(view_change(3, 1, 8, {mismatch})),
            (Defects{ViewChangeDefect::prepare_mismatch, ViewChangeDefect::too_few_prepares}));

  PreparedCertificate from_primary = certificate(1, 9, digest_of(1));
  from_primary.prepares.push_back(prepare(1, 9, digest_of(1), 1));  // replica 1 is v1's primary
  EXPECT_EQ(defects(view_change(3, 1, 8, {from_primary})),
            Defects{ViewChangeDefect::prepare_from_primary});

  PreparedCertificate too_few = certificate(1, 9, digest_of(1));
  too_few.prepares.pop_back();
  EXPECT_EQ(defects(view_change(3, 1, 8, {too_few})),
            Defects{ViewChangeDefect::too_few_prepares});

  // The bad-view-change lie: 2f prepares, all from one backup.
  PreparedCertificate padded = certificate(1, 9, digest_of(1));
  padded.prepares[1] = padded.prepares[0];
  EXPECT_EQ(defects(view_change(3, 1, 8, {padded})),
            (Defects{ViewChangeDefect::duplicate_prepares, ViewChangeDefect::too_few_prepares}));

  // 2f distinct backups and a repeat besides: as strong as without it.
  PreparedCertificate repeat = certificate(1, 9, digest_of(1));
  repeat.prepares.push_back(repeat.prepares[0]);
  EXPECT_EQ(defects(view_change(3, 1, 8, {repeat})), Defects{});
}

TEST_F(NewViewRules, SignaturesAreCheckedOnlyWhenACryptoIsGiven) {
  PreparedCertificate forged = certificate(1, 9, digest_of(1));
  forged.prepares[1].signature[0] ^= 1;
  const ViewChange vc = view_change(3, 1, 8, {forged});
  EXPECT_EQ(defects(vc), Defects{ViewChangeDefect::signature});
  EXPECT_EQ(view_change_defects(config_, vc), Defects{});
}

// V: r1 prepared s9 in view 1 (batch A) and s11; r2 prepared s9 again in
// view 2 (batch B); r3 nothing. min-s is 8.
class NewViewOracle : public NewViewRules {
 protected:
  std::vector<ViewChange> v() const {
    return {view_change(3, 1, 8, {certificate(1, 9, digest_of(0xa)), certificate(1, 11, digest_of(0xc))}),
            view_change(3, 2, 8, {certificate(2, 9, digest_of(0xb))}),
            view_change(3, 3, 8)};
  }
};

TEST_F(NewViewOracle, AcceptsTheHighestViewsCertificateAndNullsInTheGaps) {
  NewViewChecker checker(config_, *crypto_[0]);
  const NewView nv =
      new_view(3, v(), {{9, digest_of(0xb)}, {10, null()}, {11, digest_of(0xc)}});
  const NewViewVerdict& verdict = checker.judge(nv);
  EXPECT_FALSE(verdict.violation) << *verdict.violation;
  EXPECT_EQ(verdict.min_s, 8u);
  EXPECT_TRUE(verdict.certificates_of_two_views);
  EXPECT_TRUE(verdict.conflicting_certificates);
  EXPECT_EQ(verdict.certificates_ordered, 2u);
  EXPECT_EQ(verdict.nulls_ordered, 1u);
  checker.observe_install(0, nv);
  EXPECT_FALSE(checker.failure());
  EXPECT_EQ(&checker.judge(nv), &verdict);  // judged once
}

TEST_F(NewViewOracle, CatchesAnOThatTakesTheLowerViewsCertificate) {
  NewViewChecker checker(config_, *crypto_[0]);
  checker.observe_install(
      2, new_view(3, v(), {{9, digest_of(0xa)}, {10, null()}, {11, digest_of(0xc)}}));
  ASSERT_TRUE(checker.failure());
  EXPECT_EQ(checker.failure()->checker, "new-view");
  const std::string& details = checker.failure()->details;
  EXPECT_TRUE(contains(details, "replica 2 installed the NEW-VIEW for view 3 from replica 3"))
      << details;
  EXPECT_TRUE(contains(details, "V implies s9")) << details;
  EXPECT_TRUE(contains(details, "the certificate of view 2")) << details;
}

TEST_F(NewViewOracle, CatchesAnOThatOmitsOrAddsOrFillsWrongly) {
  const std::vector<std::vector<std::pair<Seq, Digest>>> wrong = {
      {{9, digest_of(0xb)}, {10, null()}},                                      // omits s11
      {{9, digest_of(0xb)}, {10, null()}, {11, digest_of(0xc)}, {12, null()}},  // adds s12
      {{9, digest_of(0xb)}, {10, digest_of(0xe)}, {11, digest_of(0xc)}},        // no null
      {{9, digest_of(0xb)}, {11, digest_of(0xc)}},                              // skips s10
  };
  for (const auto& order : wrong) {
    NewViewChecker checker(config_, *crypto_[0]);
    checker.observe_install(1, new_view(3, v(), order));
    EXPECT_TRUE(checker.failure()) << order.size() << " pre-prepares";
  }
}

TEST_F(NewViewOracle, CatchesAnInvalidV) {
  const std::vector<std::pair<Seq, Digest>> order = {{9, digest_of(0xb)}, {10, null()},
                                                      {11, digest_of(0xc)}};
  std::vector<ViewChange> padded = v();
  PreparedCertificate& cert = padded[1].prepared[0];
  cert.prepares[1] = cert.prepares[0];
  padded[1] = resigned(padded[1]);
  std::vector<ViewChange> small = v();
  small.pop_back();
  std::vector<ViewChange> twice = v();
  twice[2] = twice[1];
  std::vector<ViewChange> other_view = v();
  other_view[2] = view_change(4, 3, 8);
  struct Case {
    std::vector<ViewChange> v;
    const char* expected;
  };
  for (const Case& c : {Case{padded, "invalid VIEW-CHANGE from replica 2"},
                        Case{small, "fewer than 2f+1"},
                        Case{twice, "two VIEW-CHANGEs from replica 2"},
                        Case{other_view, "VIEW-CHANGE for view 4"}}) {
    NewViewChecker checker(config_, *crypto_[0]);
    checker.observe_install(0, new_view(3, c.v, order));
    ASSERT_TRUE(checker.failure()) << c.expected;
    EXPECT_TRUE(contains(checker.failure()->details, c.expected)) << checker.failure()->details;
  }
}

TEST_F(NewViewOracle, CatchesANewViewNotFromTheNewPrimary) {
  NewViewChecker checker(config_, *crypto_[0]);
  NewView nv = new_view(3, v(), {{9, digest_of(0xb)}, {10, null()}, {11, digest_of(0xc)}});
  nv = signed_by(2, nv);
  checker.observe_install(0, nv);
  ASSERT_TRUE(checker.failure());
  EXPECT_TRUE(contains(checker.failure()->details, "not the view's primary 3"));
}

TEST_F(NewViewOracle, MinSIsTheHighestStableCheckpointAndCertificatesBelowItDoNotCount) {
  std::vector<ViewChange> view_changes = v();
  view_changes[2] = view_change(3, 3, 16, {certificate(2, 17, digest_of(0xf))});
  NewViewChecker checker(config_, *crypto_[0]);
  const NewViewVerdict& verdict = checker.judge(new_view(3, view_changes, {{17, digest_of(0xf)}}));
  EXPECT_FALSE(verdict.violation) << *verdict.violation;
  EXPECT_EQ(verdict.min_s, 16u);
  EXPECT_FALSE(verdict.certificates_of_two_views);
}

TEST_F(NewViewOracle, TwoCertificatesOfOneViewWithTwoDigestsAreAViolation) {
  std::vector<ViewChange> view_changes = v();
  view_changes[2] = view_change(3, 3, 8, {certificate(2, 9, digest_of(0xd))});
  NewViewChecker checker(config_, *crypto_[0]);
  const NewViewVerdict& verdict = checker.judge(
      new_view(3, view_changes, {{9, digest_of(0xb)}, {10, null()}, {11, digest_of(0xc)}}));
  ASSERT_TRUE(verdict.violation);
  EXPECT_TRUE(contains(*verdict.violation, "certificates of view 2 for seq 9 with two digests"));
}

}  // namespace
}  // namespace pbft::sim
