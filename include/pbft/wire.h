// The binary encoding of every message. Little-endian, explicit widths.
//
// A frame is a 16-byte header followed by the body:
//   magic u32 | version u8 | type u8 | reserved u16 (0) | sender u32 | body length u32
// Decoding is bounded and side-effect free: every length is checked against
// the buffer and against constants.h, every enum and index against its range,
// trailing bytes are rejected, and a reason is returned. Peer input never
// reaches an assertion or an exception.
#pragma once

#include <optional>

#include "pbft/constants.h"
#include "pbft/messages.h"
#include "pbft/status.h"

namespace pbft::wire {

struct Header {
  MessageType type;
  uint32_t sender;
  uint32_t body_size;
};

// Encodes a message with its header. The result is at most message_size_max
// bytes for any message the core produces.
Bytes encode(const Message& message);

// The bytes a request takes inside a pre-prepare's batch (nested: the
// client id, the fields and the tag its mode selects), exactly what encode
// writes for it there. A batch's body is a u32 count and then its entries.
size_t batch_entry_size(const Request& request);

// Decodes exactly one frame (header and body, nothing after).
Result<Message> decode(ByteView frame);

// Decodes and checks only the header: for a transport that reads the header
// first and then the body. Checks magic, version, type and body_size limits.
Result<Header> decode_header(ByteView header_bytes);

// The type of a frame whose header decode_header accepted, without decoding
// it; nothing for a frame shorter than a header or with an unknown type.
std::optional<MessageType> peek_type(ByteView frame);

// The bytes a message's signature or MACs cover: its type and every field
// except the authentication tags (and, for a pre-prepare, the batch, which
// is bound through the digest). For a request, auth_payload is what
// D(request) hashes and the tag covers request_tag_payload(D(request)).
Bytes auth_payload(const Request& m);
Bytes auth_payload(const PrePrepare& m);
Bytes auth_payload(const Prepare& m);
Bytes auth_payload(const Commit& m);
Bytes auth_payload(const Reply& m);
Bytes auth_payload(const Checkpoint& m);
Bytes auth_payload(const ViewChange& m);
Bytes auth_payload(const NewView& m);
Bytes auth_payload(const StatusMessage& m);
Bytes auth_payload(const Fetch& m);
Bytes auth_payload(const FetchReply& m);
// The type byte and D(request): what a request's authenticator or signature
// covers, so that a client hashes its operation once, not once per replica.
Bytes request_tag_payload(const Digest& request_digest);

}  // namespace pbft::wire
