// The attack library's parts that need no cluster (src/attack): the mode
// table, the options an attacker refuses, the Crypto decorator that makes
// partial authenticators, and the junk frames' headers. The attacks
// themselves run against real processes in integration_attack_test.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "pbft/constants.h"
#include "pbft/crypto.h"
#include "pbft/kv.h"
#include "pbft/verifier.h"
#include "pbft/wire.h"
#include "src/attack/attacker.h"
#include "src/attack/corrupting_crypto.h"
#include "src/attack/junk.h"

namespace pbft::attack {
namespace {

using ::testing::HasSubstr;

TEST(AttackModes, EachNameIsOneModeAndTheTableIsInEnumOrder) {
  std::set<std::string_view> names;
  for (size_t i = 0; i < std::size(mode_table); i++) {
    const ModeInfo& m = mode_table[i];
    EXPECT_EQ(static_cast<size_t>(m.mode), i) << m.name;
    EXPECT_TRUE(names.insert(m.name).second) << m.name << " twice";
    ASSERT_NE(find_mode(m.name), nullptr);
    EXPECT_EQ(find_mode(m.name)->mode, m.mode);
    EXPECT_EQ(&info(m.mode), &m);
    EXPECT_THAT(mode_names(), HasSubstr(std::string(m.name)));
    EXPECT_FALSE(m.help.empty());
  }
  EXPECT_EQ(find_mode("none"), nullptr) << "none is the bench's word for no attacker";
  EXPECT_EQ(find_mode("junk"), nullptr);
}

TEST(AttackModes, SlowPrimaryIsPlayedByTheReplicaNotByAnAttacker) {
  const ModeInfo* slow = find_mode("slow-primary");
  ASSERT_NE(slow, nullptr);
  EXPECT_TRUE(slow->implemented);
  EXPECT_EQ(slow->family, Family::replica);
  AttackOptions options;
  options.mode = slow->mode;
  options.cluster.protocol.n = 4;
  options.cluster.protocol.f = 1;
  options.replica = 3;
  Result<std::unique_ptr<Attacker>> attacker = Attacker::start(options);
  ASSERT_FALSE(attacker.is_ok());
  EXPECT_THAT(attacker.reason(), HasSubstr("--slow-primary-ms"));
}

TEST(AttackModes, ClientModesNeedTheirClientsAndPartialAuthNeedsMacs) {
  AttackOptions options;
  options.mode = Mode::memory_fill;
  options.cluster.protocol.n = 4;
  options.cluster.protocol.f = 1;
  Result<std::unique_ptr<Attacker>> attacker = Attacker::start(options);
  ASSERT_FALSE(attacker.is_ok());
  EXPECT_THAT(attacker.reason(), HasSubstr("needs 16 client ids"));

  options.mode = Mode::partial_auth;
  options.cluster.protocol.client_auth = RequestAuth::signature;
  for (ClientId id = 0; id < clients_needed(Mode::partial_auth); id++) {
    options.cluster.clients[id] = PublicKey{};
    options.clients.push_back({id, SecretKey{}});
  }
  attacker = Attacker::start(options);
  ASSERT_FALSE(attacker.is_ok());
  EXPECT_THAT(attacker.reason(), HasSubstr("client_auth = \"mac\""));

  options.clients[3].id = 40;  // not consecutive
  options.cluster.protocol.client_auth = RequestAuth::authenticator;
  attacker = Attacker::start(options);
  ASSERT_FALSE(attacker.is_ok());
  EXPECT_THAT(attacker.reason(), HasSubstr("consecutive"));
}

TEST(AttackCounters, JsonRoundTrip) {
  AttackCounters c;
  c.frames_sent = 12;
  c.bytes_sent = 1ull << 40;
  c.connections_open_max = 2000;
  c.view_seen = 7;
  Result<AttackCounters> back = counters_from_json(to_json(c));
  ASSERT_TRUE(back.is_ok()) << back.reason();
  EXPECT_EQ(to_json(back.value()), to_json(c));
  EXPECT_FALSE(counters_from_json("[1, 2]").is_ok());
  EXPECT_EQ(counters_from_json("{}")->frames_sent, 0u);
}

// The big-MAC attack through the decorator: the request is authenticated
// the way a correct client's is (pbft::authenticate), and only the
// entries of the chosen replicas come out wrong.
TEST(CorruptingCrypto, AuthenticatorRightForThePrimaryOnly) {
  ProtocolConfig config;
  config.n = 4;
  config.f = 1;
  config.client_auth = RequestAuth::authenticator;
  constexpr uint64_t universe = 7;
  CorruptingCrypto client(fake::make_crypto(Principal::client(5), universe, config.n, 8));
  client.corrupt_all_but(0, config.n);
  Request r;
  r.client = 5;
  r.timestamp = 1;
  r.operation = kv::encode_op(kv::Op{kv::OpType::null, {}, {}, 0});
  r.auth = RequestAuth::authenticator;
  authenticate(r, client, config.n);
  for (ReplicaId i = 0; i < config.n; i++) {
    auto replica = fake::make_crypto(Principal::replica(i), universe, config.n, 8);
    Verifier verifier(config, *replica);
    Result<Verified> verified = verifier.verify(Message(r));
    if (i == 0) {
      EXPECT_TRUE(verified.is_ok()) << verified.reason();
    } else {
      ASSERT_FALSE(verified.is_ok()) << "replica " << i;
      EXPECT_THAT(verified.reason(), HasSubstr("MAC does not verify"));
    }
  }
  // Everything else is the wrapped crypto's: its signatures verify.
  const Bytes data = {1, 2, 3};
  auto other = fake::make_crypto(Principal::replica(1), universe, config.n, 8);
  EXPECT_TRUE(other->verify(Principal::client(5), data, client.sign(data)));
  client.corrupt({});
  EXPECT_TRUE(other->verify_mac(Principal::client(5), data, client.mac(Principal::replica(1), data)));
}

TEST(Junk, BodyRangesAreWhatTheHeaderDecoderTakes) {
  for (uint8_t t = 1; t <= static_cast<uint8_t>(MessageType::fetch_reply); t++) {
    const auto type = static_cast<MessageType>(t);
    const auto [min, max] = body_range(type);
    ASSERT_LE(min, max) << type_name(type);
    EXPECT_TRUE(wire::decode_header(frame_header(type, 0, min)).is_ok()) << type_name(type);
    EXPECT_TRUE(wire::decode_header(frame_header(type, 0, max)).is_ok()) << type_name(type);
    EXPECT_FALSE(wire::decode_header(frame_header(type, 0, max + 1)).is_ok()) << type_name(type);
    if (min > 0) {
      EXPECT_FALSE(wire::decode_header(frame_header(type, 0, min - 1)).is_ok()) << type_name(type);
    }
    EXPECT_LE(max + constants::header_size, constants::frame_size_max);
  }
  // A VIEW-CHANGE may announce nearly the largest frame: slow-loris's.
  EXPECT_GT(body_range(MessageType::view_change).second, 4u * 1000 * 1000);
}

TEST(Junk, FramesHaveValidHeadersAndTheirLengths) {
  JunkMaker junk(3);
  Random random(4);
  for (int i = 0; i < 200; i++) {
    const auto type = static_cast<MessageType>(1 + random.uniform(11));
    const Bytes frame = junk.frame(random, type, 2, 4096);
    Result<wire::Header> h = wire::decode_header(ByteView(frame).first(constants::header_size));
    ASSERT_TRUE(h.is_ok()) << h.reason();
    EXPECT_EQ(h->type, type);
    EXPECT_EQ(h->sender, 2u);
    EXPECT_EQ(frame.size(), constants::header_size + h->body_size);
    EXPECT_LE(h->body_size, std::max<uint32_t>(4096, body_range(type).first));
  }
}

}  // namespace
}  // namespace pbft::attack
