// Shared by the runtime's socket tests: a connected pair of loopback
// sockets, and a small valid frame to send over it.
#pragma once

#include "pbft/wire.h"
#include "src/runtime/asio.h"

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

}  // namespace pbft::runtime::testing
