// Invariant checks that stay on in release builds. Never use them on input
// from a peer or a client: such input is rejected with a Status instead.
#pragma once

#include <cstdio>
#include <cstdlib>

#define PBFT_ASSERT(cond)                                                      \
  do {                                                                         \
    if (!(cond)) {                                                             \
      std::fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__,        \
                   __LINE__, #cond);                                           \
      std::abort();                                                            \
    }                                                                          \
  } while (0)
