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
#include "src/runtime/link_channel.h"
#include "src/runtime/link_hello.h"
#include "src/runtime/back_pressure.h"

namespace pbft::runtime {

// This end of the links a process dials or accepts: whom it speaks for, its
// keys, what protects the links, and the cluster file that says whom the
// other end may be (docs/design.md, "Links"). Shared by the connections of
// one thread; immutable.
struct LinkSecurity {
  Encryption encryption = Encryption::tls;
  Hello self;                      // a replica, or a client group
  std::vector<SecretKey> keys;     // one per id of self, in id order
  std::shared_ptr<const TlsContext> tls;  // with encryption tls: the first id's key
  const ClusterConfig* cluster = nullptr;  // must outlive every connection

  // Makes one (the TLS context from keys[0] when the cluster says tls).
  static Result<std::shared_ptr<const LinkSecurity>> make(const ClusterConfig& cluster,
                                                          Hello self, std::vector<SecretKey> keys);
};

// Decodes a frame that an owner processes inline; one that does not decode
// is counted (frames_undecodable) and gives nothing.
std::optional<Message> decode_counted(ByteView frame, RuntimeCounters& counters);

// Opens `acceptor` on host:port and listens (a name is resolved, and its
// first address bound). Fails with "cannot listen on port P of HOST: why".
Status listen_on(asio::ip::tcp::acceptor& acceptor, const std::string& host, uint16_t port);

class Connection;

// What a connection reports to whoever owns it. Every call is on the loop.
class ConnectionOwner {
 public:
  virtual ~ConnectionOwner() = default;
  // The other end proved who it is (its hello verified; with TLS, its
  // certificate's key too): for an accepted connection the dialer's
  // principals, for a dialed one the replica it reached. Frames may flow
  // from now on. The owner may close c.
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

// The link's steps, in order: the TLS handshake (tls only), the greetings
// (nonces), the hellos, then frames.
enum class LinkPhase : uint8_t { tls_handshake, greeting, hello, open };

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // dialed: the replica this end dialed (it must answer as that replica);
  // none for an accepted connection. The TLS handshake and the hellos must
  // be done within handshake_timeout (0: no limit), else the connection
  // closes (hello_timeouts).
  Connection(asio::ip::tcp::socket socket, ConnectionOwner& owner, RuntimeCounters& counters,
             QueueLimits limits, std::shared_ptr<const LinkSecurity> security,
             std::optional<ReplicaId> dialed, std::chrono::milliseconds handshake_timeout,
             std::string name);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Starts the handshake and reading.
  void start();
  // Queues a frame (shared: one encoding for many connections). Closed
  // until the link is established (on_hello).
  SendResult send(std::shared_ptr<const Bytes> frame);
  // Idempotent; the owner hears of it through on_closed.
  void close(const std::string& reason);
  // Continues reading after reserve() returned false: parsing resumes from
  // a handler of its own (so frames are not delivered inside this call).
  void resume();
  void set_idle_timeout(std::chrono::milliseconds timeout);
  // Once a frame's first byte is read, all of it must arrive within base
  // plus its size at bytes_per_second (base 0: no limit): a sender that
  // stops or trickles mid-frame does not hold its reservation for long.
  void set_frame_deadline(std::chrono::milliseconds base, size_t bytes_per_second) {
    frame_deadline_base_ = base;
    frame_bytes_per_second_ = bytes_per_second;
  }

  bool is_open() const { return open_; }
  bool established() const { return phase_ == LinkPhase::open; }
  LinkPhase phase() const { return phase_; }
  bool paused() const { return paused_; }
  size_t read_reservation() const { return reserved_; }
  const std::string& name() const { return name_; }
  const std::string& remote_address() const { return remote_address_; }
  uint64_t serial() const { return serial_; }

  // The other end's principals, once authenticated (set before on_hello).
  std::optional<Hello> hello;
  // The other end broke a rule of the link (a failed handshake or hello, a
  // frame that fails authentication or comes from the wrong sender): its
  // address backs off. Set before the close by whoever closes.
  bool misbehaved = false;
  // The owner's per-connection facts (set and read by the owner only).
  std::string remote_ip;  // the remote address without its port (admission)
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
  void arm_frame_timer(size_t frame_bytes);
  // Moves plaintext out of the TLS channel into in_ (false: none, or no TLS).
  bool pull();
  // Each step of the link; false when it needs more bytes (or closed).
  bool step_tls_handshake();
  bool step_greeting(size_t available);
  bool step_hello(size_t available);
  void send_internal(Bytes bytes);
  void refuse(uint64_t& counter, const std::string& reason);
  void write_next();
  void arm_timer(std::chrono::milliseconds after);
  void on_timer();

  asio::ip::tcp::socket socket_;
  asio::steady_timer timer_;
  asio::steady_timer frame_timer_;
  ConnectionOwner& owner_;
  RuntimeCounters& counters_;
  QueueLimits limits_;
  std::shared_ptr<const LinkSecurity> security_;
  std::optional<ReplicaId> dialed_;
  std::chrono::milliseconds handshake_timeout_;
  std::chrono::milliseconds idle_timeout_{0};
  std::chrono::milliseconds frame_deadline_base_{0};
  size_t frame_bytes_per_second_ = 0;
  // The frame being read: its first byte's time, and what the frame timer
  // was last armed for (frames_done_ + 1 and the size it knew).
  uint64_t frames_done_ = 0;
  std::chrono::steady_clock::time_point frame_started_at_;
  uint64_t frame_timer_frame_ = 0;
  size_t frame_timer_bytes_ = 0;
  std::chrono::steady_clock::time_point last_frame_at_;
  std::string name_;
  std::string remote_address_;
  uint64_t serial_;

  bool open_ = true;
  bool paused_ = false;
  LinkPhase phase_ = LinkPhase::greeting;
  std::unique_ptr<Channel> tls_;  // with encryption tls
  Nonce own_nonce_{};
  Bytes binding_;  // link_binding, once both greetings are known
  // TLS: ciphertext read from the socket, and the sealed output in flight
  // with the frames it carries.
  Bytes raw_;
  Bytes out_;
  size_t sealed_frames_ = 0;
  size_t sealed_bytes_ = 0;
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
  // Dials replica `replica` at host:port as security's principals; the link
  // is up once that replica proved itself (on_state(true)).
  OutgoingLink(asio::io_context& io, std::string host, uint16_t port, ReplicaId replica,
               std::shared_ptr<const LinkSecurity> security, ConnectionOwner& owner,
               RuntimeCounters& counters, QueueLimits limits, std::string name,
               StateChange on_state);
  ~OutgoingLink() override;
  OutgoingLink(const OutgoingLink&) = delete;
  OutgoingLink& operator=(const OutgoingLink&) = delete;

  void start();
  void stop();
  // Applied to each connection this link makes (Connection's): a peer on
  // the other end of a dialed link holds a frame's reservation no longer
  // than an accepted one does.
  void set_frame_deadline(std::chrono::milliseconds base, size_t bytes_per_second) {
    frame_deadline_base_ = base;
    frame_bytes_per_second_ = bytes_per_second;
  }
  // closed when the link is down (nothing is queued while it is down).
  SendResult send(std::shared_ptr<const Bytes> frame);
  bool up() const {
    return connection_ != nullptr && connection_->is_open() && connection_->established();
  }

  static constexpr std::chrono::milliseconds backoff_min{50};
  static constexpr std::chrono::milliseconds backoff_max{2000};
  // The TLS handshake and the hellos, from the connect on.
  static constexpr std::chrono::milliseconds handshake_timeout{5000};

 private:
  void attempt();
  void retry_later(const std::string& reason, bool connect_failed);
  void on_hello(Connection& c, const Hello& h) override;
  bool reserve(Connection& c, size_t bytes) override { return owner_.reserve(c, bytes); }
  void on_frame(Connection& c, Bytes frame) override { owner_.on_frame(c, std::move(frame)); }
  void on_closed(Connection& c, const std::string& reason) override;

  asio::io_context& io_;
  std::string host_;
  uint16_t port_;
  ReplicaId replica_;
  std::chrono::milliseconds frame_deadline_base_{0};
  size_t frame_bytes_per_second_ = 0;
  std::shared_ptr<const LinkSecurity> security_;
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
