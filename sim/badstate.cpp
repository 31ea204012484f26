#include "sim/badstate.h"

#include <algorithm>
#include <vector>

#include "pbft/constants.h"
#include "pbft/verifier.h"
#include "pbft/wire.h"

namespace pbft::sim {

const char* to_string(Corruption corruption) {
  switch (corruption) {
    case Corruption::flip_byte: return "flip-byte";
    case Corruption::wrong_digests: return "wrong-digests";
    case Corruption::stale: return "stale";
    case Corruption::truncate: return "truncate";
    case Corruption::wrong_size: return "wrong-size";
    case Corruption::drop_digest: return "drop-digest";
  }
  return "unknown";
}

BadStateServer::BadStateServer(const ProtocolConfig& config, const Crypto& crypto,
                               double probability)
    : config_(config), crypto_(crypto), probability_(probability) {}

std::optional<FetchReply> BadStateServer::rewrite(const FetchReply& genuine,
                                                  const kv::Store& store, Random& random) {
  // Remembered before corrupting, so that a later, newer checkpoint can be
  // answered with this one's contents.
  remember(genuine);
  if (!random.chance(probability_)) return std::nullopt;
  static constexpr Corruption tree_modes[] = {Corruption::flip_byte, Corruption::wrong_digests,
                                              Corruption::stale, Corruption::drop_digest};
  static constexpr Corruption leaf_modes[] = {Corruption::flip_byte, Corruption::stale,
                                              Corruption::truncate, Corruption::wrong_size};
  const Corruption how = genuine.level > 0 ? tree_modes[random.uniform(std::size(tree_modes))]
                                           : leaf_modes[random.uniform(std::size(leaf_modes))];
  FetchReply bad = corrupt(genuine, how, store, random);
  if (bad == genuine) return std::nullopt;  // e.g. stale contents that did not change
  // Authenticated again with the Byzantine replica's own keys: the verifier
  // accepts it; only the digests can tell.
  authenticate(bad, crypto_, config_.n);
  corrupted_++;
  return bad;
}

FetchReply BadStateServer::corrupt(const FetchReply& genuine, Corruption how,
                                   const kv::Store& store, Random& random) const {
  FetchReply bad = genuine;
  auto flip = [&random](uint8_t* bytes, size_t size) {
    bytes[random.uniform(size)] ^= static_cast<uint8_t>(1 + random.uniform(255));
  };
  auto made_up_digest = [&random] {
    Digest d{};
    for (uint8_t& b : d) b = static_cast<uint8_t>(random.uniform(256));
    return d;
  };
  switch (how) {
    case Corruption::stale: {
      auto it = remembered_.find({genuine.level, genuine.index, genuine.offset});
      if (it != remembered_.end() && it->second.checkpoint < genuine.checkpoint) {
        bad.digests = it->second.digests;
        bad.data = it->second.data;
        bad.total_size = it->second.total_size;
        return bad;
      }
      if (genuine.level == 0 && genuine.index < store.partition_count()) {
        // No older answer remembered: the current state's partition, which
        // has moved on from the checkpoint's if a client wrote to it since.
        const Bytes current = store.read_partition(std::nullopt, genuine.index);
        if (genuine.offset <= current.size()) {
          const size_t n =
              std::min<size_t>(constants::fetch_chunk_max, current.size() - genuine.offset);
          const auto begin = current.begin() + static_cast<ptrdiff_t>(genuine.offset);
          bad.data.assign(begin, begin + static_cast<ptrdiff_t>(n));
          bad.total_size = current.size();
          return bad;
        }
      }
      // Nothing stale to offer: a plain wrong answer.
      return corrupt(genuine, genuine.level > 0 ? Corruption::wrong_digests : Corruption::wrong_size,
                     store, random);
    }
    case Corruption::flip_byte:
      if (genuine.level > 0 && !bad.digests.empty()) {
        Digest& d = bad.digests[random.uniform(bad.digests.size())];
        flip(d.data(), d.size());
        return bad;
      }
      if (genuine.level == 0 && !bad.data.empty()) {
        flip(bad.data.data(), bad.data.size());
        return bad;
      }
      return corrupt(genuine, genuine.level > 0 ? Corruption::wrong_digests : Corruption::wrong_size,
                     store, random);
    case Corruption::wrong_digests:
      for (Digest& d : bad.digests) d = made_up_digest();
      if (bad.digests.empty()) bad.digests.push_back(made_up_digest());
      return bad;
    case Corruption::drop_digest:
      if (bad.digests.empty()) {
        bad.digests.push_back(made_up_digest());
      } else {
        bad.digests.erase(bad.digests.begin() +
                          static_cast<ptrdiff_t>(random.uniform(bad.digests.size())));
      }
      return bad;
    case Corruption::truncate:
      if (bad.data.size() < 2) {
        return corrupt(genuine, Corruption::wrong_size, store, random);
      }
      // A shorter chunk that claims to end the partition: the assembled
      // bytes cannot match the leaf digest.
      bad.data.resize(1 + random.uniform(bad.data.size() - 1));
      bad.total_size = bad.offset + bad.data.size();
      return bad;
    case Corruption::wrong_size:
      // More bytes promised than the partition has: the fetcher asks for
      // chunks nobody can serve, or assembles a partition that fails its digest.
      bad.total_size = genuine.total_size + 1 + random.uniform(64);
      return bad;
  }
  return bad;
}

void BadStateServer::remember(const FetchReply& genuine) {
  const auto key = std::make_tuple(genuine.level, genuine.index, genuine.offset);
  auto it = remembered_.find(key);
  if (it != remembered_.end()) {
    // Keep the older checkpoint's answer: it is the stale one.
    if (it->second.checkpoint >= genuine.checkpoint) it->second = genuine;
    return;
  }
  if (remembered_.size() < remembered_max) remembered_.emplace(key, genuine);
}

}  // namespace pbft::sim
