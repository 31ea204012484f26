// The knob table (include/pbft/knobs.h) and its consumers agree: every knob
// has one default, the same in ProtocolConfig, in the file `pbft keygen`
// writes and on the command lines of `pbft sim` and `pbft bench`; a value
// given on a command line reaches the configuration and the cluster file
// unchanged; and a removed spelling is an error naming the new one.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "pbft/cluster_config.h"
#include "pbft/knobs.h"
#include "sim/options.h"
#include "tools/knob_options.h"

namespace pbft::tools {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "pbft-cli-knobs-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// A value of the knob other than its default, within its range.
uint64_t other_value(const Knob& k) {
  return k.default_value > k.min ? k.default_value - 1 : k.default_value + 1;
}

// The values a command line gives, parsed as `pbft sim` and `pbft bench` do.
KnobValues parse(const std::string& command_line) {
  CLI::App app;
  KnobValues given;
  add_protocol_knob_options(app, ProtocolConfig{}, given);
  app.parse(command_line, false);
  return given;
}

// The error a command line makes (empty if it parses).
std::string parse_error(const std::string& command_line) {
  try {
    parse(command_line);
  } catch (const CLI::Error& e) {
    return e.what();
  }
  return "";
}

// A cluster `pbft keygen` writes, with `values` in place of its defaults,
// as loaded.
ClusterConfig generated(const TempDir& dir, const std::map<std::string, std::string>& values) {
  ClusterSpec spec;
  spec.force = true;
  spec.clients = 1;
  const auto written = generate_cluster(dir.path(), spec);
  EXPECT_TRUE(written.is_ok()) << written.reason();
  const fs::path file = dir.path() / "cluster.toml";
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  for (const auto& [key, value] : values) {
    const std::string line = "\n" + key + " = ";
    const size_t at = s.find(line);
    EXPECT_NE(at, std::string::npos) << key;
    if (at == std::string::npos) continue;
    s.replace(at + 1, s.find('\n', at + 1) - at - 1, key + " = " + value);
  }
  std::ofstream(file, std::ios::trunc) << s;
  Result<ClusterConfig> c = load_cluster_config(file);
  EXPECT_TRUE(c.is_ok()) << c.reason();
  return c ? std::move(c).value() : ClusterConfig{};
}

TEST(CliKnobs, EveryKnobHasOneDefault) {
  TempDir dir;
  const ClusterConfig file = generated(dir, {});
  const ProtocolConfig from_command_line = with_knobs(ProtocolConfig{}, parse(""));
  for (const Knob& k : knob_table) {
    EXPECT_EQ(knob_value(ClusterConfig{}, k.id), k.default_value) << knob_key(k);
    EXPECT_EQ(knob_value(file, k.id), k.default_value) << knob_key(k) << " in keygen's file";
    if (k.group != KnobGroup::protocol) continue;
    EXPECT_EQ(knob_value(ProtocolConfig{}, k.id), k.default_value) << knob_key(k);
    EXPECT_EQ(knob_value(from_command_line, k.id), k.default_value) << knob_flag(k);
  }
  EXPECT_EQ(knob(KnobId::client_auth).choices[knob_default(KnobId::client_auth)], "signature");
}

// The simulator keeps a smaller log so that every run takes checkpoints,
// collects garbage and transfers state (sim/options.cpp); every other knob
// is the table's default.
TEST(CliKnobs, TheSimulatorDiffersFromTheDefaultsOnlyInItsWindow) {
  const ProtocolConfig sim = sim::Options().protocol;
  for (const Knob& k : knob_table) {
    if (k.group != KnobGroup::protocol) continue;
    const bool window = k.id == KnobId::checkpoint_interval || k.id == KnobId::log_window ||
                        k.id == KnobId::in_flight_max;
    EXPECT_EQ(knob_value(sim, k.id) != k.default_value, window) << knob_key(k);
  }
  EXPECT_EQ(sim.client_auth, RequestAuth::signature);
}

// Each protocol knob given on a command line reaches the configuration the
// simulator runs, the cluster file the bench writes, and, through that
// file, the configuration its replicas load; the replay line says it again.
TEST(CliKnobs, EveryProtocolKnobRoundTripsThroughTheCommandLineAndTheFile) {
  for (const Knob& k : knob_table) {
    if (k.group != KnobGroup::protocol) continue;
    const uint64_t value = other_value(k);
    const std::string option = knob_flag(k) + " " + knob_text(k, value);
    const KnobValues given = parse(option);
    ASSERT_EQ(given.size(), 1u) << option;
    const ProtocolConfig config = with_knobs(ProtocolConfig{}, given);
    EXPECT_EQ(knob_value(config, k.id), value) << option;
    EXPECT_EQ(knob_options_differing(config, ProtocolConfig{}), " " + option);
    TempDir dir;
    const ClusterConfig file = generated(dir, cluster_file_values(given));
    EXPECT_EQ(knob_value(file, k.id), value) << option << " in the cluster file";
  }
}

TEST(CliKnobs, AValueOutOfRangeOrAnUnknownWordIsAnError) {
  EXPECT_NE(parse_error("--batch-size-max 0").find("1..1024"), std::string::npos);
  EXPECT_NE(parse_error("--batch-size-max many").find("must be an integer"), std::string::npos);
  EXPECT_NE(parse_error("--client-auth macs").find("\"mac\" or \"signature\""),
            std::string::npos);
}

// Spellings that were documented once are errors that name the new one,
// not silent aliases.
TEST(CliKnobs, RemovedSpellingsAreRejectedNamingTheNewOne) {
  EXPECT_NE(parse_error("--auth signature").find("--client-auth"), std::string::npos);
  EXPECT_NE(parse_error("--batch-size 8").find("--batch-size-max"), std::string::npos);
  EXPECT_NE(parse_error("--batch-max 8").find("--batch-size-max"), std::string::npos);
  EXPECT_NE(parse_error("--in-flight 2").find("--in-flight-max"), std::string::npos);
  EXPECT_NE(parse_error("--client-auth authenticator").find("now spelled \"mac\""),
            std::string::npos);
  EXPECT_NE(parse_error("--client-auth sig").find("now spelled \"signature\""),
            std::string::npos);
}

}  // namespace
}  // namespace pbft::tools
