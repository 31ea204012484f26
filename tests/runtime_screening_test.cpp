// The runtime's screening of a frame before it is decoded or verified
// (src/runtime/verification.h, screen_frame): what a replica refuses on a
// frame's type and length alone, and which refusals close the link.
#include <gtest/gtest.h>

#include <memory>

#include "pbft/crypto.h"
#include "pbft/kv.h"
#include "pbft/replica.h"
#include "pbft/wire.h"
#include "src/runtime/verification.h"

namespace pbft::runtime {
namespace {

// A VIEW-CHANGE frame longer than any a correct replica sends with this n,
// f and L is refused on its length, and its link closes (only its sender's
// own link carries a VIEW-CHANGE: check_link), so that a faulty replica
// cannot make the others read megabytes at will (oversized-view-change).
TEST(RuntimeScreening, AViewChangeLongerThanAnyCorrectOneClosesItsLink) {
  ProtocolConfig config;
  std::unique_ptr<Crypto> crypto = fake::make_crypto(Principal::replica(0), 1, config.n, 1);
  kv::Store store;
  auto replica = Replica::create(config, 0, *crypto, store);
  ASSERT_TRUE(replica.is_ok()) << replica.status().reason();

  ViewChange vc;
  vc.sender = 1;
  vc.new_view = 1;
  for (Seq s = 1; s <= 64; s++) {
    PreparedCertificate cert;
    cert.pre_prepare = PrePrepare{0, s, Digest{1}, 0, {}, {}};
    cert.prepares.resize(64);  // far more than 2f
    for (Prepare& p : cert.prepares) p.seq = s;
    vc.prepared.push_back(std::move(cert));
  }
  const Bytes large = wire::encode(Message{vc});
  ASSERT_TRUE(replica.value()->refuse_size(MessageType::view_change, large.size()));
  const ScreenedFrame screened = screen_frame(large, *replica.value());
  ASSERT_TRUE(screened.settled.has_value());
  EXPECT_TRUE(screened.settled->close_link);

  // A small one is not settled here (it is decoded and checked).
  ViewChange small;
  small.sender = 1;
  small.new_view = 1;
  const ScreenedFrame ok = screen_frame(wire::encode(Message{small}), *replica.value());
  EXPECT_FALSE(ok.settled.has_value() && ok.settled->close_link);
}

}  // namespace
}  // namespace pbft::runtime
