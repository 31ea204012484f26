#include "src/runtime/connection.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "pbft/constants.h"
#include "pbft/wire.h"

namespace pbft::runtime {

namespace {

uint32_t load_le32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

std::atomic<uint64_t> next_serial{1};

std::string describe_endpoint(const asio::ip::tcp::socket& socket) {
  std::error_code ec;
  const asio::ip::tcp::endpoint e = socket.remote_endpoint(ec);
  if (ec) return "?";
  return e.address().to_string() + ":" + std::to_string(e.port());
}

}  // namespace

std::optional<Message> decode_counted(ByteView frame, RuntimeCounters& counters) {
  Result<Message> decoded = wire::decode(frame);
  if (!decoded) {
    counters.frames_undecodable++;
    return std::nullopt;
  }
  return std::move(decoded).value();
}

Result<std::shared_ptr<const LinkSecurity>> LinkSecurity::make(const ClusterConfig& cluster,
                                                               Hello self,
                                                               std::vector<SecretKey> keys) {
  if (keys.size() != self.count) return Status::error("links: one key per principal");
  auto out = std::make_shared<LinkSecurity>();
  out->encryption = static_cast<Encryption>(cluster.encryption);
  out->self = self;
  out->cluster = &cluster;
  if (out->encryption == Encryption::tls) {
    const std::string name = fmt::format(
        "pbft {} {}", self.kind == Hello::Kind::replica ? "replica" : "client", self.id);
    Result<std::shared_ptr<TlsContext>> tls = TlsContext::make(keys.front(), name);
    if (!tls) return tls.status();
    out->tls = std::move(tls).value();
  }
  out->keys = std::move(keys);
  return std::shared_ptr<const LinkSecurity>(std::move(out));
}

Status listen_on(asio::ip::tcp::acceptor& acceptor, const std::string& host, uint16_t port) {
  std::error_code ec;
  asio::ip::tcp::resolver resolver(acceptor.get_executor());
  const asio::ip::tcp::resolver::results_type found =
      resolver.resolve(host, std::to_string(port), asio::ip::tcp::resolver::numeric_service, ec);
  if (ec || found.empty()) {
    return Status::error(fmt::format("cannot listen on port {} of {}: cannot resolve it: {}", port,
                                     host, ec ? ec.message() : "no address"));
  }
  const asio::ip::tcp::endpoint endpoint = found.begin()->endpoint();
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::error(fmt::format("cannot listen on port {} of {}: {}", port, host,
                                     ec.message()));
  }
  return Status::ok();
}

// ------------------------------------------------------------ Connection

Connection::Connection(asio::ip::tcp::socket socket, ConnectionOwner& owner,
                       RuntimeCounters& counters, QueueLimits limits,
                       std::shared_ptr<const LinkSecurity> security,
                       std::optional<ReplicaId> dialed,
                       std::chrono::milliseconds handshake_timeout, std::string name)
    : socket_(std::move(socket)),
      timer_(socket_.get_executor()),
      frame_timer_(socket_.get_executor()),
      owner_(owner),
      counters_(counters),
      limits_(limits),
      security_(std::move(security)),
      dialed_(dialed),
      handshake_timeout_(handshake_timeout),
      last_frame_at_(std::chrono::steady_clock::now()),
      name_(std::move(name)),
      remote_address_(describe_endpoint(socket_)),
      serial_(next_serial++) {
  accepted_at = last_frame_at_;
  std::error_code ignored;
  socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
}

void Connection::start() {
  in_.resize(read_buffer_size);
  if (handshake_timeout_.count() > 0) arm_timer(handshake_timeout_);
  own_nonce_ = fresh_nonce();
  if (security_->encryption == Encryption::tls) {
    Result<std::unique_ptr<Channel>> channel = Channel::tls(*security_->tls, !dialed_);
    if (!channel) {
      refuse(counters_.handshake_failures, channel.reason());
      return;
    }
    tls_ = std::move(channel).value();
    raw_.resize(read_buffer_size);
    phase_ = LinkPhase::tls_handshake;
    // The dialer speaks first (its ClientHello).
    step_tls_handshake();
    if (!open_) return;
  } else {
    phase_ = LinkPhase::greeting;
    send_internal(encode_greeting(Greeting{Encryption::none, own_nonce_}));
  }
  read_some();
}

// A broken rule of the link: counted, the address backs off, closed.
void Connection::refuse(uint64_t& counter, const std::string& reason) {
  counter++;
  misbehaved = true;
  close(reason);
}

void Connection::send_internal(Bytes bytes) {
  // The link's own messages go first, whatever the queue limits say.
  queued_bytes_ += bytes.size();
  queue_.push_back(std::make_shared<const Bytes>(std::move(bytes)));
  if (!writing_) {
    writing_ = true;
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->write_next(); });
  }
}

void Connection::arm_timer(std::chrono::milliseconds after) {
  timer_.expires_after(after);
  timer_.async_wait([self = shared_from_this()](const std::error_code& ec) {
    if (ec || !self->open_) return;
    self->on_timer();
  });
}

void Connection::on_timer() {
  if (phase_ != LinkPhase::open) {
    counters_.hello_timeouts++;
    close("no authenticated hello within " + std::to_string(handshake_timeout_.count()) + " ms");
    return;
  }
  if (idle_timeout_.count() == 0) return;
  const auto idle = std::chrono::steady_clock::now() - last_frame_at_;
  if (idle >= idle_timeout_) {
    counters_.idle_timeouts++;
    close("silent for " + std::to_string(idle_timeout_.count()) + " ms");
    return;
  }
  arm_timer(std::chrono::duration_cast<std::chrono::milliseconds>(idle_timeout_ - idle) +
            std::chrono::milliseconds(1));
}

void Connection::set_idle_timeout(std::chrono::milliseconds timeout) {
  idle_timeout_ = timeout;
  last_frame_at_ = std::chrono::steady_clock::now();
  if (timeout.count() > 0 && open_) {
    arm_timer(timeout);
  } else {
    timer_.cancel();
  }
}

void Connection::read_some() {
  if (reading_ || paused_ || !open_) return;
  if (tls_) {
    // Ciphertext goes to the channel; parse() pulls the plaintext out as
    // it needs it, so what waits inside the channel is one read at most.
    reading_ = true;
    socket_.async_read_some(
        asio::buffer(raw_), [self = shared_from_this()](const std::error_code& ec, size_t n) {
          self->reading_ = false;
          if (!self->open_) return;
          if (ec) {
            self->close(ec == asio::error::eof ? "closed by peer" : ec.message());
            return;
          }
          self->tls_->feed(ByteView(self->raw_.data(), n));
          self->parse();
        });
    return;
  }
  if (in_end_ == in_.size()) {
    // The buffer is full of a frame's beginning: parse() made it as large
    // as the frame it reserved, so this only happens before the header.
    compact();
  }
  reading_ = true;
  socket_.async_read_some(
      asio::buffer(in_.data() + in_end_, in_.size() - in_end_),
      [self = shared_from_this()](const std::error_code& ec, size_t n) {
        self->reading_ = false;
        if (!self->open_) return;
        if (ec) {
          const bool mid_frame = self->in_end_ > self->in_begin_;
          self->close(ec == asio::error::eof
                          ? (mid_frame ? "closed by peer mid-frame" : "closed by peer")
                          : ec.message());
          return;
        }
        self->in_end_ += n;
        self->parse();
      });
}

// Moves the unparsed bytes to the front of the buffer.
void Connection::compact() {
  if (in_begin_ == 0) return;
  std::memmove(in_.data(), in_.data() + in_begin_, in_end_ - in_begin_);
  in_end_ -= in_begin_;
  in_begin_ = 0;
}

bool Connection::pull() {
  if (!tls_ || !tls_->established() || !open_) return false;
  if (in_end_ == in_.size()) compact();
  if (in_end_ == in_.size()) return false;
  Result<size_t> got = tls_->read(in_.data() + in_end_, in_.size() - in_end_);
  if (!got) {
    // A record that does not open is a forgery or damage on the path: once
    // the link is authenticated, not the doing of the key holder, whose
    // principal must not back off for it (an on-path injector would get a
    // correct replica refused); before, its address backs off.
    if (got.reason().find("close_notify") != std::string::npos) {
      close(got.reason());
    } else if (phase_ == LinkPhase::open) {
      counters_.handshake_failures++;
      close(got.reason());
    } else {
      refuse(counters_.handshake_failures, got.reason());
    }
    return false;
  }
  in_end_ += *got;
  return *got > 0;
}

bool Connection::step_tls_handshake() {
  Result<bool> done = tls_->handshake();
  if (tls_->has_output() && !writing_) {
    writing_ = true;
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->write_next(); });
  }
  if (!done) {
    refuse(counters_.handshake_failures, done.reason());
    return false;
  }
  if (!*done) return false;
  // The certificate must carry the key the cluster file lists for the
  // replica dialed (an acceptor learns whom to expect from the hello).
  std::optional<PublicKey> key = tls_->peer_key();
  if (!key) {
    refuse(counters_.handshake_failures, "TLS: the other end presented no Ed25519 certificate");
    return false;
  }
  if (dialed_ && key != listed_key(*security_->cluster, Hello::Kind::replica, *dialed_)) {
    refuse(counters_.hello_unauthentic,
           fmt::format("TLS: the certificate's key is not replica {}'s", *dialed_));
    return false;
  }
  phase_ = LinkPhase::greeting;
  send_internal(encode_greeting(Greeting{Encryption::tls, own_nonce_}));
  return true;
}

bool Connection::step_greeting(size_t available) {
  if (available < greeting_size) return false;
  Result<Greeting> greeting = decode_greeting(ByteView(in_.data() + in_begin_, greeting_size));
  in_begin_ += greeting_size;
  if (!greeting) {
    refuse(counters_.hello_rejected, greeting.reason());
    return false;
  }
  if (greeting->encryption != security_->encryption) {
    refuse(counters_.hello_rejected,
           fmt::format("greeting: the other end runs encryption {}, this one {}",
                       knob_choices::encryption[static_cast<size_t>(greeting->encryption)],
                       knob_choices::encryption[static_cast<size_t>(security_->encryption)]));
    return false;
  }
  const Bytes tls_binding = tls_ ? tls_->binding() : Bytes();
  if (tls_ && tls_binding.empty()) {
    refuse(counters_.handshake_failures, "TLS: no exporter to bind the hellos to");
    return false;
  }
  // The acceptor is the replica dialed: a hello signed for a link to
  // another replica fails here (a faulty replica relaying between two
  // correct ones).
  const ReplicaId dialed = dialed_ ? *dialed_ : security_->self.id;
  binding_ = dialed_ ? link_binding(security_->encryption, tls_binding, dialed, own_nonce_,
                                    greeting->nonce)
                     : link_binding(security_->encryption, tls_binding, dialed, greeting->nonce,
                                    own_nonce_);
  phase_ = LinkPhase::hello;
  if (dialed_) {
    send_internal(encode_hello(sign_hello(security_->self, LinkRole::dialer, binding_,
                                          security_->keys)));
  }
  return true;
}

bool Connection::step_hello(size_t available) {
  if (available < hello_header_size) return false;
  Result<Hello> header = decode_hello_header(ByteView(in_.data() + in_begin_, hello_header_size));
  if (!header) {
    refuse(counters_.hello_rejected, header.reason());
    return false;
  }
  const size_t size = hello_size(*header);
  if (available < size) {
    // A group's hello may be larger than the buffer (64 KiB at most).
    if (in_.size() - in_begin_ < size) {
      compact();
      if (in_.size() < size) in_.resize(size);
    }
    return false;
  }
  Result<SignedHello> received = decode_hello(ByteView(in_.data() + in_begin_, size));
  in_begin_ += size;
  if (!received) {
    refuse(counters_.hello_rejected, received.reason());
    return false;
  }
  const Hello& peer = received->hello;
  if (dialed_ && (peer.kind != Hello::Kind::replica || peer.id != *dialed_)) {
    refuse(counters_.hello_unauthentic,
           fmt::format("dialed replica {}, but the other end says it is {} {}", *dialed_,
                       peer.kind == Hello::Kind::replica ? "replica" : "client", peer.id));
    return false;
  }
  if (tls_ && !dialed_ && tls_->peer_key() != listed_key(*security_->cluster, peer.kind, peer.id)) {
    refuse(counters_.hello_unauthentic,
           fmt::format("TLS: the certificate's key is not {} {}'s",
                       peer.kind == Hello::Kind::replica ? "replica" : "client", peer.id));
    return false;
  }
  if (Status s = verify_hello(*received, dialed_ ? LinkRole::acceptor : LinkRole::dialer, binding_,
                              *security_->cluster);
      !s) {
    refuse(counters_.hello_unauthentic, s.reason());
    return false;
  }
  if (!dialed_) {
    send_internal(encode_hello(sign_hello(security_->self, LinkRole::acceptor, binding_,
                                          security_->keys)));
  }
  phase_ = LinkPhase::open;
  hello = peer;
  timer_.cancel();
  last_frame_at_ = std::chrono::steady_clock::now();
  owner_.on_hello(*this, peer);
  return open_;
}

void Connection::parse() {
  std::shared_ptr<Connection> self = shared_from_this();  // the owner may drop its reference
  while (open_ && !paused_) {
    if (phase_ == LinkPhase::tls_handshake) {
      if (!step_tls_handshake()) break;
      continue;
    }
    const size_t available = in_end_ - in_begin_;
    if (phase_ == LinkPhase::greeting || phase_ == LinkPhase::hello) {
      const bool progressed =
          phase_ == LinkPhase::greeting ? step_greeting(available) : step_hello(available);
      if (progressed) continue;
      if (open_ && pull()) continue;
      break;
    }
    const uint8_t* at = in_.data() + in_begin_;
    if (available < constants::header_size) {
      // Part of a header has no timer of its own otherwise.
      if (available > 0) arm_frame_timer(0);
      if (pull()) continue;
      break;
    }
    const uint64_t body = load_le32(at + 12);
    const size_t total = constants::header_size + static_cast<size_t>(body);
    if (reserved_ == 0) {
      // The length first: a frame over the limit is refused before
      // anything is allocated for it.
      if (constants::header_size + body > constants::frame_size_max) {
        counters_.frames_oversized++;
        misbehaved = true;
        close("frame of " + std::to_string(constants::header_size + body) +
              " bytes is over the limit of " + std::to_string(constants::frame_size_max));
        return;
      }
      if (Result<wire::Header> h = wire::decode_header(ByteView(at, constants::header_size)); !h) {
        counters_.frames_bad_header++;
        misbehaved = true;
        close(h.reason());
        return;
      }
      if (!owner_.reserve(*this, total)) {
        counters_.read_pauses++;
        paused_ = true;
        // The pause is this end's doing: the frame's deadline starts again
        // once it reads on (a correct peer is not closed for our budget).
        frame_timer_frame_ = 0;
        frame_timer_.cancel();
        return;  // resume() parses again
      }
      reserved_ = total;
    }
    if (available < total) {
      // Wait for the rest, with room for all of it and a time limit.
      if (in_.size() - in_begin_ < total) {
        compact();
        if (in_.size() < total) in_.resize(total);
      }
      arm_frame_timer(total);
      if (pull()) continue;
      break;
    }
    Bytes frame(at, at + total);
    in_begin_ += total;
    frames_done_++;
    frame_timer_frame_ = 0;
    frame_timer_.cancel();
    counters_.frames_received++;
    counters_.bytes_received += total;
    last_frame_at_ = std::chrono::steady_clock::now();
    reserved_ = 0;
    owner_.on_frame(*this, std::move(frame));
  }
  if (!open_ || paused_) return;
  if (in_begin_ == in_end_) in_begin_ = in_end_ = 0;
  // A large frame grew the buffer: give the memory back as soon as what is
  // left fits the usual size (the growth was reserved for that frame only).
  // (Not while a hello larger than the buffer is being read: a group's of
  // more than 511 members; it grew the buffer for itself.)
  if (in_.size() > read_buffer_size && reserved_ == 0 && phase_ == LinkPhase::open &&
      in_end_ - in_begin_ <= read_buffer_size) {
    compact();
    in_.resize(read_buffer_size);
    in_.shrink_to_fit();
  }
  read_some();
}

// The frame being read must be complete by its first byte's time plus the
// base plus its size at the configured rate (frame_bytes 0: the header is
// not complete yet, the base alone).
void Connection::arm_frame_timer(size_t frame_bytes) {
  if (frame_deadline_base_.count() == 0) return;
  const uint64_t frame = frames_done_ + 1;
  if (frame_timer_frame_ == frame && frame_timer_bytes_ >= frame_bytes) return;
  if (frame_timer_frame_ != frame) frame_started_at_ = std::chrono::steady_clock::now();
  frame_timer_frame_ = frame;
  frame_timer_bytes_ = frame_bytes;
  std::chrono::milliseconds allowed = frame_deadline_base_;
  if (frame_bytes_per_second_ > 0) {
    allowed += std::chrono::milliseconds(uint64_t{frame_bytes} * 1000 / frame_bytes_per_second_);
  }
  frame_timer_.expires_at(frame_started_at_ + allowed);
  frame_timer_.async_wait(
      [self = shared_from_this(), frame, allowed](const std::error_code& ec) {
        if (ec || !self->open_ || self->frames_done_ + 1 != frame ||
            self->frame_timer_frame_ != frame) {
          return;
        }
        self->counters_.frame_timeouts++;
        self->close("a frame did not arrive whole within " + std::to_string(allowed.count()) +
                    " ms");
      });
}

void Connection::note_authentic_client(uint32_t client) {
  if (!hello || hello->count <= 1 || !hello->carries(client)) return;
  if (group_authentic_.empty()) group_authentic_.assign(hello->count, false);
  const uint32_t k = client - hello->id;
  if (group_authentic_[k]) return;
  group_authentic_[k] = true;
  group_authentic_count_++;
  limits_ = QueueLimits{
      constants::client_send_queue_frames_max +
          group_authentic_count_ * constants::client_group_frames_per_client,
      constants::client_send_queue_bytes_max +
          group_authentic_count_ * constants::client_group_bytes_per_client};
}

void Connection::resume() {
  if (!open_ || !paused_) return;
  paused_ = false;
  // Parse later, not here: the owner calls this while it releases another
  // frame, and parsing may deliver frames that release more, resuming the
  // next paused connection: a chain as deep as the paused list.
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    if (self->open_ && !self->paused_) self->parse();
  });
}

SendResult Connection::send(std::shared_ptr<const Bytes> frame) {
  if (!open_ || phase_ != LinkPhase::open) return SendResult::closed;
  if (!queue_.empty() &&
      (queue_.size() >= limits_.frames_max || queued_bytes_ + frame->size() > limits_.bytes_max)) {
    counters_.send_dropped_queue_full++;
    return SendResult::queue_full;
  }
  queued_bytes_ += frame->size();
  queue_.push_back(std::move(frame));
  if (!writing_) {
    // Start writing once the current handler is done, so that everything
    // it sends to this peer leaves in one gathered write.
    writing_ = true;
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->write_next(); });
  }
  return SendResult::queued;
}

void Connection::write_next() {
  if (!open_) {
    writing_ = false;
    return;
  }
  if (tls_) {
    // Seal a batch of frames (once the handshake is done and the last
    // batch's records have left) into one buffer of records: one system
    // call per batch, as for cleartext.
    if (!tls_->has_output() && !queue_.empty() && tls_->established()) {
      Bytes plain;
      for (const auto& frame : queue_) {
        if (sealed_frames_ == write_frames_max ||
            (sealed_frames_ > 0 && plain.size() + frame->size() > write_bytes_max)) {
          break;
        }
        plain.insert(plain.end(), frame->begin(), frame->end());
        sealed_frames_++;
      }
      sealed_bytes_ = plain.size();
      if (Status s = tls_->write(plain); !s) {
        close(s.reason());
        return;
      }
    }
    out_ = tls_->take_output();
    if (out_.empty()) {
      writing_ = false;
      return;
    }
    writing_ = true;
    asio::async_write(socket_, asio::buffer(out_),
                      [self = shared_from_this()](const std::error_code& ec, size_t) {
                        if (!self->open_) return;
                        if (ec) {
                          self->close("write failed: " + ec.message());
                          return;
                        }
                        self->counters_.frames_sent += self->sealed_frames_;
                        self->counters_.bytes_sent += self->sealed_bytes_;
                        for (size_t i = 0; i < self->sealed_frames_; i++) {
                          self->queued_bytes_ -= self->queue_.front()->size();
                          self->queue_.pop_front();
                        }
                        self->sealed_frames_ = 0;
                        self->sealed_bytes_ = 0;
                        self->write_next();
                      });
    return;
  }
  if (queue_.empty()) {
    writing_ = false;
    return;
  }
  writing_ = true;
  // Everything queued goes out in one gathered write (up to a bound), so a
  // burst of frames to one peer costs one system call, not one each.
  write_buffers_.clear();
  size_t bytes = 0;
  for (const auto& frame : queue_) {
    if (write_buffers_.size() == write_frames_max ||
        (!write_buffers_.empty() && bytes + frame->size() > write_bytes_max)) {
      break;
    }
    write_buffers_.push_back(asio::buffer(*frame));
    bytes += frame->size();
  }
  asio::async_write(socket_, write_buffers_,
                    [self = shared_from_this(), frames = write_buffers_.size()](
                        const std::error_code& ec, size_t written) {
                      if (!self->open_) return;
                      if (ec) {
                        self->close("write failed: " + ec.message());
                        return;
                      }
                      self->counters_.frames_sent += frames;
                      self->counters_.bytes_sent += written;
                      for (size_t i = 0; i < frames; i++) {
                        self->queued_bytes_ -= self->queue_.front()->size();
                        self->queue_.pop_front();
                      }
                      self->write_next();
                    });
}

void Connection::close(const std::string& reason) {
  if (!open_) return;
  open_ = false;
  std::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  timer_.cancel();
  frame_timer_.cancel();
  queue_.clear();
  queued_bytes_ = 0;
  sealed_frames_ = sealed_bytes_ = 0;
  in_ = Bytes();
  in_begin_ = in_end_ = 0;
  // Keep this object alive through the owner's bookkeeping.
  std::shared_ptr<Connection> self = shared_from_this();
  owner_.on_closed(*this, reason);
}

// ----------------------------------------------------------- OutgoingLink

OutgoingLink::OutgoingLink(asio::io_context& io, std::string host, uint16_t port,
                           ReplicaId replica, std::shared_ptr<const LinkSecurity> security,
                           ConnectionOwner& owner, RuntimeCounters& counters, QueueLimits limits,
                           std::string name, StateChange on_state)
    : io_(io),
      host_(std::move(host)),
      port_(port),
      replica_(replica),
      security_(std::move(security)),
      owner_(owner),
      counters_(counters),
      limits_(limits),
      name_(std::move(name)),
      on_state_(std::move(on_state)),
      resolver_(io),
      retry_timer_(io) {}

OutgoingLink::~OutgoingLink() {
  *alive_ = false;
  stop();
}

void OutgoingLink::start() { attempt(); }

void OutgoingLink::stop() {
  if (stopped_) return;
  stopped_ = true;
  retry_timer_.cancel();
  resolver_.cancel();
  if (connecting_) {
    std::error_code ignored;
    connecting_->close(ignored);
    connecting_.reset();
  }
  if (connection_) {
    std::shared_ptr<Connection> c = std::move(connection_);
    c->close("shutting down");
  }
}

void OutgoingLink::attempt() {
  if (stopped_) return;
  counters_.connect_attempts++;
  resolver_.async_resolve(
      host_, std::to_string(port_),
      [this, alive = alive_](const std::error_code& ec,
                             asio::ip::tcp::resolver::results_type endpoints) {
        if (!*alive || stopped_) return;
        if (ec) {
          retry_later("cannot resolve " + host_ + ": " + ec.message(), true);
          return;
        }
        auto socket = std::make_shared<asio::ip::tcp::socket>(io_);
        connecting_ = socket;
        asio::async_connect(
            *socket, endpoints,
            [this, alive, socket](const std::error_code& connect_ec, const asio::ip::tcp::endpoint&) {
              if (!*alive || stopped_ || connecting_ != socket) return;
              connecting_.reset();
              if (connect_ec) {
                retry_later(connect_ec.message(), true);
                return;
              }
              // Up once the replica proved itself (on_hello).
              connection_ = std::make_shared<Connection>(std::move(*socket), *this, counters_,
                                                         limits_, security_, replica_,
                                                         handshake_timeout, name_);
              connection_->set_frame_deadline(frame_deadline_base_, frame_bytes_per_second_);
              connection_->start();
            });
      });
}

void OutgoingLink::retry_later(const std::string& reason, bool connect_failed) {
  if (connect_failed) counters_.connect_failures++;
  if (was_up_) {
    was_up_ = false;
    if (on_state_) on_state_(false, reason);
  }
  spdlog::debug("{}: {}; retrying in {} ms", name_, reason, backoff_.count());
  retry_timer_.expires_after(backoff_);
  backoff_ = std::min(backoff_ * 2, backoff_max);
  retry_timer_.async_wait([this, alive = alive_](const std::error_code& ec) {
    if (ec || !*alive || stopped_) return;
    attempt();
  });
}

void OutgoingLink::on_hello(Connection& c, const Hello&) {
  if (connection_.get() != &c) return;
  backoff_ = backoff_min;
  was_up_ = true;
  if (on_state_) on_state_(true, "connected");
}

void OutgoingLink::on_closed(Connection& c, const std::string& reason) {
  owner_.on_closed(c, reason);
  if (connection_.get() != &c) return;
  connection_.reset();
  if (stopped_) return;
  if (was_up_) {
    was_up_ = false;
    if (on_state_) on_state_(false, reason);
  }
  retry_later(reason, false);
}

SendResult OutgoingLink::send(std::shared_ptr<const Bytes> frame) {
  if (!up()) return SendResult::closed;
  return connection_->send(std::move(frame));
}

}  // namespace pbft::runtime
