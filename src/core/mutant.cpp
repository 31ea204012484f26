// The run-time switch of the mutant build (include/pbft/mutant.h). Compiled
// to nothing in every other build.
#include "pbft/mutant.h"

#if defined(PBFT_MUTANTS)
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace pbft::mutant {

namespace {

Id parse() {
  const char* value = std::getenv("PBFT_MUTANT");
  if (value == nullptr || *value == '\0') return Id::none;
  const std::string_view name(value);
  constexpr std::pair<std::string_view, Id> names[] = {
      {"quorum_2f", Id::quorum_2f},
      {"skip_digest_check", Id::skip_digest_check},
      {"new_view_unchecked", Id::new_view_unchecked},
      {"execute_on_prepared", Id::execute_on_prepared},
      {"drop_reply_table_on_transfer", Id::drop_reply_table_on_transfer},
      {"stable_on_f_plus_1", Id::stable_on_f_plus_1},
      {"client_takes_any_result", Id::client_takes_any_result},
  };
  for (const auto& [n, id] : names) {
    if (n == name) return id;
  }
  std::fprintf(stderr, "PBFT_MUTANT=%s: no such mutant (see include/pbft/mutant.h)\n", value);
  std::exit(2);
}

}  // namespace

Id active() {
  static const Id id = parse();
  return id;
}

}  // namespace pbft::mutant
#endif
