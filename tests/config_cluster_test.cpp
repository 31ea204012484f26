// The cluster file and key files (include/pbft/cluster_config.h): one test
// per validation rule, each checking that the error names the file, the
// TOML key and the problem; the private key files; and a generated cluster
// whose keys make working Crypto objects.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "pbft/cluster_config.h"
#include "pbft/crypto.h"

namespace pbft {
namespace {

namespace fs = std::filesystem;

std::string hex_of(const PublicKey& key) { return to_hex(key); }

// A fresh directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "pbft-config-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write_text(const fs::path& file, const std::string& text, mode_t mode = 0644) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  ::chmod(file.c_str(), mode);
}

// Replaces the first occurrence of `from` (which must be present).
std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "missing in the template: " << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

class ClusterFile : public ::testing::Test {
 protected:
  void SetUp() override {
    sodium::initialize();
    for (int i = 0; i < 6; i++) keys_.push_back(sodium::generate_keypair().public_key);
  }

  // A valid file: f = 1, four replicas on 127.0.0.1:7000..7003, two clients.
  std::string valid(uint32_t replica_count = 4) const {
    std::string t = "f = 1\nclient_auth = \"mac\"\ncheckpoint_interval = 128\nlog_window = 256\n"
                    "batch_size_max = 64\n";
    for (uint32_t i = 0; i < replica_count; i++) {
      t += "\n[[replicas]]\nid = " + std::to_string(i) + "\nhost = \"127.0.0.1\"\nport = " +
           std::to_string(7000 + i) + "\npublic_key = \"" + hex_of(keys_[i]) + "\"\n";
    }
    for (uint32_t c = 0; c < 2; c++) {
      t += "\n[[clients]]\nid = " + std::to_string(c) + "\npublic_key = \"" +
           hex_of(keys_[4 + c]) + "\"\n";
    }
    return t;
  }

  // valid() without the knobs it sets: every knob at its default.
  std::string without_knobs() const {
    return replaced(valid(),
                    "client_auth = \"mac\"\ncheckpoint_interval = 128\nlog_window = 256\n"
                    "batch_size_max = 64\n",
                    "");
  }

  Result<ClusterConfig> load(const std::string& text) {
    write_text(file(), text);
    return load_cluster_config(file());
  }

  // Loading `text` fails, and the reason names the file and every fragment.
  void expect_error(const std::string& text, const std::vector<std::string>& fragments) {
    const Result<ClusterConfig> result = load(text);
    ASSERT_FALSE(result.is_ok()) << text;
    const std::string& reason = result.reason();
    EXPECT_EQ(reason.rfind(file().string() + ":", 0), 0u) << reason;
    for (const std::string& fragment : fragments) {
      EXPECT_NE(reason.find(fragment), std::string::npos)
          << "\"" << fragment << "\" not in: " << reason;
    }
  }

  fs::path file() const { return dir_.path() / "cluster.toml"; }

  TempDir dir_;
  std::vector<PublicKey> keys_;
};

TEST_F(ClusterFile, AValidFileLoads) {
  const Result<ClusterConfig> c = load(valid());
  ASSERT_TRUE(c.is_ok()) << c.reason();
  EXPECT_EQ(c->protocol.n, 4u);
  EXPECT_EQ(c->protocol.f, 1u);
  EXPECT_EQ(c->protocol.client_auth, RequestAuth::authenticator);
  ASSERT_EQ(c->replicas.size(), 4u);
  EXPECT_EQ(c->replicas[2].port, 7002);
  EXPECT_EQ(c->replicas[2].public_key, keys_[2]);
  EXPECT_EQ(c->clients.size(), 2u);
  EXPECT_EQ(c->clients.at(1), keys_[5]);
  EXPECT_EQ(c->directory, dir_.path());
  const KeyDirectory directory = c->key_directory();
  EXPECT_EQ(directory.replicas.size(), 4u);
  EXPECT_EQ(directory.clients.size(), 2u);
}

TEST_F(ClusterFile, ReplicasMayBeListedInAnyOrder) {
  std::string t = replaced(valid(), "id = 0\n", "id = 9\n");
  t = replaced(t, "id = 3\n", "id = 0\n");
  t = replaced(t, "id = 9\n", "id = 3\n");
  const Result<ClusterConfig> c = load(t);
  ASSERT_TRUE(c.is_ok()) << c.reason();
  EXPECT_EQ(c->replicas[0].port, 7003);
  EXPECT_EQ(c->replicas[0].public_key, keys_[3]);
}

TEST_F(ClusterFile, OptionalKeysHaveDefaults) {
  std::string t = "f = 1\n";
  for (uint32_t i = 0; i < 4; i++) {
    t += "[[replicas]]\nid = " + std::to_string(i) + "\nhost = \"h\"\nport = " +
         std::to_string(7000 + i) + "\npublic_key = \"" + hex_of(keys_[i]) + "\"\n";
  }
  const Result<ClusterConfig> c = load(t);
  ASSERT_TRUE(c.is_ok()) << c.reason();
  // Signatures by default: the big-MAC attack (knobs.h).
  EXPECT_EQ(c->protocol.client_auth, RequestAuth::signature);
  EXPECT_EQ(c->protocol.checkpoint_interval, 128u);
  EXPECT_EQ(c->protocol.log_window, 256u);
  EXPECT_EQ(c->kv.partitions, 4096u);
  EXPECT_EQ(c->tick_ms, 10u);
  EXPECT_EQ(c->log_level, "info");
  EXPECT_TRUE(c->clients.empty());
  EXPECT_TRUE(c->replicas[0].key_file.empty());
}

TEST_F(ClusterFile, MissingFileIsNamed) {
  const Result<ClusterConfig> c = load_cluster_config(dir_.path() / "nope.toml");
  ASSERT_FALSE(c.is_ok());
  EXPECT_NE(c.reason().find((dir_.path() / "nope.toml").string()), std::string::npos);
}

TEST_F(ClusterFile, SyntaxErrorNamesTheLine) {
  expect_error("f = 1\nport = = 3\n", {":2:", "TOML syntax error"});
}

TEST_F(ClusterFile, FIsRequired) {
  expect_error(replaced(valid(), "f = 1\n", ""), {"f: ", "required"});
}

TEST_F(ClusterFile, FMustBeAtLeastOne) {
  expect_error(replaced(valid(), "f = 1\n", "f = 0\n"), {"f: ", "must be in 1..", "got 0"});
}

TEST_F(ClusterFile, ReplicaCountMustBe3fPlus1) {
  expect_error(valid(5), {"replicas: ", "3f+1 = 4", "f = 1", "5 replicas"});
  expect_error(valid(3), {"replicas: ", "3f+1 = 4", "3 replicas"});
}

TEST_F(ClusterFile, DuplicateReplicaIdIsRejected) {
  expect_error(replaced(valid(), "id = 2\n", "id = 1\n"),
               {"replicas[2].id: ", "replica id 1 is listed twice"});
}

TEST_F(ClusterFile, ReplicaIdOutOfRangeIsRejected) {
  expect_error(replaced(valid(), "id = 3\n", "id = 4\n"),
               {"replicas[3].id: ", "must be in 0..3", "got 4"});
}

TEST_F(ClusterFile, DuplicateHostPortIsRejected) {
  expect_error(replaced(valid(), "port = 7002\n", "port = 7000\n"),
               {"replicas[2].port: ", "127.0.0.1:7000", "already used by replicas[0]"});
}

TEST_F(ClusterFile, PortOutOfRangeIsRejected) {
  expect_error(replaced(valid(), "port = 7002\n", "port = 70000\n"),
               {"replicas[2].port: ", "must be in 1..65535", "got 70000"});
  expect_error(replaced(valid(), "port = 7001\n", "port = 0\n"),
               {"replicas[1].port: ", "must be in 1..65535", "got 0"});
}

// A replica listens where its host is unless `listen` says otherwise; never
// on every interface unless the file writes it.
TEST_F(ClusterFile, ListenDefaultsToTheHostAndTakesAnAddressWithOrWithoutAPort) {
  Result<ClusterConfig> c = load(valid());
  ASSERT_TRUE(c.is_ok()) << c.reason();
  EXPECT_EQ(c->replicas[1].listen_host, "127.0.0.1");
  EXPECT_EQ(c->replicas[1].listen_port, 7001);
  std::string t = replaced(valid(), "port = 7001\n", "port = 7001\nlisten = \"0.0.0.0\"\n");
  t = replaced(t, "port = 7002\n", "port = 7002\nlisten = \"10.1.2.3:9002\"\n");
  t = replaced(t, "port = 7003\n", "port = 7003\nlisten = \"[::1]:9003\"\n");
  c = load(t);
  ASSERT_TRUE(c.is_ok()) << c.reason();
  EXPECT_EQ(c->replicas[1].listen_host, "0.0.0.0");
  EXPECT_EQ(c->replicas[1].listen_port, 7001);
  EXPECT_EQ(c->replicas[2].listen_host, "10.1.2.3");
  EXPECT_EQ(c->replicas[2].listen_port, 9002);
  EXPECT_EQ(c->replicas[3].listen_host, "::1");
  EXPECT_EQ(c->replicas[3].listen_port, 9003);
  EXPECT_EQ(c->replicas[3].port, 7003) << "peers still dial host:port";
}

TEST_F(ClusterFile, AMalformedListenAddressIsRejected) {
  expect_error(replaced(valid(), "port = 7002\n", "port = 7002\nlisten = \"\"\n"),
               {"replicas[2].listen: ", "must name an address"});
  expect_error(replaced(valid(), "port = 7002\n", "port = 7002\nlisten = \"10.0.0.1:99999\"\n"),
               {"replicas[2].listen: ", "port must be in 1..65535"});
  expect_error(replaced(valid(), "port = 7002\n", "port = 7002\nlisten = \"10.0.0.1:\"\n"),
               {"replicas[2].listen: ", "without a port"});
  expect_error(replaced(valid(), "port = 7002\n", "port = 7002\nlisten = \"[::1\"\n"),
               {"replicas[2].listen: ", "without its ']'"});
  expect_error(replaced(valid(), "port = 7002\n", "port = 7002\nlisten = 7\n"),
               {"replicas[2].listen: ", "must be a string"});
}

TEST_F(ClusterFile, EncryptionIsAChoiceDefaultingToTls) {
  Result<ClusterConfig> c = load(valid());
  ASSERT_TRUE(c.is_ok()) << c.reason();
  EXPECT_EQ(c->encryption, 1u);  // tls
  c = load("encryption = \"none\"\n" + valid());
  ASSERT_TRUE(c.is_ok()) << c.reason();
  EXPECT_EQ(c->encryption, 0u);
  expect_error("encryption = \"ssl\"\n" + valid(),
               {"encryption: ", "must be \"none\" or \"tls\"", "got \"ssl\""});
}

TEST_F(ClusterFile, WrongTypeIsRejected) {
  expect_error(replaced(valid(), "port = 7001\n", "port = \"7001\"\n"),
               {"replicas[1].port: ", "must be an integer, got a string"});
}

TEST_F(ClusterFile, EmptyHostIsRejected) {
  std::string t = valid();
  t = replaced(t, "port = 7003\n", "port = 7003\nhost_placeholder\n");
  // The fourth replica's host is the one before its port.
  const size_t port = t.find("port = 7003\n");
  const size_t host = t.rfind("host = \"127.0.0.1\"", port);
  t.replace(host, std::string("host = \"127.0.0.1\"").size(), "host = \"\"");
  t = replaced(t, "host_placeholder\n", "");
  expect_error(t, {"replicas[3].host: ", "must not be empty"});
}

TEST_F(ClusterFile, MissingHostIsRejected) {
  const size_t host = valid().find("host = ");
  std::string t = valid();
  t.erase(host, std::string("host = \"127.0.0.1\"\n").size());
  expect_error(t, {"replicas[0].host: ", "required"});
}

TEST_F(ClusterFile, MalformedPublicKeyIsRejected) {
  const std::string key = hex_of(keys_[1]);
  expect_error(replaced(valid(), key, key.substr(0, 63)),
               {"replicas[1].public_key: ", "must be 64 hex characters"});
  expect_error(replaced(valid(), key, "zz" + key.substr(2)),
               {"replicas[1].public_key: ", "must be 64 hex characters"});
}

TEST_F(ClusterFile, PublicKeyThatIsNotAPointIsRejected) {
  // All zeros encodes a point of small order, which Ed25519 keys never are.
  expect_error(replaced(valid(), hex_of(keys_[2]), std::string(64, '0')),
               {"replicas[2].public_key: ", "not a valid Ed25519 public key"});
}

TEST_F(ClusterFile, DuplicatePublicKeyIsRejected) {
  expect_error(replaced(valid(), hex_of(keys_[1]), hex_of(keys_[0])),
               {"replicas[1].public_key: ", "same key as replicas[0].public_key"});
  expect_error(replaced(valid(), hex_of(keys_[4]), hex_of(keys_[2])),
               {"clients (id 0).public_key: ", "same key as replicas[2].public_key"});
}

TEST_F(ClusterFile, ClientIdMustBeBelowTheLimit) {
  const std::string t = replaced(valid(), "[[clients]]\nid = 1\n", "[[clients]]\nid = 65536\n");
  expect_error(t, {"clients[1].id: ", "must be in 0..65535", "got 65536"});
}

TEST_F(ClusterFile, DuplicateClientIdIsRejected) {
  const std::string t = replaced(valid(), "[[clients]]\nid = 1\n", "[[clients]]\nid = 0\n");
  expect_error(t, {"clients[1].id: ", "client id 0 is listed twice"});
}

TEST_F(ClusterFile, ProtocolFieldOutOfItsLimitIsRejected) {
  expect_error(replaced(valid(), "batch_size_max = 64\n", "batch_size_max = 0\n"),
               {"batch_size_max: ", "must be in 1..1024", "got 0"});
  expect_error(replaced(valid(), "log_window = 256\n", "log_window = 5000\n"),
               {"log_window: ", "must be in 1..4096"});
}

TEST_F(ClusterFile, RulesBetweenProtocolFieldsComeFromValidate) {
  // ProtocolConfig::validate(): the window must hold a checkpoint interval.
  expect_error(replaced(valid(), "log_window = 256\n", "log_window = 64\n"),
               {"log_window: ", "log_window must be in checkpoint_interval.."});
  // A view-change timeout shorter than the retransmission interval.
  expect_error("view_change_timeout_ticks = 5\n" + valid(),
               {"view_change_timeout_ticks: ", "at least status_interval_ticks"});
}

TEST_F(ClusterFile, ClientAuthMustBeMacOrSignature) {
  expect_error(replaced(valid(), "client_auth = \"mac\"", "client_auth = \"macs\""),
               {"client_auth: ", "must be \"mac\" or \"signature\"", "\"macs\""});
}

TEST_F(ClusterFile, EveryKnobLeftOutHasTheTablesDefault) {
  const Result<ClusterConfig> c = load(without_knobs());
  ASSERT_TRUE(c.is_ok()) << c.reason();
  for (const Knob& k : knob_table) {
    EXPECT_EQ(knob_value(*c, k.id), k.default_value) << knob_key(k);
    EXPECT_EQ(knob_value(ClusterConfig{}, k.id), k.default_value) << knob_key(k);
  }
}

// Each knob written with a value other than its default reads back as
// that value, from its place in the file (the top level, or its table).
TEST_F(ClusterFile, EveryKnobRoundTripsThroughTheFile) {
  for (const Knob& k : knob_table) {
    const uint64_t value = k.default_value > k.min ? k.default_value - 1 : k.default_value + 1;
    const std::string line = std::string(k.name) + " = " + knob_toml_text(k, value) + "\n";
    const std::string t = k.section.empty()
                              ? line + without_knobs()
                              : without_knobs() + "\n[" + std::string(k.section) + "]\n" + line;
    const Result<ClusterConfig> c = load(t);
    ASSERT_TRUE(c.is_ok()) << knob_key(k) << ": " << c.reason();
    EXPECT_EQ(knob_value(*c, k.id), value) << knob_key(k);
  }
}

TEST_F(ClusterFile, KvSettingsAreInTheirOwnTable) {
  const Result<ClusterConfig> c = load(valid() + "\n[kv]\npartitions = 16\n");
  ASSERT_TRUE(c.is_ok()) << c.reason();
  EXPECT_EQ(c->kv.partitions, 16u);
  expect_error(valid() + "\n[kv]\npartitions = 0\n",
               {"kv.partitions: ", "must be in 1..1048576", "got 0"});
  expect_error(valid() + "\n[kv]\npartition = 16\n", {"kv.partition: ", "not a known key"});
  expect_error("kv = 16\n" + valid(), {"kv: ", "must be a table"});
}

// The store's limits are knobs of [kv]; its bucket key is a file beside the
// cluster file, like a private key (and read like one: load_bucket_secret).
TEST_F(ClusterFile, KvLimitsAndTheBucketKeyFile) {
  const Result<ClusterConfig> c = load(valid() +
                                       "\n[kv]\nbytes_max = 1048576\nclient_bytes_max = 4096\n"
                                       "bucket_key_file = \"secret/kv-bucket.key\"\n");
  ASSERT_TRUE(c.is_ok()) << c.reason();
  EXPECT_EQ(c->kv.bytes_max, 1048576u);
  EXPECT_EQ(c->kv.client_bytes_max, 4096u);
  EXPECT_EQ(c->kv.bucket_key_file, c->directory / "secret/kv-bucket.key");
  expect_error(valid() + "\n[kv]\nbytes_max = 1000\n", {"kv.bytes_max: ", "must be in"});
  expect_error(valid() + "\n[kv]\nbucket_key_file = 7\n", {"kv.bucket_key_file: ", "string"});
  const Result<ClusterConfig> plain = load(valid());
  ASSERT_TRUE(plain.is_ok());
  EXPECT_TRUE(plain->kv.bucket_key_file.empty()) << "optional";
}

// The key moved from the protocol's keys to the service's table; the old
// spelling is an error that says where it went, not a silent alias.
TEST_F(ClusterFile, TopLevelKvPartitionsIsRejectedNamingItsNewPlace) {
  expect_error("kv_partitions = 4096\n" + valid(), {"kv_partitions: ", "[kv] partitions"});
}

TEST_F(ClusterFile, AnOldClientAuthWordNamesTheNewOne) {
  expect_error(replaced(valid(), "client_auth = \"mac\"", "client_auth = \"authenticator\""),
               {"client_auth: ", "\"authenticator\" is now spelled \"mac\""});
  expect_error(replaced(valid(), "client_auth = \"mac\"", "client_auth = \"sig\""),
               {"client_auth: ", "\"sig\" is now spelled \"signature\""});
}

TEST_F(ClusterFile, LogLevelMustBeKnown) {
  expect_error("log_level = \"loud\"\n" + valid(), {"log_level: ", "\"loud\""});
}

TEST_F(ClusterFile, UnknownTopLevelKeyIsRejected) {
  expect_error("checkpoint_intervall = 64\n" + valid(),
               {"checkpoint_intervall: ", "not a known key"});
}

TEST_F(ClusterFile, UnknownReplicaKeyIsRejected) {
  expect_error(replaced(valid(), "port = 7001\n", "port = 7001\nprot = 1\n"),
               {"replicas[1].prot: ", "not a known key"});
}

TEST_F(ClusterFile, ReplicasMustBeAnArrayOfTables) {
  expect_error("f = 1\nreplicas = 4\n", {"replicas: ", "must be an array of tables"});
}

// --- Private key files ---------------------------------------------------

class KeyFile : public ::testing::Test {
 protected:
  void SetUp() override {
    sodium::initialize();
    pair_ = sodium::generate_keypair();
    std::copy_n(pair_.secret_key.begin(), 32, seed_.begin());
  }
  fs::path file() const { return dir_.path() / "replica-0.key"; }

  TempDir dir_;
  KeyPair pair_;
  std::array<uint8_t, 32> seed_{};
};

TEST_F(KeyFile, WrittenKeyLoadsWithMode0600) {
  ASSERT_TRUE(write_secret_key(file(), seed_).is_ok());
  struct stat st {};
  ASSERT_EQ(::stat(file().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const Result<SecretKey> secret = load_secret_key(file(), pair_.public_key);
  ASSERT_TRUE(secret.is_ok()) << secret.reason();
  EXPECT_EQ(*secret, pair_.secret_key);
}

TEST_F(KeyFile, WriteIsExactEvenUnderAPermissiveUmask) {
  const mode_t old = ::umask(0);
  const Status s = write_secret_key(file(), seed_);
  ::umask(old);
  ASSERT_TRUE(s.is_ok()) << s.reason();
  struct stat st {};
  ASSERT_EQ(::stat(file().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(KeyFile, WriteRefusesToOverwrite) {
  write_text(file(), "something\n", 0600);
  const Status s = write_secret_key(file(), seed_);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.reason().find(file().string()), std::string::npos) << s.reason();
  EXPECT_NE(s.reason().find("already exists"), std::string::npos) << s.reason();
}

TEST_F(KeyFile, GroupOrWorldReadableIsRejectedNamingTheMode) {
  write_text(file(), to_hex(seed_) + "\n", 0644);
  const Result<SecretKey> secret = load_secret_key(file(), pair_.public_key);
  ASSERT_FALSE(secret.is_ok());
  EXPECT_NE(secret.reason().find(file().string()), std::string::npos) << secret.reason();
  EXPECT_NE(secret.reason().find("mode 0644"), std::string::npos) << secret.reason();
}

TEST_F(KeyFile, MissingFileIsNamed) {
  const Result<SecretKey> secret = load_secret_key(file(), pair_.public_key);
  ASSERT_FALSE(secret.is_ok());
  EXPECT_NE(secret.reason().find(file().string()), std::string::npos) << secret.reason();
  EXPECT_NE(secret.reason().find("does not exist"), std::string::npos) << secret.reason();
}

TEST_F(KeyFile, MalformedHexIsRejected) {
  for (const std::string& text :
       {to_hex(seed_).substr(0, 63) + "\n", "x" + to_hex(seed_).substr(1) + "\n",
        to_hex(seed_) + "\n\n", to_hex(seed_) + to_hex(seed_), std::string()}) {
    std::error_code ignored;
    fs::remove(file(), ignored);
    write_text(file(), text, 0600);
    const Result<SecretKey> secret = load_secret_key(file(), pair_.public_key);
    ASSERT_FALSE(secret.is_ok()) << text;
    EXPECT_NE(secret.reason().find(file().string()), std::string::npos) << secret.reason();
    EXPECT_NE(secret.reason().find("64 hex characters"), std::string::npos) << secret.reason();
  }
}

TEST_F(KeyFile, WithoutTrailingNewlineLoads) {
  write_text(file(), to_hex(seed_), 0600);
  EXPECT_TRUE(load_secret_key(file(), pair_.public_key).is_ok());
}

TEST_F(KeyFile, KeyNotMatchingThePublicKeyIsRejected) {
  ASSERT_TRUE(write_secret_key(file(), seed_).is_ok());
  const PublicKey other = sodium::generate_keypair().public_key;
  const Result<SecretKey> secret = load_secret_key(file(), other);
  ASSERT_FALSE(secret.is_ok());
  EXPECT_NE(secret.reason().find(file().string()), std::string::npos) << secret.reason();
  EXPECT_NE(secret.reason().find("does not match the public key " + to_hex(other)),
            std::string::npos)
      << secret.reason();
}

// --- Generated clusters (`pbft keygen`) ----------------------------------

TEST(GenerateCluster, GeneratedClusterLoadsAndItsKeysWork) {
  TempDir dir;
  ClusterSpec spec;
  spec.replicas = 7;
  spec.clients = 3;
  spec.base_port = 9100;
  const auto written = generate_cluster(dir.path(), spec);
  ASSERT_TRUE(written.is_ok()) << written.reason();
  EXPECT_EQ(written->size(), 7u + 3u + 1u + 1u);
  EXPECT_EQ(written->back(), dir.path() / "cluster.toml");
  EXPECT_EQ((*written)[written->size() - 2], dir.path() / "kv-bucket.key");

  const Result<ClusterConfig> c = load_cluster_config(dir.path() / "cluster.toml");
  ASSERT_TRUE(c.is_ok()) << c.reason();
  EXPECT_EQ(c->protocol.n, 7u);
  EXPECT_EQ(c->protocol.f, 2u);
  EXPECT_EQ(c->protocol.client_auth, RequestAuth::signature);
  EXPECT_EQ(c->replicas[6].host, "127.0.0.1");
  EXPECT_EQ(c->replicas[6].port, 9106);
  EXPECT_EQ(c->replicas[6].key_file, dir.path() / "replica-6.key");
  EXPECT_EQ(c->client_key_files.at(2), dir.path() / "client-2.key");
  EXPECT_EQ(c->kv.bucket_key_file, dir.path() / "kv-bucket.key");
  const auto bucket_secret = load_bucket_secret(c->kv.bucket_key_file);
  ASSERT_TRUE(bucket_secret.is_ok()) << bucket_secret.reason();
  EXPECT_NE(*bucket_secret, (std::array<uint8_t, 32>{})) << "random, not zeros";
  std::filesystem::permissions(c->kv.bucket_key_file, std::filesystem::perms::group_read,
                               std::filesystem::perm_options::add);
  const auto exposed = load_bucket_secret(c->kv.bucket_key_file);
  ASSERT_FALSE(exposed.is_ok());
  EXPECT_NE(exposed.reason().find("bucket key file has mode 0640"), std::string::npos)
      << exposed.reason();

  // Every principal's key file loads and makes a Crypto.
  auto directory = std::make_shared<const KeyDirectory>(c->key_directory());
  std::vector<std::unique_ptr<Crypto>> replicas;
  for (const ReplicaEndpoint& e : c->replicas) {
    const Result<SecretKey> secret = load_secret_key(e.key_file, e.public_key);
    ASSERT_TRUE(secret.is_ok()) << secret.reason();
    auto crypto = sodium::make_crypto(Principal::replica(e.id), *secret, directory);
    ASSERT_TRUE(crypto.is_ok()) << crypto.reason();
    replicas.push_back(std::move(crypto.value()));
  }
  std::vector<std::unique_ptr<Crypto>> clients;
  for (const auto& [id, public_key] : c->clients) {
    const Result<SecretKey> secret = load_secret_key(c->client_key_files.at(id), public_key);
    ASSERT_TRUE(secret.is_ok()) << secret.reason();
    auto crypto = sodium::make_crypto(Principal::client(id), *secret, directory);
    ASSERT_TRUE(crypto.is_ok()) << crypto.reason();
    clients.push_back(std::move(crypto.value()));
  }

  const ByteView data = as_bytes("prepare v=0 n=1");
  const Mac mac = replicas[0]->mac(Principal::replica(1), data);
  EXPECT_TRUE(replicas[1]->verify_mac(Principal::replica(0), data, mac));
  EXPECT_FALSE(replicas[2]->verify_mac(Principal::replica(0), data, mac));
  const Signature signature = clients[2]->sign(data);
  EXPECT_TRUE(replicas[3]->verify(Principal::client(2), data, signature));
  const auto authenticator = make_authenticator(*clients[0], 7, data);
  EXPECT_TRUE(verify_authenticator(*replicas[5], Principal::client(0), authenticator, data));
}

TEST(GenerateCluster, RefusesToOverwriteWithoutForce) {
  TempDir dir;
  ClusterSpec spec;
  spec.clients = 1;
  ASSERT_TRUE(generate_cluster(dir.path(), spec).is_ok());
  const Result<ClusterConfig> first = load_cluster_config(dir.path() / "cluster.toml");
  ASSERT_TRUE(first.is_ok());

  const auto again = generate_cluster(dir.path(), spec);
  ASSERT_FALSE(again.is_ok());
  EXPECT_NE(again.reason().find("replica-0.key: already exists"), std::string::npos)
      << again.reason();
  EXPECT_NE(again.reason().find("--force"), std::string::npos) << again.reason();

  spec.force = true;
  ASSERT_TRUE(generate_cluster(dir.path(), spec).is_ok());
  const Result<ClusterConfig> second = load_cluster_config(dir.path() / "cluster.toml");
  ASSERT_TRUE(second.is_ok()) << second.reason();
  EXPECT_NE(first->replicas[0].public_key, second->replicas[0].public_key);
}

TEST(GenerateCluster, RejectsAReplicaCountOtherThan3fPlus1) {
  TempDir dir;
  for (uint32_t n : {0u, 1u, 3u, 5u, 6u, 67u}) {
    ClusterSpec spec;
    spec.replicas = n;
    const auto result = generate_cluster(dir.path() / "c", spec);
    ASSERT_FALSE(result.is_ok()) << n;
    EXPECT_NE(result.reason().find("--replicas"), std::string::npos) << result.reason();
  }
  EXPECT_FALSE(fs::exists(dir.path() / "c" / "cluster.toml"));
}

TEST(GenerateCluster, RejectsPortsBeyond65535) {
  TempDir dir;
  ClusterSpec spec;
  spec.base_port = 65534;
  const auto result = generate_cluster(dir.path(), spec);
  ASSERT_FALSE(result.is_ok());
  EXPECT_NE(result.reason().find("--base-port"), std::string::npos) << result.reason();
}

}  // namespace
}  // namespace pbft
