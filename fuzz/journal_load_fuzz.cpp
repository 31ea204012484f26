// libFuzzer target for reading a data directory back (include/pbft/storage.h,
// Journal::load and Journal::check_identity).
//
// A store's contents come from the disk, and a disk can hold anything: a
// flipped bit the checksums missed, another program's files, a future
// format. So arbitrary keys and values go in, and the journal must never
// crash, assert or allocate beyond what the input justifies; it either
// refuses with a reason or gives a state that obeys what Replica::create
// relies on:
//   - no slot at or below the stable checkpoint;
//   - every message sits where its key says (a pre-prepare of view v at
//     seq s under slot s, view v; a batch under its digest; ...);
//   - a second load gives the same state (load does not change the store).
//
// Input: records of  key length u8 | key | value length u16 (LE) | value,
// written as one batch into the memory model.
//   build-fuzz/fuzz/journal_load_fuzz -max_total_time=60 -max_len=8192 /tmp/journal-corpus
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "pbft/storage.h"

namespace {

[[noreturn]] void violated(const char* invariant) {
  std::fprintf(stderr, "journal_load_fuzz: invariant violated: %s\n", invariant);
  std::abort();
}

pbft::storage::WriteBatch parse(const uint8_t* data, size_t size) {
  pbft::storage::WriteBatch batch;
  size_t at = 0;
  while (at < size) {
    const size_t key_size = data[at++];
    if (key_size > size - at) break;
    pbft::Bytes key(data + at, data + at + key_size);
    at += key_size;
    if (size - at < 2) break;
    const size_t value_size = data[at] | (static_cast<size_t>(data[at + 1]) << 8);
    at += 2;
    if (value_size > size - at) break;
    batch.put(std::move(key), pbft::Bytes(data + at, data + at + value_size));
    at += value_size;
  }
  return batch;
}

void check(const pbft::PersistedState& state) {
  using namespace pbft;
  for (const auto& [seq, slot] : state.slots) {
    if (seq <= state.stable_seq) violated("a slot at or below the stable checkpoint");
    for (const auto& [view, m] : slot.pre_prepares) {
      const auto* pp = std::get_if<PrePrepare>(m.get());
      if (pp == nullptr || pp->seq != seq || pp->view != view) violated("a misplaced pre-prepare");
    }
    for (const auto& [digest, m] : slot.batches) {
      const auto* pp = std::get_if<PrePrepare>(m.get());
      if (pp == nullptr || pp->seq != seq || pp->digest != digest) violated("a misplaced batch");
    }
    for (const auto& [view, m] : slot.prepares) {
      const auto* p = std::get_if<Prepare>(m.get());
      if (p == nullptr || p->seq != seq || p->view != view) violated("a misplaced prepare");
    }
    for (const auto& [view, m] : slot.commits) {
      const auto* c = std::get_if<Commit>(m.get());
      if (c == nullptr || c->seq != seq || c->view != view) violated("a misplaced commit");
    }
    if (slot.certificate && slot.certificate->pre_prepare.seq != seq) {
      violated("a misplaced certificate");
    }
    if (slot.checkpoint != nullptr) {
      const auto* c = std::get_if<Checkpoint>(slot.checkpoint.get());
      if (c == nullptr || c->seq != seq) violated("a misplaced checkpoint");
    }
  }
  for (const Checkpoint& c : state.stable_proof) {
    if (c.seq != state.stable_seq || c.state_digest != state.stable_digest) {
      violated("a proof of another checkpoint");
    }
  }
  if (state.view_change != nullptr && !std::holds_alternative<ViewChange>(*state.view_change)) {
    violated("a view-change that is not one");
  }
  if (state.new_view != nullptr && !std::holds_alternative<NewView>(*state.new_view)) {
    violated("a new-view that is not one");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  pbft::storage::MemoryStorage storage;
  if (!storage.write(parse(data, size), true)) violated("the memory model refused a write");
  pbft::storage::Journal journal(storage);
  (void)journal.empty();
  (void)journal.check_identity({});
  pbft::Result<pbft::PersistedState> first = journal.load();
  if (!first) {
    if (first.reason().empty()) violated("a refusal without a reason");
    return 0;
  }
  check(*first);
  pbft::Result<pbft::PersistedState> second = journal.load();
  if (!second || second->slots.size() != first->slots.size() ||
      second->stable_seq != first->stable_seq || second->view != first->view) {
    violated("a second load differs");
  }
  return 0;
}
