// Spelling and checking the knobs of include/pbft/knobs.h.
#include "pbft/knobs.h"

#include <charconv>

namespace pbft {

namespace {

std::string quoted(std::string_view word) { return "\"" + std::string(word) + "\""; }

// A once-documented word of a choice knob, with what it is spelled now.
std::string renamed_hint(const Knob& knob, std::string_view word) {
  for (const RenamedSpelling& r : renamed_knob_words) {
    if (r.old_spelling != word) continue;
    for (std::string_view choice : knob.choices) {
      if (choice == r.new_spelling) {
        return " (" + quoted(r.old_spelling) + " is now spelled " + quoted(r.new_spelling) + ")";
      }
    }
  }
  return "";
}

}  // namespace

std::string knob_key(const Knob& knob) {
  if (knob.section.empty()) return std::string(knob.name);
  return std::string(knob.section) + "." + std::string(knob.name);
}

std::string knob_flag(const Knob& knob) {
  std::string flag = "--" + knob_key(knob);
  for (char& c : flag) {
    if (c == '_' || c == '.') c = '-';
  }
  return flag;
}

std::string knob_text(const Knob& knob, uint64_t value) {
  if (knob.choices.empty()) return std::to_string(value);
  return std::string(knob.choices[value]);
}

std::string knob_toml_text(const Knob& knob, uint64_t value) {
  return knob.choices.empty() ? knob_text(knob, value) : quoted(knob_text(knob, value));
}

std::string knob_valid_values(const Knob& knob) {
  if (knob.choices.empty()) return std::to_string(knob.min) + ".." + std::to_string(knob.max);
  std::string list;
  for (size_t i = 0; i < knob.choices.size(); i++) {
    if (i > 0) list += i + 1 == knob.choices.size() ? " or " : ", ";
    list += quoted(knob.choices[i]);
  }
  return list;
}

Result<uint64_t> check_knob_integer(const Knob& knob, int64_t value) {
  if (!knob.choices.empty() || value < 0 || static_cast<uint64_t>(value) < knob.min ||
      static_cast<uint64_t>(value) > knob.max) {
    return Status::error("must be " + std::string(knob.choices.empty() ? "in " : "") +
                         knob_valid_values(knob) + ", got " + std::to_string(value));
  }
  return static_cast<uint64_t>(value);
}

Result<uint64_t> check_knob_word(const Knob& knob, std::string_view word) {
  for (size_t i = 0; i < knob.choices.size(); i++) {
    if (knob.choices[i] == word) return static_cast<uint64_t>(i);
  }
  return Status::error("must be " + std::string(knob.choices.empty() ? "in " : "") +
                       knob_valid_values(knob) + ", got " + quoted(word) +
                       renamed_hint(knob, word));
}

Result<uint64_t> parse_knob(const Knob& knob, std::string_view text) {
  if (!knob.choices.empty()) return check_knob_word(knob, text);
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) {
    return Status::error("must be an integer in " + knob_valid_values(knob) + ", got " +
                         quoted(text));
  }
  return check_knob_integer(knob, value);
}

}  // namespace pbft
