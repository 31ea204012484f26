// Deliberately broken protocol variants, to test the tester: in a build
// with -DPBFT_MUTANTS=ON (scripts/test.sh's `mutants` stage builds one in
// build-mutants/) a replica or client can be given one known bug through its
// options (ReplicaOptions::mutant, ClientOptions::mutant), and the simulator
// must catch it (`pbft sim --mutant NAME`). In every other build
// PBFT_MUTANT(name) is the constant false: the production code carries no
// mutant, and the compiler removes the dead branches.
//
// The mutants (each is one line in the core, marked PBFT_MUTANT):
#define PBFT_MUTANTS_TABLE(X)                                                                  \
  X(quorum_2f, "every 2f+1 quorum of the replica becomes 2f")                                  \
  X(skip_digest_check, "a backup accepts a pre-prepare whose batch does not hash to its digest") \
  X(new_view_unchecked, "a backup installs a NEW-VIEW without recomputing O from V")           \
  X(execute_on_prepared, "a batch executes once prepared, without waiting for 2f+1 commits")   \
  X(drop_reply_table_on_transfer, "state transfer forgets the last-reply table")              \
  X(stable_on_f_plus_1, "a checkpoint is stable with f+1 matching votes")                      \
  X(client_takes_any_result,                                                                   \
    "a client completes on f+1 matching digests with any full result it holds")                 \
  X(fresh_at_equal_timestamp,                                                                  \
    "execution takes a request as new when its timestamp equals the client's last one")         \
  X(fresh_ignores_batch,                                                                       \
    "execution judges each request against the last reply only, not earlier ones in its batch") \
  X(new_view_lowest_certificate,                                                               \
    "NEW-VIEW orders, per sequence number, the certificate of the lowest view in V")            \
  X(new_view_last_certificate,                                                                 \
    "NEW-VIEW orders, per sequence number, the last certificate found in V, whatever its view")  \
  X(certificate_duplicate_prepares,                                                            \
    "a prepared certificate counts prepares, not distinct senders")                             \
  X(certificate_prepare_from_primary,                                                          \
    "a prepared certificate may count a prepare from its view's primary")                       \
  X(certificate_any_digest,                                                                    \
    "a prepared certificate counts prepares for any digest")                                    \
  X(certificate_short, "a prepared certificate holds with 2f-1 prepares")                      \
  X(send_before_persist, "a PREPARE leaves before its record is synced")                       \
  X(forget_view_on_restart, "a replica restarted from its disk forgets its view")
#pragma once

#include <array>
#include <optional>
#include <string_view>

namespace pbft::mutant {

enum class Id {
  none,
#define PBFT_MUTANT_ENUM(name, help) name,
  PBFT_MUTANTS_TABLE(PBFT_MUTANT_ENUM)
#undef PBFT_MUTANT_ENUM
};

struct Info {
  Id id;
  std::string_view name;
  std::string_view help;
};
inline constexpr std::array all = {
#define PBFT_MUTANT_INFO(name, help) Info{Id::name, #name, help},
    PBFT_MUTANTS_TABLE(PBFT_MUTANT_INFO)
#undef PBFT_MUTANT_INFO
};

// The mutant called `name` ("none" is Id::none), or nothing.
constexpr std::optional<Id> parse(std::string_view name) {
  if (name == "none") return Id::none;
  for (const Info& m : all) {
    if (m.name == name) return m.id;
  }
  return std::nullopt;
}

// True in a build that can switch mutants on (-DPBFT_MUTANTS=ON).
#if defined(PBFT_MUTANTS)
inline constexpr bool available = true;
#else
inline constexpr bool available = false;
#endif

}  // namespace pbft::mutant

// PBFT_MUTANT(name): is mutant `name` on for this replica or client? Used
// inside the cores, where `mutant_` is the one their options selected.
#if defined(PBFT_MUTANTS)
#define PBFT_MUTANT(name) (mutant_ == ::pbft::mutant::Id::name)
#else
#define PBFT_MUTANT(name) false
#endif
