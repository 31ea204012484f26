// Fuzzes the RESP2 parser (src/resp/resp.h), what the gateway reads from
// any client. Properties checked, any failure aborts:
//  - next() never crashes and never reports consuming more than it was
//    given, whatever the bytes;
//  - the limits hold: no argument over bulk_bytes_max, no command with more
//    than args_max arguments or command_bytes_max charged bytes;
//  - how the bytes are cut into reads does not matter: fed whole, and fed
//    in pieces (cut where the input's first bytes say), the parser gives
//    the same commands and the same error;
//  - what it reads, encoded again as an array of bulk strings, parses back
//    to the same arguments.
//
// The limits are small so that the fuzzer reaches each of them.

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pbft/assert.h"
#include "src/resp/resp.h"

namespace {

using namespace pbft::resp;

Limits small_limits() {
  Limits limits;
  limits.bulk_bytes_max = 64;
  limits.args_max = 16;
  limits.command_bytes_max = 512;
  limits.inline_bytes_max = 128;
  return limits;
}

struct Outcome {
  std::vector<Args> commands;
  std::string error;  // empty: none (the input ran out)
  bool operator==(const Outcome&) const = default;
};

void check_command(const Args& args, const Limits& limits) {
  // Multibulk commands are bounded by the limits on bulks and arguments,
  // inline ones by their line.
  PBFT_ASSERT(!args.empty());
  PBFT_ASSERT(args.size() <= std::max(limits.args_max, limits.inline_bytes_max));
  size_t bytes = 0;
  for (const std::string& a : args) {
    PBFT_ASSERT(a.size() <= std::max(limits.bulk_bytes_max, limits.inline_bytes_max));
    bytes += a.size();
  }
  PBFT_ASSERT(bytes <= std::max(limits.command_bytes_max, limits.inline_bytes_max));
  std::string encoded;
  append_array(encoded, args.size());
  for (const std::string& a : args) append_bulk(encoded, a);
  Limits roomy;
  roomy.bulk_bytes_max = 1 << 20;
  Parser again(roomy);
  Parsed p = again.next(encoded);
  PBFT_ASSERT(p.kind == Parsed::Kind::command && p.args == args && p.consumed == encoded.size());
}

// Feeds `input` in pieces of the given sizes (the rest at the end),
// dropping consumed bytes as a connection would.
Outcome feed(std::string_view input, const std::vector<size_t>& pieces) {
  const Limits limits = small_limits();
  Parser parser(limits);
  Outcome outcome;
  std::string buffer;
  size_t at = 0;
  size_t piece = 0;
  while (true) {
    Parsed p = parser.next(buffer);
    PBFT_ASSERT(p.consumed <= buffer.size());
    if (p.kind == Parsed::Kind::command || p.kind == Parsed::Kind::empty) {
      PBFT_ASSERT(p.consumed > 0);
      if (p.kind == Parsed::Kind::command) {
        check_command(p.args, limits);
        outcome.commands.push_back(std::move(p.args));
      }
      buffer.erase(0, p.consumed);
      continue;
    }
    if (p.kind == Parsed::Kind::error) {
      PBFT_ASSERT(!p.error.empty());
      outcome.error = p.error;
      return outcome;
    }
    if (at == input.size()) return outcome;
    const size_t n = piece < pieces.size() ? std::min(pieces[piece++], input.size() - at)
                                           : input.size() - at;
    buffer.append(input.substr(at, std::max<size_t>(n, 1)));
    at += std::max<size_t>(n, 1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte: how many of the next bytes are piece sizes.
  const size_t cuts = std::min<size_t>(data[0] % 8, size - 1);
  std::vector<size_t> pieces;
  for (size_t i = 0; i < cuts; i++) pieces.push_back(data[1 + i] % 32 + 1);
  const std::string_view input(reinterpret_cast<const char*>(data) + 1 + cuts, size - 1 - cuts);
  const Outcome whole = feed(input, {});
  const Outcome cut = feed(input, pieces);
  PBFT_ASSERT(whole == cut);
  return 0;
}
