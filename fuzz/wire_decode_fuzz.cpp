// libFuzzer target for the wire decoder (include/pbft/wire.h).
//
// Arbitrary bytes go in. The decoder must never crash, assert, throw or
// allocate beyond what the input justifies (the sanitizers and
// -rss_limit_mb watch that), must give a reason for every rejection, and
// whatever it accepts must obey the invariants the rest of the system relies
// on; a violation aborts, which libFuzzer reports with the input:
//   - canonical: encode(decode(f)) == f, byte for byte, so no two frames
//     mean the same message (a signature over one encoding cannot be
//     replayed under another) and decode(encode(m)) == m;
//   - decode_header agrees with decode on type, sender and body size;
//   - the frame and what it carries are within constants.h: at most
//     message_size_max bytes, an authenticator of at most replicas_max MACs,
//     a fetch reply of at most 256 digests and fetch_chunk_max bytes of data;
//   - auth_payload is defined for the message and everything nested in it.
//
// Seeds: fuzz/corpus/wire_decode/ (one encoded sample of each type, kept in
// step with the codec by tests/wire_corpus_test.cpp). New inputs go to the
// first directory given, so name a scratch one first:
//   build-fuzz/fuzz/wire_decode_fuzz -max_total_time=150 -rss_limit_mb=2048 \
//       -max_len=8192 /tmp/wire-corpus fuzz/corpus/wire_decode
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <type_traits>
#include <variant>

#include "pbft/constants.h"
#include "pbft/messages.h"
#include "pbft/wire.h"

namespace {

[[noreturn]] void violated(const char* invariant) {
  std::fprintf(stderr, "wire_decode_fuzz: invariant violated: %s\n", invariant);
  std::abort();
}

// Computes the payload of a message and of every message nested in it, the
// way the verifier will.
size_t touch_payloads(const pbft::Message& message) {
  using namespace pbft;
  return std::visit(
      [](const auto& m) -> size_t {
        using T = std::decay_t<decltype(m)>;
        size_t total = wire::auth_payload(m).size();
        if constexpr (std::is_same_v<T, PrePrepare>) {
          for (const Request& r : m.batch) total += wire::auth_payload(r).size();
        } else if constexpr (std::is_same_v<T, ViewChange>) {
          for (const Checkpoint& c : m.checkpoint_proof) total += wire::auth_payload(c).size();
          for (const PreparedCertificate& cert : m.prepared) {
            total += wire::auth_payload(cert.pre_prepare).size();
            for (const Prepare& p : cert.prepares) total += wire::auth_payload(p).size();
          }
        } else if constexpr (std::is_same_v<T, NewView>) {
          for (const ViewChange& vc : m.view_changes) total += touch_payloads(Message(vc));
          for (const PrePrepare& pp : m.pre_prepares) total += wire::auth_payload(pp).size();
        }
        return total;
      },
      message);
}

// The bounds the core sizes its work by (state transfer, authenticator checks).
void check_bounds(const pbft::Message& message) {
  using namespace pbft;
  std::visit(
      [](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (requires { m.authenticator; }) {
          if (m.authenticator.size() > constants::replicas_max) {
            violated("an authenticator with more than replicas_max MACs");
          }
        }
        if constexpr (std::is_same_v<T, PrePrepare>) {
          for (const Request& r : m.batch) {
            if (r.authenticator.size() > constants::replicas_max) {
              violated("a batched request's authenticator with more than replicas_max MACs");
            }
          }
        }
        if constexpr (std::is_same_v<T, FetchReply>) {
          if (m.digests.size() > 256) violated("a fetch reply with more than 256 digests");
          if (m.data.size() > constants::fetch_chunk_max) {
            violated("a fetch reply with more than fetch_chunk_max bytes of data");
          }
        }
      },
      message);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pbft;
  const ByteView input(data, size);

  const Result<wire::Header> header =
      size >= constants::header_size ? wire::decode_header(input.first(constants::header_size))
                                     : Result<wire::Header>(Status::error("short"));
  const Result<Message> decoded = wire::decode(input);
  if (!decoded) {
    if (decoded.reason().empty()) violated("a rejection without a reason");
    return 0;
  }
  const Message& m = *decoded;

  if (!header) violated("decode accepted a frame whose header decode_header rejects");
  if (header->type != type_of(m)) violated("header type differs from the decoded type");
  if (header->sender != sender_of(m).id) violated("header sender differs from sender_of");
  if (header->body_size + constants::header_size != size) violated("body size mismatch");
  if (size > constants::message_size_max) violated("accepted a frame above message_size_max");
  check_bounds(m);

  const Bytes encoded = wire::encode(m);
  if (encoded.size() != size || !std::equal(encoded.begin(), encoded.end(), data)) {
    violated("encode(decode(f)) != f: the encoding is not canonical");
  }
  const Result<Message> again = wire::decode(encoded);
  if (!again) violated("decode(encode(m)) failed");
  if (!(*again == m)) violated("decode(encode(m)) != m");

  if (touch_payloads(m) == 0) violated("an empty auth payload");
  return 0;
}
