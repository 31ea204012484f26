// The RESP gateway (contract: gateway.h).

#include "src/gateway/gateway.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <deque>
#include <map>
#include <optional>
#include <thread>
#include <unordered_map>

#include "pbft/assert.h"
#include "pbft/constants.h"
#include "pbft/kv.h"
#include "src/runtime/asio.h"

namespace pbft::gateway {

using asio::ip::tcp;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// The commands the gateway answers itself: they change no replicated state.
bool is_local(const std::string& name) {
  static const char* const local[] = {"ping",   "echo",    "select", "quit",  "hello",
                                      "client", "command", "info",   "config"};
  return std::any_of(std::begin(local), std::end(local), [&](const char* l) { return name == l; });
}

// Redis's texts for the errors the gateway itself gives.
std::string wrong_arity(const std::string& name) {
  return "ERR wrong number of arguments for '" + name + "' command";
}

std::string unknown_command(const resp::Args& args) {
  std::string rest;
  for (size_t i = 1; i < args.size() && rest.size() < 128; i++) {
    rest += "'" + args[i].substr(0, 128 - rest.size()) + "' ";
  }
  return "ERR unknown command '" + args[0].substr(0, 128) + "', with args beginning with: " + rest;
}

// The encoded size of a command in a commands operation (kv.h).
size_t encoded_size(const resp::Args& args) {
  size_t size = 4;
  for (const std::string& a : args) size += 4 + a.size();
  return size;
}

size_t args_bytes(const resp::Args& args) {
  size_t size = resp::Limits::arg_overhead;
  for (const std::string& a : args) size += a.size() + resp::Limits::arg_overhead;
  return size;
}

}  // namespace

class Connection;

struct Gateway::Impl {
  Impl(const ClusterConfig& c, GatewayOptions o)
      : cluster(c), options(std::move(o)), work(asio::make_work_guard(io)), acceptor(io),
        accept_retry(io) {}

  void accept();
  // Sessions: a free one for `conn` now, or null (it waits, and gets one
  // by on_session when one comes back).
  std::optional<size_t> acquire(const std::shared_ptr<Connection>& conn);
  void release(size_t session);
  void forget(uint64_t id) { connections.erase(id); }

  ClusterConfig cluster;
  GatewayOptions options;
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  tcp::acceptor acceptor;
  asio::steady_timer accept_retry;  // after an accept that failed
  std::thread thread;
  std::unique_ptr<runtime::ClientPool> pool;
  std::vector<size_t> free_sessions;
  std::deque<std::weak_ptr<Connection>> waiting;  // for a session, in order
  std::unordered_map<uint64_t, std::shared_ptr<Connection>> connections;
  uint64_t next_id = 1;
  View view = 0;  // the latest the sessions saw
  uint16_t port = 0;
  std::atomic<bool> stopped{false};
  // Written on the gateway's thread, read anywhere.
  std::atomic<uint64_t> accepted{0}, refused{0}, commands{0}, requests{0}, timeouts{0},
      protocol_errors{0};
};

// One client connection: reads and parses, answers in order, at most one
// request to the cluster in flight.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Gateway::Impl& gw, tcp::socket socket, uint64_t id)
      : gw_(gw), socket_(std::move(socket)), id_(id), parser_(gw.options.limits),
        request_timer_(gw.io), partial_timer_(gw.io) {
    asio::error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);
    const tcp::endpoint peer = socket_.remote_endpoint(ignored);
    address_ = peer.address().to_string() + ":" + std::to_string(peer.port());
  }

  void start() { maybe_read(); }

  // The session this connection waited for.
  void on_session(size_t session) {
    if (closed_) return gw_.release(session);
    waiting_ = false;
    send_request(session);
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    asio::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    request_timer_.cancel();
    partial_timer_.cancel();
    gw_.forget(id_);  // the last owner may be this call's caller: nothing after
  }

 private:
  // ------------------------------------------------------------ reading

  bool may_read() const {
    return !closed_ && !closing_ && pending_.size() < gw_.options.pipeline_commands_max &&
           pending_bytes_ < gw_.options.pipeline_bytes_max &&
           out_.size() + writing_.size() < gw_.options.output_bytes_max;
  }

  void maybe_read() {
    if (reading_ || !may_read()) return;
    reading_ = true;
    socket_.async_read_some(asio::buffer(buffer_),
                            [self = shared_from_this()](const asio::error_code& ec, size_t n) {
                              self->reading_ = false;
                              if (ec || self->closed_) return self->close();
                              self->in_.append(self->buffer_.data(), n);
                              self->parse();
                              self->pump();
                              self->write();
                              self->maybe_read();
                            });
  }

  void parse() {
    while (!closing_ && pending_.size() < gw_.options.pipeline_commands_max) {
      resp::Parsed p = parser_.next(std::string_view(in_).substr(in_at_));
      if (p.kind == resp::Parsed::Kind::incomplete) break;
      if (p.kind == resp::Parsed::Kind::error) {
        gw_.protocol_errors++;
        // Redis answers a protocol error and closes, after the answers to
        // the commands before it.
        protocol_error_ = "ERR " + p.error;
        closing_ = true;
        break;
      }
      in_at_ += p.consumed;
      if (p.kind == resp::Parsed::Kind::command) {
        pending_bytes_ += args_bytes(p.args);
        pending_.push_back(std::move(p.args));
      }
    }
    // Drop what was parsed; keep only a command in progress.
    if (in_at_ > 0 && (in_at_ == in_.size() || in_at_ > in_.size() / 2)) {
      in_.erase(0, in_at_);
      in_at_ = 0;
    }
    // A command begun and not finished: it has so long to arrive.
    if (in_.size() > in_at_ && !partial_timer_armed_) {
      partial_timer_armed_ = true;
      partial_timer_.expires_after(gw_.options.timeout);
      partial_timer_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
        self->partial_timer_armed_ = false;
        if (ec || self->closed_) return;
        if (self->in_.size() > self->in_at_) self->close();  // still half a command
      });
    } else if (in_.size() == in_at_ && partial_timer_armed_) {
      partial_timer_.cancel();
    }
  }

  // ------------------------------------------------------------ answering

  // Answers what can be answered in order: local commands at once, the
  // others as one request (while none is in flight).
  void pump() {
    while (!in_flight_ && !waiting_ && !closed_ && !pending_.empty()) {
      const std::string name = lower(pending_.front()[0]);
      if (is_local(name)) {
        answer_local(name, pending_.front());
        pop(1);
        if (quit_) {
          closing_ = true;
          pending_.clear();
          pending_bytes_ = 0;
          break;
        }
        continue;
      }
      if (!kv::runs_command(name)) {
        resp::append_error(out_, unknown_command(pending_.front()));
        pop(1);
        continue;
      }
      if (encoded_size(pending_.front()) + 5 > constants::operation_size_max) {
        resp::append_error(out_, "ERR command of " +
                                     std::to_string(encoded_size(pending_.front())) +
                                     " bytes is over the cluster's limit of " +
                                     std::to_string(constants::operation_size_max - 5) + " bytes");
        pop(1);
        continue;
      }
      std::optional<size_t> session = gw_.acquire(shared_from_this());
      if (!session) {
        waiting_ = true;
        break;
      }
      send_request(*session);
    }
    if (!in_flight_ && !waiting_ && closing_ && !protocol_error_.empty()) {
      resp::append_error(out_, protocol_error_);
      protocol_error_.clear();
    }
  }

  void pop(size_t count) {
    for (size_t i = 0; i < count; i++) {
      pending_bytes_ -= args_bytes(pending_.front());
      pending_.pop_front();
      gw_.commands++;
    }
  }

  void send_request(size_t session) {
    kv::Op op{kv::OpType::commands, {}, {}, 0, {}};
    size_t bytes = 5;
    for (const resp::Args& args : pending_) {
      if (op.commands.size() >= gw_.options.request_commands_max ||
          op.commands.size() >= kv::commands_per_op_max)
        break;
      const std::string name = lower(args[0]);
      if (is_local(name) || !kv::runs_command(name)) break;
      const size_t size = encoded_size(args);
      if (bytes + size > constants::operation_size_max) break;
      bytes += size;
      kv::Command& command = op.commands.emplace_back();
      command.reserve(args.size());
      for (const std::string& a : args) command.emplace_back(a.begin(), a.end());
    }
    PBFT_ASSERT(!op.commands.empty());
    in_flight_ = true;
    gw_.requests++;
    request_timer_.expires_after(gw_.options.timeout);
    request_timer_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
      if (!ec) self->on_timeout();
    });
    sent_ = op.commands.size();
    asio::io_context& io = gw_.io;
    std::weak_ptr<Connection> weak = shared_from_this();
    Gateway::Impl* gw = &gw_;
    gw_.pool->submit(session, kv::encode_op(op), [&io, weak, gw, session](Result<Completion> done) {
      // On the pool's thread: back to the gateway's.
      asio::post(io, [weak, gw, session, done = std::move(done)]() mutable {
        if (done) gw->view = std::max(gw->view, done->view);
        gw->release(session);
        if (auto self = weak.lock()) self->on_result(std::move(done));
      });
    });
  }

  void on_result(Result<Completion> done) {
    if (closed_ || !in_flight_) return;  // timed out: answered already
    in_flight_ = false;
    request_timer_.cancel();
    Result<kv::OpResult> result =
        done ? kv::decode_result(done->result) : Result<kv::OpResult>(done.status());
    if (!result || result->code != kv::Code::ok || result->value.size() < 4) {
      // A client failure (its clock went back) or a result the store does
      // not produce for commands: the commands' outcome is unknown.
      const std::string why = result ? std::string(kv::code_name(result->code)) : result.reason();
      for (size_t i = 0; i < sent_; i++) {
        resp::append_error(out_, "ERR the cluster did not run the command: " + why);
      }
      pop(sent_);
    } else {
      uint32_t ran = 0;
      for (int i = 0; i < 4; i++) ran |= static_cast<uint32_t>(result->value[i]) << (8 * i);
      if (ran == 0 || ran > sent_) {
        close();  // f+1 replicas agreed on a result no store gives: nothing to trust
        return;
      }
      out_.append(reinterpret_cast<const char*>(result->value.data()) + 4,
                  result->value.size() - 4);
      pop(ran);  // the rest (if any) go in the next request
    }
    pump();
    write();
    maybe_read();
  }

  void on_timeout() {
    if (closed_ || !in_flight_) return;
    gw_.timeouts++;
    in_flight_ = false;
    for (size_t i = 0; i < sent_; i++) {
      resp::append_error(out_, "TRYAGAIN the cluster did not answer within " +
                                   std::to_string(gw_.options.timeout.count()) +
                                   " ms; the command may or may not have been applied");
    }
    pop(sent_);
    // Later commands must not overtake the one that may still run.
    closing_ = true;
    pending_.clear();
    pending_bytes_ = 0;
    write();
  }

  // ------------------------------------------------------------ local commands

  void answer_local(const std::string& name, const resp::Args& a) {
    if (name == "ping") {
      if (a.size() > 2) return resp::append_error(out_, wrong_arity(name));
      if (a.size() == 2) return resp::append_bulk(out_, a[1]);
      return resp::append_simple(out_, "PONG");
    }
    if (name == "echo") {
      if (a.size() != 2) return resp::append_error(out_, wrong_arity(name));
      return resp::append_bulk(out_, a[1]);
    }
    if (name == "select") {
      if (a.size() != 2) return resp::append_error(out_, wrong_arity(name));
      if (a[1] == "0") return resp::append_simple(out_, "OK");
      const bool integer = !a[1].empty() && a[1].find_first_not_of("-0123456789") == std::string::npos;
      return resp::append_error(out_, integer ? "ERR DB index is out of range"
                                              : "ERR value is not an integer or out of range");
    }
    if (name == "quit") {
      quit_ = true;
      return resp::append_simple(out_, "OK");
    }
    if (name == "hello") return hello(a);
    if (name == "client") return client(a);
    if (name == "command") return command(a);
    if (name == "info") return info(a);
    if (name == "config") return config(a);
  }

  void hello(const resp::Args& a) {
    if (a.size() >= 2) {
      if (a[1] != "2" && a[1] != "3") {
        const bool integer = a[1].find_first_not_of("0123456789") == std::string::npos;
        return resp::append_error(out_, integer ? "NOPROTO unsupported protocol version"
                                                : "ERR Protocol version is not an integer or out of range");
      }
      if (a[1] == "3") return resp::append_error(out_, "NOPROTO unsupported protocol version");
      for (size_t i = 2; i < a.size(); i++) {
        const std::string option = lower(a[i]);
        if (option == "setname" && i + 1 < a.size()) {
          name_ = a[++i];
        } else if (option == "auth" && i + 2 < a.size()) {
          return resp::append_error(out_, "ERR AUTH: this gateway has no passwords");
        } else {
          return resp::append_error(out_, "ERR Syntax error in HELLO option '" + a[i] + "'");
        }
      }
    }
    resp::append_array(out_, 14);
    resp::append_bulk(out_, "server");
    resp::append_bulk(out_, "redis");
    resp::append_bulk(out_, "version");
    resp::append_bulk(out_, redis_version);
    resp::append_bulk(out_, "proto");
    resp::append_integer(out_, 2);
    resp::append_bulk(out_, "id");
    resp::append_integer(out_, static_cast<int64_t>(id_));
    resp::append_bulk(out_, "mode");
    resp::append_bulk(out_, "standalone");
    resp::append_bulk(out_, "role");
    resp::append_bulk(out_, "master");
    resp::append_bulk(out_, "modules");
    resp::append_array(out_, 0);
  }

  void client(const resp::Args& a) {
    if (a.size() < 2) return resp::append_error(out_, wrong_arity("client"));
    const std::string sub = lower(a[1]);
    if (sub == "setname" && a.size() == 3) {
      if (a[2].find_first_of(" \r\n") != std::string::npos) {
        return resp::append_error(
            out_, "ERR Client names cannot contain spaces, newlines or special characters.");
      }
      name_ = a[2];
      return resp::append_simple(out_, "OK");
    }
    if (sub == "getname" && a.size() == 2) {
      if (name_.empty()) return resp::append_null(out_);
      return resp::append_bulk(out_, name_);
    }
    if (sub == "id" && a.size() == 2) return resp::append_integer(out_, static_cast<int64_t>(id_));
    if (sub == "setinfo" && a.size() == 4) return resp::append_simple(out_, "OK");
    if ((sub == "info" && a.size() == 2) || (sub == "list" && a.size() == 2)) {
      return resp::append_bulk(out_, "id=" + std::to_string(id_) + " addr=" + address_ +
                                         " name=" + name_ + " db=0\n");
    }
    resp::append_error(out_, "ERR unknown subcommand or wrong number of arguments for '" + a[1] +
                                 "'. Try CLIENT HELP.");
  }

  void command(const resp::Args& a) {
    // redis-cli asks COMMAND DOCS for its hints and does without them; a
    // client library that asks COMMAND gets no table either (it then
    // treats every command alike, as against an unknown server).
    if (a.size() >= 2 && lower(a[1]) == "count") return resp::append_integer(out_, 0);
    resp::append_array(out_, 0);
  }

  void info(const resp::Args&) {
    const uint32_t n = static_cast<uint32_t>(gw_.cluster.replicas.size());
    std::string text;
    text += "# Server\r\nredis_version:" + std::string(redis_version) +
            "\r\nredis_mode:standalone\r\npbft_gateway:1\r\ntcp_port:" + std::to_string(gw_.port) +
            "\r\n\r\n";
    text += "# Clients\r\nconnected_clients:" + std::to_string(gw_.connections.size()) + "\r\n\r\n";
    text += "# pbft\r\npbft_n:" + std::to_string(n) +
            "\r\npbft_f:" + std::to_string(gw_.cluster.protocol.f) +
            "\r\npbft_view:" + std::to_string(gw_.view) +
            "\r\npbft_primary:" + std::to_string(n == 0 ? 0 : gw_.view % n) +
            "\r\npbft_sessions:" + std::to_string(gw_.pool->size()) +
            "\r\npbft_requests:" + std::to_string(gw_.requests.load()) +
            "\r\npbft_timeouts:" + std::to_string(gw_.timeouts.load()) + "\r\n";
    resp::append_bulk(out_, text);
  }

  void config(const resp::Args& a) {
    if (a.size() >= 3 && lower(a[1]) == "get") {
      // redis-benchmark asks for save and appendonly; the cluster's own
      // durability is its [durability] setting, not Redis's.
      static const std::map<std::string, std::string> known{{"save", ""}, {"appendonly", "no"}};
      std::vector<std::pair<std::string, std::string>> found;
      for (size_t i = 2; i < a.size(); i++) {
        auto it = known.find(lower(a[i]));
        if (it != known.end()) found.emplace_back(it->first, it->second);
      }
      resp::append_array(out_, found.size() * 2);
      for (const auto& [key, value] : found) {
        resp::append_bulk(out_, key);
        resp::append_bulk(out_, value);
      }
      return;
    }
    resp::append_error(out_, "ERR CONFIG " + (a.size() >= 2 ? a[1] : std::string()) +
                                 " is not supported by this gateway");
  }

  // ------------------------------------------------------------ writing

  void write() {
    if (write_active_ || closed_) return;
    if (out_.empty()) {
      if (closing_ && !in_flight_ && !waiting_) close();
      return;
    }
    writing_.swap(out_);
    out_.clear();
    write_active_ = true;
    asio::async_write(socket_, asio::buffer(writing_),
                      [self = shared_from_this()](const asio::error_code& ec, size_t) {
                        self->write_active_ = false;
                        self->writing_.clear();
                        if (ec || self->closed_) return self->close();
                        self->write();
                        self->maybe_read();
                      });
  }

  static constexpr const char* redis_version = "7.0.0";

  Gateway::Impl& gw_;
  tcp::socket socket_;
  const uint64_t id_;
  std::string address_;
  std::string name_;  // CLIENT SETNAME
  std::array<char, 4096> buffer_{};
  std::string in_;     // bytes read and not yet dropped
  size_t in_at_ = 0;   // where the command in progress starts in in_
  resp::Parser parser_;
  std::deque<resp::Args> pending_;  // parsed, not yet answered, in order
  size_t pending_bytes_ = 0;
  std::string out_;      // answers not yet written
  std::string writing_;  // answers being written
  std::string protocol_error_;  // to answer once the commands before it are
  asio::steady_timer request_timer_;
  asio::steady_timer partial_timer_;
  size_t sent_ = 0;  // commands in the request in flight
  bool reading_ = false, write_active_ = false, in_flight_ = false, waiting_ = false;
  bool partial_timer_armed_ = false;
  bool closing_ = false;  // close once everything is written
  bool closed_ = false;
  bool quit_ = false;
};

void Gateway::Impl::accept() {
  acceptor.async_accept([this](const asio::error_code& ec, tcp::socket socket) {
    if (stopped) return;
    if (!ec) {
      if (connections.size() >= options.connections_max) {
        refused++;
        asio::error_code ignored;
        socket.close(ignored);
      } else {
        accepted++;
        const uint64_t id = next_id++;
        auto conn = std::make_shared<Connection>(*this, std::move(socket), id);
        connections.emplace(id, conn);
        conn->start();
      }
    } else if (ec != asio::error::operation_aborted) {
      // Out of descriptors (EMFILE) or memory: the listen queue keeps what
      // waits; accepting again at once would spin. Try again shortly.
      accept_retry.expires_after(std::chrono::milliseconds(100));
      accept_retry.async_wait([this](const asio::error_code& wait) {
        if (!wait && !stopped) accept();
      });
      return;
    }
    accept();
  });
}

std::optional<size_t> Gateway::Impl::acquire(const std::shared_ptr<Connection>& conn) {
  if (!free_sessions.empty()) {
    const size_t session = free_sessions.back();
    free_sessions.pop_back();
    return session;
  }
  waiting.push_back(conn);
  return std::nullopt;
}

void Gateway::Impl::release(size_t session) {
  while (!waiting.empty()) {
    std::shared_ptr<Connection> next = waiting.front().lock();
    waiting.pop_front();
    if (next) {
      asio::post(io, [next, session] { next->on_session(session); });
      return;
    }
  }
  free_sessions.push_back(session);
}

Result<std::unique_ptr<Gateway>> Gateway::start(const ClusterConfig& cluster,
                                                std::vector<runtime::ClientPool::Member> members,
                                                Timestamp first_timestamp, GatewayOptions options) {
  if (members.empty()) return Status::error("the gateway needs at least one client session");
  auto impl = std::make_unique<Impl>(cluster, std::move(options));
  asio::error_code ec;
  const asio::ip::address address = asio::ip::make_address(impl->options.host, ec);
  if (ec) return Status::error("bad listen address '" + impl->options.host + "'");
  const tcp::endpoint endpoint(address, impl->options.port);
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::error("cannot listen on " + impl->options.host + ":" +
                         std::to_string(impl->options.port) + ": " + ec.message());
  }
  impl->port = impl->acceptor.local_endpoint().port();
  const size_t sessions = members.size();
  Result<std::unique_ptr<runtime::ClientPool>> pool =
      runtime::ClientPool::start(cluster, std::move(members), first_timestamp);
  if (!pool) return pool.status();
  impl->pool = std::move(pool).value();
  for (size_t i = sessions; i-- > 0;) impl->free_sessions.push_back(i);
  impl->accept();
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->io.run(); });
  return std::unique_ptr<Gateway>(new Gateway(std::move(impl)));
}

Gateway::Gateway(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Gateway::~Gateway() { stop(); }

uint16_t Gateway::port() const { return impl_->port; }

GatewayCounters Gateway::counters() const {
  GatewayCounters c;
  c.connections_accepted = impl_->accepted;
  c.connections_refused = impl_->refused;
  c.commands = impl_->commands;
  c.requests = impl_->requests;
  c.timeouts = impl_->timeouts;
  c.protocol_errors = impl_->protocol_errors;
  return c;
}

void Gateway::stop() {
  if (impl_->stopped.exchange(true)) return;
  // The pool first: its callbacks post to the gateway's loop.
  impl_->pool->stop();
  asio::post(impl_->io, [impl = impl_.get()] {
    asio::error_code ignored;
    impl->acceptor.close(ignored);
    impl->accept_retry.cancel();
    auto connections = impl->connections;
    for (auto& [id, conn] : connections) conn->close();
    impl->work.reset();
  });
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace pbft::gateway
