#include "src/runtime/connection.h"

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

void store_le32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = static_cast<uint8_t>(v >> (8 * i));
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

Bytes encode_hello(const Hello& hello) {
  Bytes b(hello_size, 0);
  store_le32(b.data(), hello_magic);
  b[4] = hello_version;
  b[5] = static_cast<uint8_t>(hello.kind);
  b[6] = static_cast<uint8_t>(hello.count);
  b[7] = static_cast<uint8_t>(hello.count >> 8);
  store_le32(b.data() + 8, hello.id);
  return b;
}

Result<Hello> decode_hello(ByteView bytes) {
  if (bytes.size() != hello_size) return Status::error("hello: wrong size");
  if (load_le32(bytes.data()) != hello_magic) return Status::error("hello: bad magic");
  if (bytes[4] != hello_version) {
    return Status::error("hello: unsupported version " + std::to_string(bytes[4]));
  }
  if (bytes[5] > static_cast<uint8_t>(Hello::Kind::client)) {
    return Status::error("hello: unknown kind " + std::to_string(bytes[5]));
  }
  const auto kind = static_cast<Hello::Kind>(bytes[5]);
  const uint16_t count = static_cast<uint16_t>(bytes[6] | bytes[7] << 8);
  const uint32_t id = load_le32(bytes.data() + 8);
  if (kind == Hello::Kind::replica && count > 1) {
    return Status::error("hello: a replica speaks for itself only");
  }
  if (count > constants::client_group_max) {
    return Status::error("hello: a group of " + std::to_string(count) + " clients is over " +
                         std::to_string(constants::client_group_max));
  }
  return Hello{kind, id, std::max<uint16_t>(count, 1)};
}

// ------------------------------------------------------------ Connection

Connection::Connection(asio::ip::tcp::socket socket, ConnectionOwner& owner,
                       RuntimeCounters& counters, QueueLimits limits, bool expect_hello,
                       std::chrono::milliseconds hello_timeout, std::string name)
    : socket_(std::move(socket)),
      timer_(socket_.get_executor()),
      frame_timer_(socket_.get_executor()),
      owner_(owner),
      counters_(counters),
      limits_(limits),
      expect_hello_(expect_hello),
      hello_timeout_(hello_timeout),
      last_frame_at_(std::chrono::steady_clock::now()),
      name_(std::move(name)),
      remote_address_(describe_endpoint(socket_)),
      serial_(next_serial++) {
  accepted_at = last_frame_at_;
  std::error_code ignored;
  socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
}

void Connection::start(const std::optional<Hello>& own_hello) {
  if (own_hello) {
    // The hello goes first, whatever the queue limits say.
    auto bytes = std::make_shared<const Bytes>(encode_hello(*own_hello));
    queued_bytes_ += bytes->size();
    queue_.push_back(std::move(bytes));
    write_next();
  }
  if (expect_hello_) {
    arm_timer(hello_timeout_);
  } else {
    hello_done_ = true;
  }
  in_.resize(read_buffer_size);
  read_some();
}

void Connection::arm_timer(std::chrono::milliseconds after) {
  timer_.expires_after(after);
  timer_.async_wait([self = shared_from_this()](const std::error_code& ec) {
    if (ec || !self->open_) return;
    self->on_timer();
  });
}

void Connection::on_timer() {
  if (!hello_done_) {
    counters_.hello_timeouts++;
    close("no hello within " + std::to_string(hello_timeout_.count()) + " ms");
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

void Connection::parse() {
  std::shared_ptr<Connection> self = shared_from_this();  // the owner may drop its reference
  while (open_ && !paused_) {
    const size_t available = in_end_ - in_begin_;
    const uint8_t* at = in_.data() + in_begin_;
    if (!hello_done_) {
      if (available < hello_size) break;
      Result<Hello> received = decode_hello(ByteView(at, hello_size));
      in_begin_ += hello_size;
      if (!received) {
        counters_.hello_rejected++;
        close(received.reason());
        return;
      }
      hello_done_ = true;
      timer_.cancel();
      last_frame_at_ = std::chrono::steady_clock::now();
      owner_.on_hello(*this, *received);
      continue;
    }
    if (available < constants::header_size) break;
    const uint64_t body = load_le32(at + 12);
    const size_t total = constants::header_size + static_cast<size_t>(body);
    if (reserved_ == 0) {
      // The length first: a frame over the limit is refused before
      // anything is allocated for it.
      if (constants::header_size + body > constants::frame_size_max) {
        counters_.frames_oversized++;
        close("frame of " + std::to_string(constants::header_size + body) +
              " bytes is over the limit of " + std::to_string(constants::frame_size_max));
        return;
      }
      if (Result<wire::Header> h = wire::decode_header(ByteView(at, constants::header_size)); !h) {
        counters_.frames_bad_header++;
        close(h.reason());
        return;
      }
      if (!owner_.reserve(*this, total)) {
        counters_.read_pauses++;
        paused_ = true;
        return;  // resume() parses again
      }
      reserved_ = total;
      frames_started_++;
    }
    if (available < total) {
      // Wait for the rest, with room for all of it and a time limit.
      if (in_.size() - in_begin_ < total) {
        compact();
        if (in_.size() < total) in_.resize(total);
      }
      arm_frame_timer();
      break;
    }
    Bytes frame(at, at + total);
    in_begin_ += total;
    frame_timer_armed_for_ = 0;
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
  if (in_.size() > read_buffer_size && reserved_ == 0 &&
      in_end_ - in_begin_ <= read_buffer_size) {
    compact();
    in_.resize(read_buffer_size);
    in_.shrink_to_fit();
  }
  read_some();
}

void Connection::arm_frame_timer() {
  if (frame_timeout_.count() == 0 || frame_timer_armed_for_ == frames_started_) return;
  frame_timer_armed_for_ = frames_started_;
  frame_timer_.expires_after(frame_timeout_);
  frame_timer_.async_wait(
      [self = shared_from_this(), frame = frames_started_](const std::error_code& ec) {
        if (ec || !self->open_ || self->reserved_ == 0 || self->frames_started_ != frame) return;
        self->counters_.frame_timeouts++;
        self->close("a frame's body did not arrive within " +
                    std::to_string(self->frame_timeout_.count()) + " ms");
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
  if (!open_) return SendResult::closed;
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
  if (queue_.empty() || !open_) {
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
  in_ = Bytes();
  in_begin_ = in_end_ = 0;
  // Keep this object alive through the owner's bookkeeping.
  std::shared_ptr<Connection> self = shared_from_this();
  owner_.on_closed(*this, reason);
}

// ----------------------------------------------------------- OutgoingLink

OutgoingLink::OutgoingLink(asio::io_context& io, std::string host, uint16_t port, Hello hello,
                           ConnectionOwner& owner, RuntimeCounters& counters, QueueLimits limits,
                           std::string name, StateChange on_state)
    : io_(io),
      host_(std::move(host)),
      port_(port),
      hello_(hello),
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
              backoff_ = backoff_min;
              connection_ = std::make_shared<Connection>(std::move(*socket), *this, counters_,
                                                         limits_, false,
                                                         std::chrono::milliseconds(0), name_);
              connection_->start(hello_);
              was_up_ = true;
              if (on_state_) on_state_(true, "connected");
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
