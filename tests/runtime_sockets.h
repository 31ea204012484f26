// Shared by the runtime's socket tests: a connected pair of loopback
// sockets, a small valid frame to send over it, a cluster's keys in memory,
// and the dialer's side of a cleartext link done by hand on a raw socket
// (so that a test can then write any bytes it likes as frames).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pbft/cluster_config.h"
#include "pbft/crypto.h"
#include "pbft/wire.h"
#include "src/runtime/asio.h"
#include "src/runtime/connection.h"
#include "src/runtime/link_hello.h"

namespace pbft::runtime::testing {

// An accepted server-side socket and the client socket connected to it.
struct SocketPair {
  explicit SocketPair(asio::io_context& io) : server(io), client(io) {
    asio::ip::tcp::acceptor acceptor(io, {asio::ip::address_v4::loopback(), 0});
    client.connect(acceptor.local_endpoint());
    acceptor.accept(server);
  }
  asio::ip::tcp::socket server;
  asio::ip::tcp::socket client;
};

// A PREPARE from replica 1 for sequence number `seq` (not authenticated).
inline Bytes prepare_frame(Seq seq) {
  Prepare p;
  p.seq = seq;
  p.sender = 1;
  return wire::encode(Message(p));
}

// A cluster in memory: 4 replicas and `clients` clients with fresh keys.
struct TestKeys {
  ClusterConfig cluster;
  std::vector<SecretKey> replicas;            // index = id
  std::map<ClientId, SecretKey> clients;      // by id
  std::vector<SecretKey> keys_of(const Hello& who) const {
    std::vector<SecretKey> keys;
    for (uint32_t k = 0; k < who.count; k++) {
      keys.push_back(who.kind == Hello::Kind::replica ? replicas.at(who.id + k)
                                                      : clients.at(who.id + k));
    }
    return keys;
  }
};

inline std::unique_ptr<TestKeys> make_test_keys(Encryption encryption = Encryption::none,
                                                uint32_t clients = 8) {
  sodium::initialize();
  auto keys = std::make_unique<TestKeys>();
  keys->cluster.protocol.f = 1;
  keys->cluster.protocol.n = 4;
  keys->cluster.encryption = static_cast<uint32_t>(encryption);
  for (ReplicaId r = 0; r < 4; r++) {
    const KeyPair pair = sodium::generate_keypair();
    ReplicaEndpoint e;
    e.id = r;
    e.host = "127.0.0.1";
    e.port = static_cast<uint16_t>(7000 + r);
    e.listen_host = e.host;
    e.listen_port = e.port;
    e.public_key = pair.public_key;
    keys->cluster.replicas.push_back(e);
    keys->replicas.push_back(pair.secret_key);
  }
  for (ClientId c = 0; c < clients; c++) {
    const KeyPair pair = sodium::generate_keypair();
    keys->cluster.clients.emplace(c, pair.public_key);
    keys->clients.emplace(c, pair.secret_key);
  }
  return keys;
}

// `who`'s end of links of `keys`' cluster (which must outlive it).
inline std::shared_ptr<const LinkSecurity> security_for(const TestKeys& keys, const Hello& who) {
  Result<std::shared_ptr<const LinkSecurity>> s =
      LinkSecurity::make(keys.cluster, who, keys.keys_of(who));
  return s ? s.value() : nullptr;
}

// An owner that records what its connections report and reserves every
// frame (counting the bytes).
class RecordingOwner : public ConnectionOwner {
 public:
  void on_hello(Connection&, const Hello& h) override { hellos.push_back(h); }
  bool reserve(Connection&, size_t bytes) override {
    reserved += bytes;
    return true;
  }
  void on_frame(Connection&, Bytes frame) override { frames.push_back(std::move(frame)); }
  void on_closed(Connection&, const std::string& reason) override { closed.push_back(reason); }
  std::vector<Hello> hellos;
  std::vector<Bytes> frames;
  std::vector<std::string> closed;
  size_t reserved = 0;
};

// Runs the loop until `done` holds (true) or 5 s pass (false).
inline bool run_until(asio::io_context& io, const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    if (io.stopped()) io.restart();
    io.run_for(std::chrono::milliseconds(5));
  }
  return true;
}

// The dialer's side of a cleartext link on a raw socket, as `who` (keys
// from `keys`, or `signing_keys` when given: a test's forgery): the
// greeting, the acceptor's greeting (running `io`, where the acceptor
// lives, until it has come), and the signed hello, for a link to replica
// `dialed` (the acceptor's id: the tests' acceptors are replica 0). What follows on the
// socket is frames. False if the acceptor's greeting never came.
inline bool raw_handshake(asio::io_context& io, asio::ip::tcp::socket& socket,
                          const TestKeys& keys, const Hello& who,
                          std::vector<SecretKey> signing_keys = {}, ReplicaId dialed = 0) {
  const Nonce mine = fresh_nonce();
  asio::write(socket, asio::buffer(encode_greeting(Greeting{Encryption::none, mine})));
  if (!run_until(io, [&] { return socket.available() >= greeting_size; })) return false;
  Bytes theirs(greeting_size);
  asio::read(socket, asio::buffer(theirs));
  Result<Greeting> greeting = decode_greeting(theirs);
  if (!greeting) return false;
  const Bytes binding = link_binding(Encryption::none, {}, dialed, mine, greeting->nonce);
  if (signing_keys.empty()) signing_keys = keys.keys_of(who);
  asio::write(socket,
              asio::buffer(encode_hello(sign_hello(who, LinkRole::dialer, binding, signing_keys))));
  return true;
}

}  // namespace pbft::runtime::testing
