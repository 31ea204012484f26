#include "tools/knob_options.h"

namespace pbft::tools {

namespace {

// One knob's option: spelled, checked and documented from the table.
void add_knob_option(CLI::App& command, const Knob& k, uint64_t default_value,
                     KnobValues& given) {
  const KnobId id = k.id;
  CLI::Validator valid(
      [&k](std::string& text) {
        Result<uint64_t> value = parse_knob(k, text);
        return value ? std::string() : value.reason();
      },
      knob_valid_values(k));
  command
      .add_option_function<std::string>(
          knob_flag(k),
          [&k, id, &given](const std::string& text) { given[id] = parse_knob(k, text).value(); },
          std::string(k.help))
      ->check(valid)
      ->type_name(k.choices.empty() ? "UINT" : "WORD")
      ->default_str(knob_text(k, default_value));
}

}  // namespace

void add_protocol_knob_options(CLI::App& command, const ProtocolConfig& defaults,
                               KnobValues& given) {
  for (const Knob& k : knob_table) {
    if (k.group != KnobGroup::protocol) continue;
    add_knob_option(command, k, knob_value(defaults, k.id), given);
  }
  // Hidden: a removed spelling only says what replaced it.
  for (const RenamedSpelling& renamed : renamed_knob_flags) {
    const std::string message = "is now spelled " + std::string(renamed.new_spelling);
    command
        .add_option_function<std::string>(std::string(renamed.old_spelling),
                                          [](const std::string&) {})
        ->check(CLI::Validator([message](std::string&) { return message; }, ""))
        ->group("");
  }
}

void add_kv_knob_options(CLI::App& command, KnobValues& given) {
  for (const Knob& k : knob_table) {
    if (k.group == KnobGroup::kv) add_knob_option(command, k, k.default_value, given);
  }
}

ProtocolConfig with_knobs(ProtocolConfig config, const KnobValues& given) {
  for (const auto& [id, value] : given) set_knob(config, id, value);
  return config;
}

std::map<std::string, std::string> cluster_file_values(const KnobValues& given) {
  std::map<std::string, std::string> values;
  for (const auto& [id, value] : given) values[knob_key(knob(id))] = knob_toml_text(knob(id), value);
  return values;
}

std::string knob_options_differing(const ProtocolConfig& config, const ProtocolConfig& defaults) {
  std::string options;
  for (const Knob& k : knob_table) {
    if (k.group != KnobGroup::protocol) continue;
    const uint64_t value = knob_value(config, k.id);
    if (value != knob_value(defaults, k.id)) options += " " + knob_flag(k) + " " + knob_text(k, value);
  }
  return options;
}

}  // namespace pbft::tools
