// A link's channel: the bytes between a connection's frames and its socket.
// With encryption tls it is a TLS 1.3 session (OpenSSL 3.0 over memory
// BIOs: no I/O here, the connection moves the bytes), in which each end
// presents a self-signed certificate made from its own Ed25519 key; with
// none the bytes pass as they are. Either way the link is authenticated by
// the signed hello that follows (link_hello.h), over the channel binding
// this gives. Internal to src/runtime; docs/design.md ("Links").
//
// Thread safety: a TlsContext is immutable once made and may be shared by
// the channels of one thread; a Channel belongs to one connection, on the
// event-loop thread.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "pbft/status.h"
#include "pbft/types.h"

namespace pbft::runtime {

// What protects a cluster's links (cluster.toml's `encryption`; the values
// are the indices of knob_choices::encryption).
enum class Encryption : uint8_t {
  none = 0,  // cleartext; the hello still authenticates both ends
  tls = 1,   // TLS 1.3 with each end's cluster key
};

// One principal's TLS identity: its Ed25519 key and a self-signed
// certificate for it, in an SSL_CTX that insists on TLS 1.3 and on a
// certificate from the other end (whose key the connection compares with
// the cluster file: the certificate's signature chain means nothing here).
class TlsContext {
 public:
  // secret_key: the principal's Ed25519 key (seed || public key).
  static Result<std::shared_ptr<TlsContext>> make(const SecretKey& secret_key,
                                                  const std::string& name);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  void* native() const { return ctx_; }  // SSL_CTX*

 private:
  TlsContext() = default;
  void* ctx_ = nullptr;
};

// The bytes of one connection through TLS (a cleartext link has no
// channel: its connection reads and writes the socket itself).
class Channel {
 public:
  // accepting: the server's end (the listener's).
  static Result<std::unique_ptr<Channel>> tls(const TlsContext& context, bool accepting);
  virtual ~Channel() = default;

  // The handshake is done.
  virtual bool established() const = 0;
  // Drives the handshake with what was fed; true once established (or
  // already was), false while it needs more bytes. Fails for good.
  virtual Result<bool> handshake() = 0;
  // Bytes read from the socket.
  virtual void feed(ByteView ciphertext) = 0;
  // Plaintext out of what was fed, up to `room` bytes into `out`: the count
  // (0 when nothing is ready). Fails on a TLS error or the peer's
  // close_notify.
  virtual Result<size_t> read(uint8_t* out, size_t room) = 0;
  // Plaintext to send: sealed into the pending output.
  virtual Status write(ByteView plaintext) = 0;
  // The output to write to the socket (handshake and sealed records), in
  // order; moved out (empty when there is none).
  virtual Bytes take_output() = 0;
  virtual bool has_output() const = 0;

  // Once established: 32 bytes unique to this session (TLS's exporter,
  // RFC 8446 7.5, label "EXPORTER-pbft-hello"; RFC 9266 uses it so), the
  // same at both ends.
  virtual Bytes binding() const = 0;
  // Once established: the Ed25519 key of the other end's certificate.
  virtual std::optional<PublicKey> peer_key() const = 0;
};

}  // namespace pbft::runtime
