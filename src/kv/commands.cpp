// Redis commands as one operation of the store (kv.h, OpType::commands;
// docs/design.md, "The RESP gateway"). Each command has Redis 7's semantics
// and error texts, so that a Redis client behaves as it does against Redis;
// where the store differs (limits, no expiry), the error says so and
// docs/operations.md lists it. Deterministic, like the rest of the store:
// the replies depend only on the state and the commands, and every replica
// computes the same bytes.
//
// A request's commands run in order, each in one step; a command either
// does all its writes or none (MSET that a quota stops halfway is undone).
// Replies are bounded (commands_reply_bytes_max in all): a command whose
// reply could be large computes it before it writes, and does not run at
// all if it does not fit what is left (the client sends it again in a new
// request), so a request always runs a prefix of its commands.

#include <algorithm>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pbft/assert.h"
#include "pbft/kv.h"
#include "src/resp/resp.h"

namespace pbft::kv {
namespace {

// Every reply not checked against the room left (+OK, an integer, an
// error) is at most this long, and a command runs only with this much
// room.
constexpr size_t small_reply_max = 512;

std::string_view text(const Bytes& b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

Bytes bytes_of(std::string_view s) { return Bytes(s.begin(), s.end()); }

std::string lower(const Bytes& b) {
  std::string out(text(b));
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool parse_integer(const Bytes& b, int64_t& value) { return resp::parse_integer(text(b), value); }

size_t bulk_size(size_t length) { return length + 16; }  // "$<length>\r\n" + bytes + "\r\n"

}  // namespace

// One request's run of commands over the store (a friend of Store).
class CommandRun {
 public:
  CommandRun(Store& store, ClientId client) : store_(store), client_(client) {}

  OpResult run(const std::vector<Command>& commands) {
    std::string out;
    uint32_t ran = 0;
    for (const Command& command : commands) {
      room_ = commands_reply_bytes_max - out.size();
      if (room_ < small_reply_max) break;
      first_ = ran == 0;
      not_run_ = false;
      reply_.clear();
      undo_.clear();
      dispatch(command);
      if (not_run_) break;
      PBFT_ASSERT(reply_.size() <= room_);
      out += reply_;
      ran++;
    }
    PBFT_ASSERT(ran >= 1 || commands.empty());
    Bytes value;
    value.reserve(4 + out.size());
    for (int shift = 0; shift < 32; shift += 8) value.push_back(static_cast<uint8_t>(ran >> shift));
    value.insert(value.end(), out.begin(), out.end());
    return {Code::ok, std::move(value)};
  }

 private:
  using Handler = void (CommandRun::*)(const Command&);
  struct Spec {
    int arity;  // Redis's: n exactly, or -n at least n (the name counts)
    Handler handler;
  };

  friend bool runs_command(std::string_view name);

  static const std::map<std::string, Spec, std::less<>>& table() {
    static const std::map<std::string, Spec, std::less<>> commands{
        {"get", {2, &CommandRun::get}},
        {"set", {-3, &CommandRun::set}},
        {"setnx", {3, &CommandRun::setnx}},
        {"getset", {3, &CommandRun::getset}},
        {"getdel", {2, &CommandRun::getdel}},
        {"mget", {-2, &CommandRun::mget}},
        {"mset", {-3, &CommandRun::mset}},
        {"msetnx", {-3, &CommandRun::msetnx}},
        {"append", {3, &CommandRun::append}},
        {"strlen", {2, &CommandRun::strlen}},
        {"incr", {2, &CommandRun::incr}},
        {"decr", {2, &CommandRun::decr}},
        {"incrby", {3, &CommandRun::incrby}},
        {"decrby", {3, &CommandRun::decrby}},
        {"del", {-2, &CommandRun::del}},
        {"unlink", {-2, &CommandRun::del}},
        {"exists", {-2, &CommandRun::exists}},
        {"type", {2, &CommandRun::type}},
        {"dbsize", {1, &CommandRun::dbsize}},
    };
    return commands;
  }

  void dispatch(const Command& command) {
    PBFT_ASSERT(!command.empty());
    const std::string name = lower(command[0]);
    const auto& commands = table();
    auto it = commands.find(name);
    if (it == commands.end()) return unknown(command);
    const int arity = it->second.arity;
    const auto argc = static_cast<int64_t>(command.size());
    if ((arity > 0 && argc != arity) || (arity < 0 && argc < -arity)) {
      return error("ERR wrong number of arguments for '" + name + "' command");
    }
    (this->*(it->second.handler))(command);
  }

  // ------------------------------------------------------------ replies

  void error(std::string_view message) { resp::append_error(reply_, message.substr(0, 400)); }
  void ok() { resp::append_simple(reply_, "OK"); }
  void integer(int64_t value) { resp::append_integer(reply_, value); }
  void bulk_or_null(const Bytes* value) {
    if (value == nullptr) return resp::append_null(reply_);
    resp::append_bulk(reply_, text(*value));
  }

  // Whether a reply of `size` bytes fits. When it does not, the command
  // does not run: it is left for the next request, or, when even a request
  // of its own could not hold it, it runs as an error that says so.
  bool room_for(size_t size) {
    if (size <= room_) return true;
    if (first_) {
      error("ERR reply of " + std::to_string(size) + " bytes is over the limit of " +
            std::to_string(commands_reply_bytes_max) + " bytes");
    } else {
      not_run_ = true;
    }
    return false;
  }

  // Redis: "unknown command '<name>', with args beginning with: '<a>' ..."
  // (each part cut at 128 bytes).
  void unknown(const Command& command) {
    std::string args;
    for (size_t i = 1; i < command.size() && args.size() < 128; i++) {
      args += "'" + std::string(text(command[i]).substr(0, 128 - args.size())) + "' ";
    }
    error("ERR unknown command '" + std::string(text(command[0]).substr(0, 128)) +
          "', with args beginning with: " + args);
  }

  void refused(Code code) {
    switch (code) {
      case Code::quota:
        return error("OOM command not allowed when the client's quota is used ([kv] client_bytes_max)");
      case Code::full:
        return error("OOM command not allowed when the store is full ([kv] bytes_max)");
      default:
        return error("ERR key or value over the store's limit (keys " +
                     std::to_string(key_size_max) + " bytes, values " +
                     std::to_string(value_size_max) + " bytes)");
    }
  }

  // ------------------------------------------------------------ writes

  // Writes key = value, remembering what it was so that a command that
  // fails later can undo it. False (and the reply says why) if refused.
  bool put(const Bytes& key, const Bytes& value) {
    remember(key);
    Code why = Code::ok;
    Bytes* slot = store_.write(client_, key, value.size(), why);
    if (slot == nullptr) {
      refused(why);
      return false;
    }
    *slot = value;
    return true;
  }

  bool erase(const Bytes& key) {
    remember(key);
    return store_.erase(key);
  }

  void remember(const Bytes& key) {
    const Store::Bucket& b = store_.bucket(key);
    auto it = b.find(key);
    undo_.emplace_back(key, it == b.end() ? std::nullopt : std::optional<Store::Entry>(it->second));
  }

  // Undoes this command's writes, newest first.
  void undo() {
    for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) store_.restore(it->first, it->second);
    undo_.clear();
  }

  // ------------------------------------------------------------ strings

  void get(const Command& c) {
    const Bytes* value = store_.value_of(c[1]);
    if (!room_for(value == nullptr ? 8 : bulk_size(value->size()))) return;
    bulk_or_null(value);
  }

  // SET key value [NX | XX] [GET] [EX s | PX ms | EXAT t | PXAT t | KEEPTTL]
  void set(const Command& c) {
    bool nx = false, xx = false, with_get = false;
    for (size_t i = 3; i < c.size(); i++) {
      const std::string option = lower(c[i]);
      if (option == "nx" && !xx) {
        nx = true;
      } else if (option == "xx" && !nx) {
        xx = true;
      } else if (option == "get") {
        with_get = true;
      } else if (option == "keepttl") {
        // No key expires here: keeping its time to live changes nothing.
      } else if ((option == "ex" || option == "px" || option == "exat" || option == "pxat") &&
                 i + 1 < c.size()) {
        return error("ERR expiry (EX, PX, EXAT, PXAT) is not supported by this store");
      } else {
        return error("ERR syntax error");
      }
    }
    const Bytes* old = store_.value_of(c[1]);
    if (with_get && !room_for(old == nullptr ? 8 : bulk_size(old->size()))) return;
    std::optional<Bytes> previous = old == nullptr ? std::nullopt : std::optional<Bytes>(*old);
    const bool write = !(nx && previous) && !(xx && !previous);
    if (write && !put(c[1], c[2])) return;
    if (with_get) {
      bulk_or_null(previous ? &*previous : nullptr);
    } else if (write) {
      ok();
    } else {
      resp::append_null(reply_);
    }
  }

  void setnx(const Command& c) {
    if (store_.value_of(c[1]) != nullptr) return integer(0);
    if (put(c[1], c[2])) integer(1);
  }

  void getset(const Command& c) {
    const Bytes* old = store_.value_of(c[1]);
    if (!room_for(old == nullptr ? 8 : bulk_size(old->size()))) return;
    std::optional<Bytes> previous = old == nullptr ? std::nullopt : std::optional<Bytes>(*old);
    if (put(c[1], c[2])) bulk_or_null(previous ? &*previous : nullptr);
  }

  void getdel(const Command& c) {
    const Bytes* old = store_.value_of(c[1]);
    if (!room_for(old == nullptr ? 8 : bulk_size(old->size()))) return;
    bulk_or_null(old);  // written before the key (and the value) goes
    erase(c[1]);
  }

  void mget(const Command& c) {
    size_t size = 16;
    for (size_t i = 1; i < c.size(); i++) {
      const Bytes* value = store_.value_of(c[i]);
      size += value == nullptr ? 8 : bulk_size(value->size());
    }
    if (!room_for(size)) return;
    resp::append_array(reply_, c.size() - 1);
    for (size_t i = 1; i < c.size(); i++) bulk_or_null(store_.value_of(c[i]));
  }

  bool mset_all(const Command& c) {
    for (size_t i = 1; i + 1 < c.size(); i += 2) {
      if (!put(c[i], c[i + 1])) {
        undo();
        return false;
      }
    }
    return true;
  }

  void mset(const Command& c) {
    if (c.size() % 2 == 0) return error("ERR wrong number of arguments for 'mset' command");
    if (mset_all(c)) ok();
  }

  void msetnx(const Command& c) {
    if (c.size() % 2 == 0) return error("ERR wrong number of arguments for 'msetnx' command");
    for (size_t i = 1; i < c.size(); i += 2) {
      if (store_.value_of(c[i]) != nullptr) return integer(0);
    }
    if (mset_all(c)) integer(1);
  }

  void append(const Command& c) {
    const Bytes* old = store_.value_of(c[1]);
    Bytes value = old == nullptr ? Bytes{} : *old;
    if (c[2].size() > value_size_max - std::min(value.size(), value_size_max)) {
      return refused(Code::too_large);
    }
    value.insert(value.end(), c[2].begin(), c[2].end());
    if (put(c[1], value)) integer(static_cast<int64_t>(value.size()));
  }

  void strlen(const Command& c) {
    const Bytes* value = store_.value_of(c[1]);
    integer(value == nullptr ? 0 : static_cast<int64_t>(value->size()));
  }

  // INCR, DECR, INCRBY, DECRBY: Redis's incrDecrCommand.
  void add(const Bytes& key, int64_t increment) {
    int64_t value = 0;
    const Bytes* old = store_.value_of(key);
    if (old != nullptr && !parse_integer(*old, value)) {
      return error("ERR value is not an integer or out of range");
    }
    if ((increment < 0 && value < 0 && increment < std::numeric_limits<int64_t>::min() - value) ||
        (increment > 0 && value > 0 && increment > std::numeric_limits<int64_t>::max() - value)) {
      return error("ERR increment or decrement would overflow");
    }
    value += increment;
    if (put(key, bytes_of(std::to_string(value)))) integer(value);
  }

  void incr(const Command& c) { add(c[1], 1); }
  void decr(const Command& c) { add(c[1], -1); }
  void incrby(const Command& c) {
    int64_t increment = 0;
    if (!parse_integer(c[2], increment)) return error("ERR value is not an integer or out of range");
    add(c[1], increment);
  }
  void decrby(const Command& c) {
    int64_t decrement = 0;
    if (!parse_integer(c[2], decrement)) return error("ERR value is not an integer or out of range");
    if (decrement == std::numeric_limits<int64_t>::min()) {
      return error("ERR decrement would overflow");
    }
    add(c[1], -decrement);
  }

  // ------------------------------------------------------------ keys

  void del(const Command& c) {
    int64_t removed = 0;
    for (size_t i = 1; i < c.size(); i++) removed += erase(c[i]) ? 1 : 0;
    integer(removed);
  }

  void exists(const Command& c) {
    int64_t found = 0;
    for (size_t i = 1; i < c.size(); i++) found += store_.value_of(c[i]) != nullptr ? 1 : 0;
    integer(found);
  }

  void type(const Command& c) {
    resp::append_simple(reply_, store_.value_of(c[1]) != nullptr ? "string" : "none");
  }

  void dbsize(const Command&) { integer(static_cast<int64_t>(store_.size())); }

  Store& store_;
  const ClientId client_;
  std::string reply_;  // the command's reply
  size_t room_ = 0;    // the bytes left for replies in this request
  bool first_ = true;  // the request's first command (it always runs)
  bool not_run_ = false;
  std::vector<std::pair<Bytes, std::optional<Store::Entry>>> undo_;  // this command's writes
};

bool runs_command(std::string_view name) { return CommandRun::table().count(name) != 0; }

OpResult Store::run_commands(ClientId client, const std::vector<Command>& commands) {
  return CommandRun(*this, client).run(commands);
}

}  // namespace pbft::kv
