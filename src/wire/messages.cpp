#include "pbft/messages.h"

#include "pbft/assert.h"

namespace pbft {

std::string to_hex(ByteView bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 0xf]);
  }
  return out;
}

namespace {
struct TypeOf {
  MessageType operator()(const Request&) const { return MessageType::request; }
  MessageType operator()(const PrePrepare&) const { return MessageType::pre_prepare; }
  MessageType operator()(const Prepare&) const { return MessageType::prepare; }
  MessageType operator()(const Commit&) const { return MessageType::commit; }
  MessageType operator()(const Reply&) const { return MessageType::reply; }
  MessageType operator()(const Checkpoint&) const { return MessageType::checkpoint; }
  MessageType operator()(const ViewChange&) const { return MessageType::view_change; }
  MessageType operator()(const NewView&) const { return MessageType::new_view; }
  MessageType operator()(const StatusMessage&) const { return MessageType::status; }
  MessageType operator()(const Fetch&) const { return MessageType::fetch; }
  MessageType operator()(const FetchReply&) const { return MessageType::fetch_reply; }
};
}  // namespace

MessageType type_of(const Message& m) { return std::visit(TypeOf{}, m); }

const char* type_name(MessageType t) {
  switch (t) {
    case MessageType::request: return "request";
    case MessageType::pre_prepare: return "pre-prepare";
    case MessageType::prepare: return "prepare";
    case MessageType::commit: return "commit";
    case MessageType::reply: return "reply";
    case MessageType::checkpoint: return "checkpoint";
    case MessageType::view_change: return "view-change";
    case MessageType::new_view: return "new-view";
    case MessageType::status: return "status";
    case MessageType::fetch: return "fetch";
    case MessageType::fetch_reply: return "fetch-reply";
  }
  return "unknown";
}

Principal sender_of(const Message& m) {
  if (const auto* r = std::get_if<Request>(&m)) return Principal::client(r->client);
  return std::visit(
      [](const auto& msg) -> Principal {
        using T = std::decay_t<decltype(msg)>;
        if constexpr (std::is_same_v<T, Request>) {
          return Principal::client(msg.client);
        } else {
          return Principal::replica(msg.sender);
        }
      },
      m);
}

}  // namespace pbft
