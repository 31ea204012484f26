// One TCP connection carrying wire frames, and an outgoing link that keeps
// one connected (reconnecting with exponential back-off). Internal to
// src/runtime.
//
// Thread safety: none; everything here runs on the event-loop thread that
// owns the io_context.
#pragma once

#include "src/runtime/asio.h"

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "pbft/messages.h"
#include "pbft/runtime.h"
#include "pbft/status.h"
#include "pbft/types.h"
#include "src/runtime/back_pressure.h"

namespace pbft::runtime {

// The dialer's first 12 bytes: magic u32 "PBHL" | version u8 | kind u8 |
// reserved u16 (0) | id u32, little-endian. Not authenticated: a replica uses
// it only to tell replica links from client connections and where to send a
// client's replies before that client's first authentic request arrives.
// A client's hello names the client ids [id, id + count) that the
// connection carries (count 1 for a lone client; 0 on the wire means 1, as
// older peers send it). A replica's count is 1.
struct Hello {
  enum class Kind : uint8_t { replica = 0, client = 1 };
  Kind kind = Kind::replica;
  uint32_t id = 0;
  uint16_t count = 1;
  bool carries(uint32_t client) const { return client >= id && client - id < count; }
};
// magic u32 | version u8 | kind u8 | count u16 | id u32, little-endian
// (count was a reserved zero before client groups; 0 still means 1).
constexpr size_t hello_size = 12;
constexpr uint32_t hello_magic = 0x4c484250;  // "PBHL" little-endian
constexpr uint8_t hello_version = 1;
Bytes encode_hello(const Hello& hello);

// Decodes a frame that an owner processes inline; one that does not decode
// is counted (frames_undecodable) and gives nothing.
std::optional<Message> decode_counted(ByteView frame, RuntimeCounters& counters);
Result<Hello> decode_hello(ByteView bytes);

class Connection;

// What a connection reports to whoever owns it. Every call is on the loop.
class ConnectionOwner {
 public:
  virtual ~ConnectionOwner() = default;
  // The hello of an accepted connection arrived (the owner may close c).
  virtual void on_hello(Connection& c, const Hello& hello) = 0;
  // May c read a frame of `frame_bytes` now? On true the owner has counted
  // the bytes as reserved (released when it is done with the frame, or with
  // c.read_reservation() when c closes mid-frame); on false c pauses until
  // the owner calls c.resume().
  virtual bool reserve(Connection& c, size_t frame_bytes) = 0;
  // A complete frame whose header passed wire::decode_header.
  virtual void on_frame(Connection& c, Bytes frame) = 0;
  // c closed (by either side); called once.
  virtual void on_closed(Connection& c, const std::string& reason) = 0;
};

struct QueueLimits {
  size_t frames_max;
  size_t bytes_max;
};

enum class SendResult : uint8_t { queued, queue_full, closed };

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // expect_hello: an accepted connection, whose first bytes must be a hello
  // within hello_timeout. idle_timeout (0: none) closes it when no complete
  // frame arrived for that long after the hello.
  Connection(asio::ip::tcp::socket socket, ConnectionOwner& owner, RuntimeCounters& counters,
             QueueLimits limits, bool expect_hello, std::chrono::milliseconds hello_timeout,
             std::string name);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Starts reading; `hello` (for a dialed connection) is sent before anything.
  void start(const std::optional<Hello>& hello);
  // Queues a frame (shared: one encoding for many connections).
  SendResult send(std::shared_ptr<const Bytes> frame);
  // Idempotent; the owner hears of it through on_closed.
  void close(const std::string& reason);
  // Continues reading after reserve() returned false: parsing resumes from
  // a handler of its own (so frames are not delivered inside this call).
  void resume();
  void set_idle_timeout(std::chrono::milliseconds timeout);
  // Once a header is read, the body must arrive within this (0: no limit):
  // a sender that stops mid-frame does not hold its reservation forever.
  void set_frame_timeout(std::chrono::milliseconds timeout) { frame_timeout_ = timeout; }

  bool is_open() const { return open_; }
  bool paused() const { return paused_; }
  size_t read_reservation() const { return reserved_; }
  const std::string& name() const { return name_; }
  const std::string& remote_address() const { return remote_address_; }
  uint64_t serial() const { return serial_; }

  // The owner's per-connection facts (set and read by the owner only).
  std::optional<Hello> hello;
  bool authentic = false;        // delivered at least one verified frame
  size_t in_verification = 0;    // frames of this connection not yet handed on
  Share reserved_from = Share::stranger;  // whose part of the budget the current reservation is
  // A client of this connection's hello sent an authentic request on it. For
  // a group, the send queue grows by client_group_frames_per_client and
  // client_group_bytes_per_client for each distinct member that did: it
  // grows with the members that proved themselves, not with what the
  // (unauthenticated) hello claims.
  void note_authentic_client(uint32_t client);
  std::chrono::steady_clock::time_point accepted_at;

 private:
  void read_some();
  void parse();
  void compact();
  void arm_frame_timer();
  void write_next();
  void arm_timer(std::chrono::milliseconds after);
  void on_timer();

  asio::ip::tcp::socket socket_;
  asio::steady_timer timer_;
  asio::steady_timer frame_timer_;
  ConnectionOwner& owner_;
  RuntimeCounters& counters_;
  QueueLimits limits_;
  bool expect_hello_;
  std::chrono::milliseconds hello_timeout_;
  std::chrono::milliseconds idle_timeout_{0};
  std::chrono::milliseconds frame_timeout_{0};
  uint64_t frames_started_ = 0;  // identifies the frame a frame timer is for
  uint64_t frame_timer_armed_for_ = 0;
  std::chrono::steady_clock::time_point last_frame_at_;
  std::string name_;
  std::string remote_address_;
  uint64_t serial_;

  bool open_ = true;
  bool paused_ = false;
  bool hello_done_ = false;
  // Reading: one read fetches whatever arrived (many frames, or part of
  // one); frames are cut out of in_[in_begin_, in_end_). The buffer grows to
  // hold a frame larger than it only once that frame's bytes are reserved.
  static constexpr size_t read_buffer_size = 32 * 1024;
  Bytes in_;
  size_t in_begin_ = 0;
  size_t in_end_ = 0;
  bool reading_ = false;
  size_t reserved_ = 0;  // bytes reserved for the frame being read
  // Writing: frames queue here and leave in gathered writes.
  static constexpr size_t write_frames_max = 64;
  static constexpr size_t write_bytes_max = 1024 * 1024;
  std::vector<bool> group_authentic_;  // index: client id - hello->id
  size_t group_authentic_count_ = 0;
  std::deque<std::shared_ptr<const Bytes>> queue_;
  std::vector<asio::const_buffer> write_buffers_;
  size_t queued_bytes_ = 0;
  bool writing_ = false;
};

// Keeps one dialed connection to host:port: connects, sends the hello,
// reconnects after a failure or a close with exponential back-off (from
// backoff_min up to backoff_max; reset by a successful connect). Frames
// received on it go to `owner` like an accepted connection's.
class OutgoingLink : public ConnectionOwner {
 public:
  using StateChange = std::function<void(bool up, const std::string& reason)>;
  OutgoingLink(asio::io_context& io, std::string host, uint16_t port, Hello hello,
               ConnectionOwner& owner, RuntimeCounters& counters, QueueLimits limits,
               std::string name, StateChange on_state);
  ~OutgoingLink() override;
  OutgoingLink(const OutgoingLink&) = delete;
  OutgoingLink& operator=(const OutgoingLink&) = delete;

  void start();
  void stop();
  // closed when the link is down (nothing is queued while it is down).
  SendResult send(std::shared_ptr<const Bytes> frame);
  bool up() const { return connection_ != nullptr && connection_->is_open(); }

  static constexpr std::chrono::milliseconds backoff_min{50};
  static constexpr std::chrono::milliseconds backoff_max{2000};

 private:
  void attempt();
  void retry_later(const std::string& reason, bool connect_failed);
  void on_hello(Connection& c, const Hello& h) override { owner_.on_hello(c, h); }
  bool reserve(Connection& c, size_t bytes) override { return owner_.reserve(c, bytes); }
  void on_frame(Connection& c, Bytes frame) override { owner_.on_frame(c, std::move(frame)); }
  void on_closed(Connection& c, const std::string& reason) override;

  asio::io_context& io_;
  std::string host_;
  uint16_t port_;
  Hello hello_;
  ConnectionOwner& owner_;
  RuntimeCounters& counters_;
  QueueLimits limits_;
  std::string name_;
  StateChange on_state_;
  asio::ip::tcp::resolver resolver_;
  asio::steady_timer retry_timer_;
  std::shared_ptr<asio::ip::tcp::socket> connecting_;
  std::shared_ptr<Connection> connection_;
  std::chrono::milliseconds backoff_ = backoff_min;
  bool stopped_ = false;
  bool was_up_ = false;
  // Handlers that outlive the link (it is destroyed while operations are
  // pending at shutdown) check this before touching it.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace pbft::runtime
