// Golden frames: the wire format, pinned.
//
// fuzz/corpus/wire_decode/ holds one encoded sample of every message type:
// the seeds of the decode fuzzer (fuzz/wire_decode_fuzz.cpp) and, here, the
// reference encoding. A change to the codec that changes any byte of them is
// a change of the wire format, which needs a new constants::wire_version;
// this test makes such a change visible instead of silent.
//
// After an intended format change, regenerate the files with
//   PBFT_UPDATE_WIRE_CORPUS=1 build/tests/wire_corpus_test
// and commit them with the version bump.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "pbft/constants.h"
#include "pbft/messages.h"
#include "pbft/wire.h"

namespace pbft {
namespace {

std::filesystem::path corpus_dir() {
  return std::filesystem::path(__FILE__).parent_path().parent_path() / "fuzz" / "corpus" /
         "wire_decode";
}

template <size_t N>
std::array<uint8_t, N> pattern(uint8_t seed) {
  std::array<uint8_t, N> a{};
  for (size_t i = 0; i < N; ++i) a[i] = static_cast<uint8_t>(seed + 13 * i);
  return a;
}

Bytes text(std::string_view s) { return Bytes(s.begin(), s.end()); }

Request request(ClientId c, Timestamp t, std::string_view op, RequestAuth auth) {
  Request r;
  r.client = c;
  r.timestamp = t;
  r.replier = auth == RequestAuth::authenticator ? c % 4 : every_replica;
  r.operation = text(op);
  r.auth = auth;
  if (auth == RequestAuth::authenticator) {
    for (uint8_t i = 0; i < 4; ++i) r.authenticator.push_back(pattern<mac_size>(i));
  } else {
    r.signature = pattern<signature_size>(static_cast<uint8_t>(c));
  }
  return r;
}

PrePrepare pre_prepare(View v, Seq s, std::vector<Request> batch) {
  return PrePrepare{v, s, pattern<digest_size>(static_cast<uint8_t>(s)),
                    static_cast<ReplicaId>(v % 4), std::move(batch), pattern<signature_size>(2)};
}

Prepare prepare(View v, Seq s, ReplicaId i) {
  return Prepare{v, s, pattern<digest_size>(static_cast<uint8_t>(s)), i,
                 pattern<signature_size>(static_cast<uint8_t>(i))};
}

ViewChange view_change(View v, ReplicaId i) {
  ViewChange vc;
  vc.new_view = v;
  vc.stable_seq = 128;
  for (ReplicaId r = 0; r < 3; ++r) {
    vc.checkpoint_proof.push_back(
        Checkpoint{128, pattern<digest_size>(9), r, pattern<signature_size>(3)});
  }
  vc.prepared.push_back(PreparedCertificate{pre_prepare(v - 1, 129, {}),
                                            {prepare(v - 1, 129, 1), prepare(v - 1, 129, 2)}});
  vc.sender = i;
  vc.signature = pattern<signature_size>(4);
  return vc;
}

// The seeds, by file name.
std::vector<std::pair<std::string, Message>> seeds() {
  std::vector<Mac> authenticator;
  for (uint8_t i = 0; i < 4; ++i) authenticator.push_back(pattern<mac_size>(i));
  NewView nv{6, {view_change(6, 0), view_change(6, 1), view_change(6, 3)},
             {pre_prepare(6, 129, {}), pre_prepare(6, 130, {})}, 2, pattern<signature_size>(5)};
  return {
      {"request_authenticator", request(3, 42, "put key value", RequestAuth::authenticator)},
      {"request_signature", request(5, 43, "get key", RequestAuth::signature)},
      {"pre_prepare", pre_prepare(5, 1000,
                                  {request(3, 1, "put k v", RequestAuth::authenticator),
                                   request(5, 9, "get k", RequestAuth::signature)})},
      {"pre_prepare_null", pre_prepare(6, 1001, {})},
      {"prepare", prepare(5, 1000, 2)},
      {"commit", Commit{5, 1000, pattern<digest_size>(1), 3, authenticator}},
      {"reply", Reply{5, 42, 3, 1, true, text("value"), {}, pattern<mac_size>(7)}},
      {"reply_digest", Reply{5, 42, 3, 2, false, {}, pattern<digest_size>(13),
                             pattern<mac_size>(8)}},
      {"reply_stale", Reply{.view = 5,
                            .timestamp = 42,
                            .client = 3,
                            .sender = 0,
                            .full = false,
                            .result = {},
                            .result_digest = {},
                            .mac = pattern<mac_size>(9),
                            .stale = true,
                            .executed_timestamp = 1000}},
      {"checkpoint", Checkpoint{256, pattern<digest_size>(8), 2, pattern<signature_size>(6)}},
      {"view_change", view_change(6, 3)},
      {"new_view", nv},
      {"status", StatusMessage{.view = 3,
                               .last_executed = 140,
                               .last_stable = 128,
                               .recovering = false,
                               .sender = 1,
                               .authenticator = authenticator,
                               .counter = 1'700'000'000'000'000'000}},
      {"status_view_changing", StatusMessage{.view = 4,
                                             .last_executed = 140,
                                             .last_stable = 128,
                                             .view_changing = true,
                                             .sender = 3,
                                             .authenticator = authenticator,
                                             .counter = 1'700'000'000'000'000'001}},
      {"status_recovering", StatusMessage{.view = 3,
                                          .last_executed = 0,
                                          .last_stable = 0,
                                          .recovering = true,
                                          .sender = 2,
                                          .authenticator = authenticator,
                                          .nonce = 0x1122334455667788,
                                          .counter = 1'700'000'000'000'000'002}},
      {"fetch", Fetch{.checkpoint = 384,
                      .level = 2,
                      .index = 5,
                      .offset = 0,
                      .sender = 3,
                      .authenticator = authenticator,
                      .counter = 1'700'000'000'000'000'003}},
      {"fetch_leaf", Fetch{.checkpoint = 384,
                           .level = 0,
                           .index = 37,
                           .offset = 65536,
                           .sender = 0,
                           .authenticator = authenticator,
                           .counter = 1'700'000'000'000'000'004}},
      {"fetch_reply_digests", FetchReply{.checkpoint = 384,
                                         .level = 1,
                                         .index = 2,
                                         .offset = 0,
                                         .total_size = 0,
                                         .digests = {pattern<digest_size>(10),
                                                     pattern<digest_size>(11),
                                                     pattern<digest_size>(12)},
                                         .data = {},
                                         .sender = 1,
                                         .authenticator = authenticator}},
      {"fetch_reply_data", FetchReply{.checkpoint = 384,
                                      .level = 0,
                                      .index = 37,
                                      .offset = 4096,
                                      .total_size = 5000,
                                      .digests = {},
                                      .data = text("partition bytes"),
                                      .sender = 2,
                                      .authenticator = authenticator}},
  };
}

Bytes read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(WireCorpusTest, SeedsMatchTheCurrentEncoding) {
  const bool update = std::getenv("PBFT_UPDATE_WIRE_CORPUS") != nullptr;
  if (update) std::filesystem::create_directories(corpus_dir());
  size_t total = 0;
  for (const auto& [name, m] : seeds()) {
    const Bytes frame = wire::encode(m);
    total += frame.size();
    const auto path = corpus_dir() / name;
    if (update) {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out.write(reinterpret_cast<const char*>(frame.data()),
                static_cast<std::streamsize>(frame.size()));
      ASSERT_TRUE(out.good()) << path;
    }
    ASSERT_TRUE(std::filesystem::exists(path)) << path << " is missing (see the file comment)";
    EXPECT_EQ(read_file(path), frame)
        << name << ": the encoding changed; that needs a new wire_version (see the file comment)";
    const auto decoded = wire::decode(read_file(path));
    ASSERT_TRUE(decoded) << name << ": " << decoded.reason();
    EXPECT_EQ(*decoded, m) << name;
  }
  EXPECT_LT(total, 8u * 1024) << "the seed corpus should stay small";
}

TEST(WireCorpusTest, EveryMessageTypeHasASeed) {
  // A new message type needs its seed (and so its pinned encoding) here.
  std::set<MessageType> seeded;
  for (const auto& [name, m] : seeds()) seeded.insert(type_of(m));
  for (uint8_t t = static_cast<uint8_t>(MessageType::request);
       t <= static_cast<uint8_t>(MessageType::fetch_reply); ++t) {
    EXPECT_TRUE(seeded.contains(static_cast<MessageType>(t)))
        << type_name(static_cast<MessageType>(t)) << " has no seed";
  }
}

TEST(WireCorpusTest, PrepareFrameLayoutIsPinned) {
  // Spelled out byte by byte: little-endian integers, header first.
  const Bytes frame = wire::encode(Prepare{0x0102030405060708, 0x1112131415161718,
                                           pattern<digest_size>(0), 3, pattern<signature_size>(1)});
  const std::vector<uint8_t> expected_prefix = {
      0x50, 0x42, 0x46, 0x54,  // magic "PBFT"
      0x05,                    // version
      0x03,                    // type: prepare
      0x00, 0x00,              // reserved
      0x03, 0x00, 0x00, 0x00,  // sender
      0x70, 0x00, 0x00, 0x00,  // body length 112
      0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,  // view
      0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11,  // seq
  };
  ASSERT_EQ(frame.size(), constants::header_size + 112);
  EXPECT_EQ(Bytes(frame.begin(), frame.begin() + 32), expected_prefix);
  const auto digest = pattern<digest_size>(0);
  const auto signature = pattern<signature_size>(1);
  EXPECT_TRUE(std::equal(digest.begin(), digest.end(), frame.begin() + 32));
  EXPECT_TRUE(std::equal(signature.begin(), signature.end(), frame.begin() + 64));
}

}  // namespace
}  // namespace pbft
