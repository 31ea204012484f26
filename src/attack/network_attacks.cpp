// The network family: no keys, raw TCP sockets to the replicas' ports.
//
//   junk-flood        connections that write junk as fast as the replica
//                     reads it: after a hello (a listed client's, or a
//                     replica's), frames with valid headers and random
//                     bodies; one connection in eight writes noise from
//                     its first byte;
//   connection-flood  thousands of connections per replica, each after a
//                     client hello, held open;
//   slow-loris        connections that hold a replica's resources with few
//                     bytes: a hello dribbled inside the hello timeout, a
//                     header announcing the largest frame and its body a
//                     byte a second, or a header cut short.
//
// Each connection has a slot (replica, index); when a replica closes it, or
// a connect fails, the slot opens a new one, so that the attack keeps its
// strength whatever the replicas close.
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <deque>
#include <optional>

#include "pbft/assert.h"
#include "pbft/constants.h"
#include "src/attack/campaign.h"
#include "src/attack/junk.h"
#include "src/runtime/connection.h"

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
// A junk connection writes this much at a time.
constexpr size_t junk_write_bytes = 64 * 1024;
// Junk frame bodies are at most this long (longer ones are as cheap to
// refuse per byte, and reserve budget the attacker cannot fill faster).
constexpr size_t junk_body_max = 4 * 1024;

class NetworkCampaign final : public Campaign {
 public:
  explicit NetworkCampaign(Context& context)
      : context_(context),
        options_(context.options),
        mode_(options_.mode),
        junk_(options_.seed),
        hello_timeout_(options_.hello_timeout_ms),
        frame_timeout_(options_.frame_timeout_ms) {
    // The ids its hellos name (with none in the file, id 0: a hello the
    // replicas refuse, which is an attack too).
    for (const auto& [id, key] : options_.cluster.clients) client_ids_.push_back(id);
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
    junk_frames,   // junk-flood: a hello, then frames with random bodies
    noise,         // junk-flood: random bytes from the first one
    hold,          // connection-flood: a hello, then nothing
    loris_body,    // slow-loris: a hello, a maximal header, its body a byte at a time
    loris_header,  // slow-loris: a hello, then a header a byte at a time, cut short
  };

  struct Slot {
    Slot(asio::io_context& io, size_t r, size_t i) : replica(r), index(i), timer(io) {}
    size_t replica;
    size_t index;
    std::unique_ptr<tcp::socket> socket;
    uint64_t generation = 0;  // a handler of an earlier socket does nothing
    bool open = false;
    Script script = Script::hold;
    bool sender_is_replica = false;  // junk_frames: the hello was a replica's
    Bytes out;                       // what the write in progress writes
    // slow-loris: what is left to write a byte at a time (a hello or a
    // header), then how many body bytes (zeros) to write so.
    Bytes dribble;
    uint64_t body_left = 0;
    bool dribbling_hello = false;  // then a header cut short follows
    std::array<uint8_t, 512> in{};
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
    begin_script(slot);
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
        [this, &slot, generation = slot.generation](const std::error_code& ec, size_t) {
          if (stopped_ || generation != slot.generation) return;
          if (ec) return lost(slot);
          counters_.frames_received++;
          read(slot);
        });
  }

  // ------------------------------------------------------------- scripts

  // A hello that a replica takes: a listed client's, or for junk now and
  // then a peer's (a replica id other than the target's), whose frames go
  // the replicas' way (slot.sender_is_replica says which).
  Bytes hello_for(Slot& slot, bool may_be_replica) {
    const uint32_t n = options_.cluster.protocol.n;
    if (may_be_replica && context_.random.chance(0.5)) {
      uint32_t id = static_cast<uint32_t>(context_.random.uniform(n - 1));
      if (id >= slot.replica) id++;
      slot.sender_is_replica = true;
      return runtime::encode_hello(runtime::Hello{runtime::Hello::Kind::replica, id, 1});
    }
    slot.sender_is_replica = false;
    const ClientId id =
        client_ids_.empty() ? 0 : client_ids_[slot.index % client_ids_.size()];
    return runtime::encode_hello(runtime::Hello{runtime::Hello::Kind::client, id, 1});
  }

  void begin_script(Slot& slot) {
    switch (mode_) {
      case Mode::junk_flood:
        if (context_.random.chance(1.0 / 8)) {
          slot.script = Script::noise;
          slot.out.clear();
        } else {
          slot.script = Script::junk_frames;
          slot.out = hello_for(slot, true);
          counters_.frames_sent++;
        }
        fill_junk(slot);
        return write(slot);
      case Mode::connection_flood:
        slot.script = Script::hold;
        slot.out = hello_for(slot, false);
        counters_.frames_sent++;
        return write(slot);
      case Mode::slow_loris: {
        // A third dribble their hello just inside the hello timeout, then
        // hold a header cut short; a third send the hello, then the
        // largest frame's header and its body a byte at a time; a third
        // the hello, then a header cut short, a byte at a time.
        const size_t kind = slot.index % 3;
        slot.script = kind == 1 ? Script::loris_body : Script::loris_header;
        const Bytes hello = hello_for(slot, false);
        counters_.frames_sent++;
        slot.dribble.clear();
        slot.body_left = 0;
        slot.dribbling_hello = kind == 0;
        if (slot.dribbling_hello) {
          slot.dribble = hello;
          slot.out.clear();
          return schedule_dribble(slot, dribble_hello_period());
        }
        slot.out = hello;
        if (slot.script == Script::loris_body) {
          // The largest body a frame may announce (a VIEW-CHANGE's): its
          // bytes are reserved while it lasts, and a byte a period keeps
          // it going until the frame timeout.
          const uint32_t body = body_range(MessageType::view_change).second;
          const Bytes header = frame_header(MessageType::view_change, 0, body);
          slot.out.insert(slot.out.end(), header.begin(), header.end());
          counters_.frames_sent++;
          slot.body_left = body - 1;  // never all of it
        } else {
          slot.dribble = cut_short_header();
        }
        write(slot);
        return schedule_dribble(slot, trickle_period());
      }
      default: PBFT_ASSERT(false);
    }
  }

  // Writes slot.out; for junk, then the next chunk.
  void write(Slot& slot) {
    counters_.bytes_sent += slot.out.size();
    asio::async_write(*slot.socket, asio::buffer(slot.out),
                      [this, &slot, generation = slot.generation](const std::error_code& ec,
                                                                  size_t) {
                        if (stopped_ || generation != slot.generation) return;
                        if (ec) return lost(slot);
                        if (slot.script == Script::junk_frames || slot.script == Script::noise) {
                          slot.out.clear();
                          fill_junk(slot);
                          write(slot);
                        }
                      });
  }

  // The next junk_write_bytes of junk: frames with valid headers from a
  // sender the hello's kind suits, or noise.
  void fill_junk(Slot& slot) {
    if (slot.script == Script::noise) {
      junk_.noise(context_.random, junk_write_bytes, slot.out);
      counters_.frames_sent++;
      return;
    }
    const uint32_t n = options_.cluster.protocol.n;
    while (slot.out.size() < junk_write_bytes) {
      MessageType type;
      uint32_t sender;
      if (slot.sender_is_replica) {
        // What replicas send each other, in a peer's name.
        static constexpr MessageType replica_types[] = {
            MessageType::pre_prepare, MessageType::prepare,     MessageType::commit,
            MessageType::checkpoint,  MessageType::view_change, MessageType::new_view,
            MessageType::status,      MessageType::fetch,       MessageType::fetch_reply};
        type = replica_types[context_.random.uniform(std::size(replica_types))];
        sender = static_cast<uint32_t>(context_.random.uniform(n));
      } else {
        type = MessageType::request;
        sender = client_ids_.empty()
                     ? 0
                     : client_ids_[context_.random.uniform(client_ids_.size())];
      }
      const Bytes frame = junk_.frame(context_.random, type, sender, junk_body_max);
      slot.out.insert(slot.out.end(), frame.begin(), frame.end());
      counters_.frames_sent++;
    }
  }

  // The hello's bytes, spread over 3/4 of the hello timeout.
  milliseconds dribble_hello_period() const {
    return milliseconds(std::max<int64_t>(1, hello_timeout_.count() * 3 / 4 /
                                                 static_cast<int64_t>(runtime::hello_size)));
  }
  // A byte a second, or faster if the frame timeout is short: inside it
  // either way (the replicas' timeout runs from the header, so a frame
  // whose body never ends is closed at it, and its slot opens again).
  milliseconds trickle_period() const {
    return std::clamp(frame_timeout_ / 4, milliseconds(1), milliseconds(1000));
  }
  // A request's header but its last byte: a replica waits for the rest.
  static Bytes cut_short_header() {
    Bytes header = frame_header(MessageType::request, 0, 64);
    header.pop_back();
    return header;
  }

  void schedule_dribble(Slot& slot, milliseconds period) {
    if (slot.dribble.empty() && slot.body_left == 0) return;
    slot.timer.expires_after(period);
    slot.timer.async_wait(
        [this, &slot, period, generation = slot.generation](const std::error_code& ec) {
          if (ec || stopped_ || generation != slot.generation) return;
          dribble_one(slot, period);
        });
  }

  // One more byte of what the slot dribbles. A hello dribbled to its end
  // goes on with a header cut short.
  void dribble_one(Slot& slot, milliseconds period) {
    uint8_t byte = 0;
    if (!slot.dribble.empty()) {
      byte = slot.dribble.front();
      slot.dribble.erase(slot.dribble.begin());
    } else {
      slot.body_left--;
    }
    auto buffer = std::make_shared<uint8_t>(byte);
    counters_.bytes_sent++;
    asio::async_write(*slot.socket, asio::buffer(buffer.get(), 1),
                      [this, &slot, buffer, generation = slot.generation](
                          const std::error_code& ec, size_t) {
                        if (stopped_ || generation != slot.generation) return;
                        if (ec) lost(slot);
                      });
    if (slot.dribbling_hello && slot.dribble.empty()) {
      slot.dribbling_hello = false;
      slot.dribble = cut_short_header();
      return schedule_dribble(slot, trickle_period());
    }
    schedule_dribble(slot, period);
  }

  Context& context_;
  const AttackOptions& options_;
  const Mode mode_;
  JunkMaker junk_;
  const milliseconds hello_timeout_;
  const milliseconds frame_timeout_;
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
