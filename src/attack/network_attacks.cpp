// The network family: an outsider, with no key of the cluster's, on raw TCP
// sockets to the replicas' ports. Links are authenticated (docs/design.md,
// "Links"): all it can reach is the TLS handshake, the greeting and the
// hello, and a hello it cannot sign.
//
//   junk-flood        connections that run the TLS handshake (with a key of
//                     the attacker's own) and the greeting, then send a
//                     hello naming a listed client or a replica with random
//                     signatures; one connection in eight writes noise from
//                     its first byte;
//   connection-flood  thousands of connections per replica, each through
//                     the TLS handshake and the greeting, then silent;
//   slow-loris        connections that send their greeting and hello a byte
//                     at a time, spread over 3/4 of the hello timeout.
//
// Each connection has a slot (replica, index); when a replica closes it, or
// a connect fails, the slot opens a new one, so that the attack keeps its
// strength whatever the replicas close. Its sockets come from
// options.source_address when one is given (another host, on one machine).
#include <fmt/format.h>
#include <sodium.h>
#include <sys/resource.h>

#include <algorithm>
#include <deque>
#include <optional>

#include "pbft/assert.h"
#include "pbft/constants.h"
#include "src/attack/campaign.h"
#include "src/attack/junk.h"
#include "src/runtime/connection.h"
#include "src/runtime/link_channel.h"
#include "src/runtime/link_hello.h"

namespace pbft::attack {

namespace {

using std::chrono::milliseconds;
using tcp = asio::ip::tcp;

// Descriptors the process may use, raised to the hard limit: a flood holds
// thousands of sockets.
uint64_t descriptor_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1024;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    getrlimit(RLIMIT_NOFILE, &limit);
  }
  return limit.rlim_cur;
}

uint32_t default_connections(Mode mode) {
  switch (mode) {
    case Mode::junk_flood: return 8;
    case Mode::connection_flood: return 2000;
    case Mode::slow_loris: return 64;
    default: PBFT_ASSERT(false); return 0;
  }
}

// Connects at most this many sockets at once per replica (a burst of
// thousands of SYNs would overflow the listener's backlog, and the failed
// connects would then only cost the attacker).
constexpr size_t connects_in_flight_max = 32;
// A noise connection writes this much, then waits to be closed.
constexpr size_t junk_noise_bytes = 4 * 1024;

class NetworkCampaign final : public Campaign {
 public:
  explicit NetworkCampaign(Context& context)
      : context_(context),
        options_(context.options),
        mode_(options_.mode),
        junk_(options_.seed),
        hello_timeout_(options_.hello_timeout_ms),
        encryption_(static_cast<runtime::Encryption>(options_.cluster.encryption)) {
    // The ids its hellos name (with none in the file, id 0).
    for (const auto& [id, key] : options_.cluster.clients) client_ids_.push_back(id);
    if (encryption_ == runtime::Encryption::tls) {
      // A key of its own: the handshake completes, and the hello fails.
      PublicKey public_key{};
      SecretKey secret_key{};
      crypto_sign_keypair(public_key.data(), secret_key.data());
      auto made = runtime::TlsContext::make(secret_key, "attacker");
      PBFT_ASSERT(static_cast<bool>(made));
      tls_context_ = std::move(made).value();
    }
    if (!options_.source_address.empty()) {
      std::error_code ec;
      source_ = asio::ip::make_address(options_.source_address, ec);
      if (ec) source_.reset();  // checked by the command line; the system's choice then
    }
  }

  void start() override {
    const uint32_t n = options_.cluster.protocol.n;
    uint64_t per_replica = options_.connections_per_replica != 0
                               ? options_.connections_per_replica
                               : default_connections(mode_);
    // Leave room for the process's other descriptors.
    const uint64_t limit = descriptor_limit();
    per_replica = std::min<uint64_t>(per_replica, limit > 256 ? (limit - 128) / n : 1);
    endpoints_.resize(n);
    waiting_.resize(n);
    in_flight_.assign(n, 0);
    for (ReplicaId r = 0; r < n; r++) {
      const ReplicaEndpoint& e = options_.cluster.replicas[r];
      std::error_code ec;
      tcp::resolver resolver(context_.io);
      auto results = resolver.resolve(e.host, std::to_string(e.port), ec);
      if (ec || results.empty()) continue;  // a replica it cannot find is left alone
      endpoints_[r] = *results.begin();
    }
    for (ReplicaId r = 0; r < n; r++) {
      if (!endpoints_[r]) continue;
      for (uint64_t k = 0; k < per_replica; k++) {
        slots_.push_back(std::make_unique<Slot>(context_.io, r, slots_.size()));
        waiting_[r].push_back(slots_.back().get());
      }
      connect_more(r);
    }
  }

  void stop() override {
    stopped_ = true;
    for (auto& slot : slots_) close_socket(*slot);
  }

  AttackCounters counters() const override { return counters_; }

 private:
  enum class Script : uint8_t {
    bad_hello,  // junk-flood: the greeting, then a hello with random signatures
    noise,      // junk-flood: random bytes from the first one
    hold,       // connection-flood: the greeting, then nothing
    loris,      // slow-loris: the greeting and a hello, a byte at a time
  };

  struct Slot {
    Slot(asio::io_context& io, size_t r, size_t i) : replica(r), index(i), timer(io) {}
    size_t replica;
    size_t index;
    std::unique_ptr<tcp::socket> socket;
    uint64_t generation = 0;  // a handler of an earlier socket does nothing
    bool open = false;
    Script script = Script::hold;
    // With encryption tls: the TLS session, over the socket's bytes.
    std::unique_ptr<runtime::Channel> tls;
    bool scripted = false;  // the script began (after the TLS handshake)
    // Bytes for the socket, written one after another.
    std::deque<Bytes> queue;
    bool writing = false;
    // slow-loris: what is left to send a byte at a time.
    Bytes dribble;
    std::array<uint8_t, 4096> in{};
    asio::steady_timer timer;
  };

  // ---------------------------------------------------------- connecting

  void connect_more(size_t r) {
    while (!stopped_ && in_flight_[r] < connects_in_flight_max && !waiting_[r].empty()) {
      Slot* slot = waiting_[r].front();
      waiting_[r].pop_front();
      connect(*slot);
    }
  }

  void connect(Slot& slot) {
    in_flight_[slot.replica]++;
    counters_.connect_attempts++;
    slot.generation++;
    slot.socket = std::make_unique<tcp::socket>(context_.io);
    slot.tls.reset();
    slot.scripted = false;
    slot.queue.clear();
    slot.writing = false;
    slot.dribble.clear();
    if (source_) {
      // Another host's address: open and bind before the connect.
      std::error_code ec;
      const tcp::endpoint& to = *endpoints_[slot.replica];
      slot.socket->open(to.protocol(), ec);
      if (!ec) slot.socket->bind(tcp::endpoint(*source_, 0), ec);
      if (ec) {
        in_flight_[slot.replica]--;
        counters_.connections_closed++;
        return reopen_later(slot, milliseconds(100));
      }
    }
    slot.socket->async_connect(
        *endpoints_[slot.replica],
        [this, &slot, generation = slot.generation](const std::error_code& ec) {
          if (stopped_ || generation != slot.generation) return;
          in_flight_[slot.replica]--;
          if (ec) {
            counters_.connections_closed++;
            reopen_later(slot, milliseconds(10));
          } else {
            opened(slot);
          }
          connect_more(slot.replica);
        });
  }

  void opened(Slot& slot) {
    slot.open = true;
    counters_.connections_opened++;
    counters_.connections_open++;
    raise(counters_.connections_open_max, counters_.connections_open);
    std::error_code ignored;
    slot.socket->set_option(tcp::no_delay(true), ignored);
    read(slot);
    choose_script(slot);
    if (slot.script == Script::noise || encryption_ != runtime::Encryption::tls) {
      return begin_script(slot);
    }
    auto channel = runtime::Channel::tls(*tls_context_, false);
    if (!channel) return lost(slot);
    slot.tls = std::move(channel).value();
    drive_handshake(slot);
  }

  // Steps the TLS handshake with what was read; the script begins once it
  // is done.
  void drive_handshake(Slot& slot) {
    Result<bool> done = slot.tls->handshake();
    flush_tls(slot);
    if (!done) return lost(slot);
    if (done.value()) begin_script(slot);
  }

  void flush_tls(Slot& slot) {
    if (slot.tls->has_output()) write_raw(slot, slot.tls->take_output());
  }

  // The replica closed the socket (or it failed): open another.
  void lost(Slot& slot) {
    if (!slot.open) return;
    close_socket(slot);
    counters_.connections_closed++;
    reopen_later(slot, milliseconds(0));
  }

  void close_socket(Slot& slot) {
    slot.generation++;  // every handler of this socket is now stale
    slot.timer.cancel();
    if (slot.open) counters_.connections_open--;
    slot.open = false;
    if (slot.socket) {
      std::error_code ignored;
      slot.socket->close(ignored);
    }
  }

  void reopen_later(Slot& slot, milliseconds after) {
    if (stopped_) return;
    if (after.count() == 0) {
      waiting_[slot.replica].push_back(&slot);
      asio::post(context_.io, [this, r = slot.replica] {
        if (!stopped_) connect_more(r);
      });
      return;
    }
    slot.timer.expires_after(after);
    slot.timer.async_wait([this, &slot, generation = slot.generation](const std::error_code& ec) {
      if (ec || stopped_ || generation != slot.generation) return;
      waiting_[slot.replica].push_back(&slot);
      connect_more(slot.replica);
    });
  }

  // Reads whatever the replica sends (nothing, mostly), to learn of a close.
  void read(Slot& slot) {
    slot.socket->async_read_some(
        asio::buffer(slot.in),
        [this, &slot, generation = slot.generation](const std::error_code& ec, size_t n) {
          if (stopped_ || generation != slot.generation) return;
          if (ec) return lost(slot);
          if (slot.tls) {
            slot.tls->feed(ByteView(slot.in.data(), n));
            if (!slot.tls->established()) {
              drive_handshake(slot);
              if (generation != slot.generation) return;
            } else {
              // Whatever the replica says (its greeting) is of no use.
              for (;;) {
                Result<size_t> got = slot.tls->read(slot.in.data(), slot.in.size());
                if (!got) return lost(slot);
                if (got.value() == 0) break;
              }
              flush_tls(slot);
            }
          }
          counters_.frames_received++;
          read(slot);
        });
  }

  // ------------------------------------------------------------- scripts

  // A greeting in the cluster's encryption with a fresh nonce, then a
  // hello naming a listed client (or, for junk now and then, a replica
  // other than the target) whose signature is random: all an outsider can
  // send.
  Bytes greeting_and_hello(const Slot& slot) {
    Bytes out = runtime::encode_greeting(runtime::Greeting{encryption_, runtime::fresh_nonce()});
    runtime::SignedHello hello;
    const uint32_t n = options_.cluster.protocol.n;
    if (mode_ == Mode::junk_flood && context_.random.chance(0.5)) {
      uint32_t id = static_cast<uint32_t>(context_.random.uniform(n - 1));
      if (id >= slot.replica) id++;
      hello.hello = runtime::Hello{runtime::Hello::Kind::replica, id, 1};
    } else {
      const ClientId id = client_ids_.empty() ? 0 : client_ids_[slot.index % client_ids_.size()];
      hello.hello = runtime::Hello{runtime::Hello::Kind::client, id, 1};
    }
    Signature signature{};
    randombytes_buf(signature.data(), signature.size());
    hello.signatures.push_back(signature);
    const Bytes encoded = runtime::encode_hello(hello);
    out.insert(out.end(), encoded.begin(), encoded.end());
    return out;
  }

  void choose_script(Slot& slot) {
    switch (mode_) {
      case Mode::junk_flood:
        slot.script = context_.random.chance(1.0 / 8) ? Script::noise : Script::bad_hello;
        return;
      case Mode::connection_flood: slot.script = Script::hold; return;
      case Mode::slow_loris: slot.script = Script::loris; return;
      default: PBFT_ASSERT(false);
    }
  }

  void begin_script(Slot& slot) {
    if (slot.scripted) return;
    slot.scripted = true;
    switch (slot.script) {
      case Script::noise: {
        Bytes noise;
        junk_.noise(context_.random, junk_noise_bytes, noise);
        counters_.frames_sent++;
        return write_raw(slot, std::move(noise));
      }
      case Script::bad_hello:
        counters_.frames_sent += 2;
        return send(slot, greeting_and_hello(slot));
      case Script::hold:
        counters_.frames_sent++;
        return send(slot, runtime::encode_greeting(
                              runtime::Greeting{encryption_, runtime::fresh_nonce()}));
      case Script::loris:
        counters_.frames_sent += 2;
        slot.dribble = greeting_and_hello(slot);
        return schedule_dribble(slot);
    }
  }

  // Plaintext of the link: sealed first with TLS.
  void send(Slot& slot, Bytes plaintext) {
    if (!slot.tls) return write_raw(slot, std::move(plaintext));
    if (!slot.tls->write(plaintext)) return lost(slot);
    flush_tls(slot);
  }

  void write_raw(Slot& slot, Bytes bytes) {
    if (bytes.empty()) return;
    counters_.bytes_sent += bytes.size();
    slot.queue.push_back(std::move(bytes));
    if (!slot.writing) write_next(slot);
  }

  void write_next(Slot& slot) {
    if (slot.queue.empty()) {
      slot.writing = false;
      return;
    }
    slot.writing = true;
    asio::async_write(*slot.socket, asio::buffer(slot.queue.front()),
                      [this, &slot, generation = slot.generation](const std::error_code& ec,
                                                                  size_t) {
                        if (stopped_ || generation != slot.generation) return;
                        if (ec) return lost(slot);
                        slot.queue.pop_front();
                        write_next(slot);
                      });
  }

  // slow-loris: the greeting and hello spread over 3/4 of the hello
  // timeout, a byte at a time (a TLS record each, with TLS).
  milliseconds dribble_period() const {
    const size_t bytes = runtime::greeting_size + runtime::hello_header_size + signature_size;
    return milliseconds(
        std::max<int64_t>(1, hello_timeout_.count() * 3 / 4 / static_cast<int64_t>(bytes)));
  }

  void schedule_dribble(Slot& slot) {
    if (slot.dribble.empty()) return;
    slot.timer.expires_after(dribble_period());
    slot.timer.async_wait([this, &slot, generation = slot.generation](const std::error_code& ec) {
      if (ec || stopped_ || generation != slot.generation) return;
      send(slot, Bytes{slot.dribble.front()});
      if (generation != slot.generation) return;
      slot.dribble.erase(slot.dribble.begin());
      schedule_dribble(slot);
    });
  }

  Context& context_;
  const AttackOptions& options_;
  const Mode mode_;
  JunkMaker junk_;
  const milliseconds hello_timeout_;
  const runtime::Encryption encryption_;
  std::shared_ptr<runtime::TlsContext> tls_context_;  // with encryption tls
  std::optional<asio::ip::address> source_;
  std::vector<ClientId> client_ids_;
  std::vector<std::optional<tcp::endpoint>> endpoints_;  // index: replica
  std::vector<std::deque<Slot*>> waiting_;          // slots to connect, per replica
  std::vector<size_t> in_flight_;                   // connects in progress, per replica
  std::vector<std::unique_ptr<Slot>> slots_;
  bool stopped_ = false;
  AttackCounters counters_;
};

}  // namespace

std::unique_ptr<Campaign> make_network_campaign(Context& context) {
  return std::make_unique<NetworkCampaign>(context);
}

}  // namespace pbft::attack
