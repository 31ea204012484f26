// Deliberately broken protocol variants, to test the tester: a build with
// -DPBFT_MUTANTS=ON (a separate build directory; scripts/mutants.sh) can
// switch on one known bug at run time with the environment variable
// PBFT_MUTANT=<name>, and the simulator must catch it. In every other build
// PBFT_MUTANT(name) is the constant false: the production code carries no
// mutant, and the compiler removes the dead branches.
//
// The mutants (each is one line in the core, marked PBFT_MUTANT):
//   quorum_2f                    every 2f+1 quorum becomes 2f
//   skip_digest_check            a backup accepts a pre-prepare whose batch
//                                does not hash to its digest
//   new_view_unchecked           a backup installs a NEW-VIEW without
//                                recomputing O from V
//   execute_on_prepared          a batch executes once prepared, without
//                                waiting for 2f+1 commits
//   drop_reply_table_on_transfer state transfer forgets the last-reply table
//   stable_on_f_plus_1           a checkpoint is stable with f+1 matching votes
//   client_takes_any_result      a client completes on f+1 matching digests
//                                with any full result it holds, matching or not
#pragma once

#include <string_view>

namespace pbft::mutant {

enum class Id {
  none,
  quorum_2f,
  skip_digest_check,
  new_view_unchecked,
  execute_on_prepared,
  drop_reply_table_on_transfer,
  stable_on_f_plus_1,
  client_takes_any_result,
};

#if defined(PBFT_MUTANTS)
// The mutant PBFT_MUTANT names (read once), or none.
Id active();
#define PBFT_MUTANT(name) (::pbft::mutant::active() == ::pbft::mutant::Id::name)
#else
#define PBFT_MUTANT(name) false
#endif

}  // namespace pbft::mutant
