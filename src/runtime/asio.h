// The one way the runtime includes Asio: standalone (no Boost), with the
// configuration fixed here so that every translation unit sees the same
// Asio. Asio decides some of its configuration from what the standard
// library headers included before it defined (e.g. whether aligned_alloc
// exists), so two files that include headers in another order would
// otherwise build two different allocators for the same handlers (ASan:
// alloc-dealloc-mismatch).
#pragma once

#ifndef ASIO_STANDALONE
#define ASIO_STANDALONE 1
#endif
#ifndef ASIO_DISABLE_STD_ALIGNED_ALLOC
#define ASIO_DISABLE_STD_ALIGNED_ALLOC 1
#endif

#include <asio.hpp>
