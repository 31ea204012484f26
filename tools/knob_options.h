// The protocol knobs (include/pbft/knobs.h) as options of the subcommands
// that make a cluster of their own, `pbft sim` and `pbft bench`: one option
// per knob, spelled, checked and documented from the table
// (client_auth -> --client-auth), and an option for each removed spelling
// that fails naming its replacement.
#pragma once

#include <CLI/CLI.hpp>

#include <map>
#include <string>

#include "pbft/config.h"
#include "pbft/knobs.h"

namespace pbft::tools {

// The knob values a command line gave.
using KnobValues = std::map<KnobId, uint64_t>;

// Adds --client-auth, --batch-size-max, ... (every protocol knob) to
// `command`. `defaults` gives the default each shows in --help (the
// command's own: the simulator's window is smaller); what the command line
// gives lands in `given` as it is parsed.
void add_protocol_knob_options(CLI::App& command, const ProtocolConfig& defaults,
                               KnobValues& given);

// Adds --kv-partitions, --kv-bytes-max, --kv-client-bytes-max (the [kv]
// knobs, for a command that generates its cluster file) with the file's
// defaults; what the command line gives lands in `given`.
void add_kv_knob_options(CLI::App& command, KnobValues& given);

// `config` with the given values set (protocol knobs only).
ProtocolConfig with_knobs(ProtocolConfig config, const KnobValues& given);

// The given values as the cluster file spells them (key -> TOML value), for
// tune_cluster_file.
std::map<std::string, std::string> cluster_file_values(const KnobValues& given);

// The options that make `config` from `defaults`: " --flag value" for each
// protocol knob that differs, in the table's order.
std::string knob_options_differing(const ProtocolConfig& config, const ProtocolConfig& defaults);

}  // namespace pbft::tools
