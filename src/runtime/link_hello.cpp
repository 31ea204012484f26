#include "src/runtime/link_hello.h"

#include <sodium.h>

#include <cstring>
#include <string_view>

#include "pbft/constants.h"

namespace pbft::runtime {

namespace {

uint32_t load_le32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

void append_le32(Bytes& b, uint32_t v) {
  for (int i = 0; i < 4; i++) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void append(Bytes& b, std::string_view text) { b.insert(b.end(), text.begin(), text.end()); }
void append(Bytes& b, ByteView bytes) { b.insert(b.end(), bytes.begin(), bytes.end()); }

Status check_magic_and_version(ByteView bytes, const char* what) {
  if (load_le32(bytes.data()) != hello_magic) {
    return Status::error(std::string(what) + ": bad magic (not a pbft link, or not this mode)");
  }
  if (bytes[4] != hello_version) {
    return Status::error(std::string(what) + ": unsupported version " + std::to_string(bytes[4]) +
                         " (this build speaks " + std::to_string(hello_version) + ")");
  }
  return Status::ok();
}

Bytes hello_payload(LinkRole role, ByteView binding, const Hello& hello, uint32_t member) {
  Bytes p;
  append(p, std::string_view("pbft/link-hello/v2"));
  p.push_back(static_cast<uint8_t>(role));
  append(p, binding);
  p.push_back(static_cast<uint8_t>(hello.kind));
  append_le32(p, hello.id);
  p.push_back(static_cast<uint8_t>(hello.count));
  p.push_back(static_cast<uint8_t>(hello.count >> 8));
  append_le32(p, member);
  return p;
}

}  // namespace

Bytes encode_greeting(const Greeting& greeting) {
  Bytes b;
  b.reserve(greeting_size);
  append_le32(b, hello_magic);
  b.push_back(hello_version);
  b.push_back(static_cast<uint8_t>(greeting.encryption));
  b.push_back(0);
  b.push_back(0);
  append(b, ByteView(greeting.nonce));
  return b;
}

Result<Greeting> decode_greeting(ByteView bytes) {
  if (bytes.size() != greeting_size) return Status::error("greeting: wrong size");
  if (Status s = check_magic_and_version(bytes, "greeting"); !s) return s;
  if (bytes[5] > static_cast<uint8_t>(Encryption::tls)) {
    return Status::error("greeting: unknown encryption " + std::to_string(bytes[5]));
  }
  if (bytes[6] != 0 || bytes[7] != 0) return Status::error("greeting: reserved bytes not zero");
  Greeting g;
  g.encryption = static_cast<Encryption>(bytes[5]);
  std::memcpy(g.nonce.data(), bytes.data() + 8, g.nonce.size());
  return g;
}

Nonce fresh_nonce() {
  Nonce n;
  randombytes_buf(n.data(), n.size());
  return n;
}

Result<Hello> decode_hello_header(ByteView bytes) {
  if (bytes.size() != hello_header_size) return Status::error("hello: wrong size");
  if (Status s = check_magic_and_version(bytes, "hello"); !s) return s;
  if (bytes[5] > static_cast<uint8_t>(Hello::Kind::client)) {
    return Status::error("hello: unknown kind " + std::to_string(bytes[5]));
  }
  Hello h;
  h.kind = static_cast<Hello::Kind>(bytes[5]);
  h.count = static_cast<uint16_t>(bytes[6] | bytes[7] << 8);
  h.id = load_le32(bytes.data() + 8);
  if (h.count == 0) return Status::error("hello: speaks for nobody (count 0)");
  if (h.kind == Hello::Kind::replica && h.count != 1) {
    return Status::error("hello: a replica speaks for itself only");
  }
  if (h.count > constants::client_group_max) {
    return Status::error("hello: a group of " + std::to_string(h.count) + " clients is over " +
                         std::to_string(constants::client_group_max));
  }
  if (uint64_t{h.id} + h.count > uint64_t{1} << 32) {
    return Status::error("hello: the group's ids run past 2^32");
  }
  return h;
}

Bytes encode_hello(const SignedHello& signed_hello) {
  const Hello& h = signed_hello.hello;
  Bytes b;
  b.reserve(hello_size(h));
  append_le32(b, hello_magic);
  b.push_back(hello_version);
  b.push_back(static_cast<uint8_t>(h.kind));
  b.push_back(static_cast<uint8_t>(h.count));
  b.push_back(static_cast<uint8_t>(h.count >> 8));
  append_le32(b, h.id);
  for (const Signature& s : signed_hello.signatures) append(b, ByteView(s));
  return b;
}

Result<SignedHello> decode_hello(ByteView bytes) {
  if (bytes.size() < hello_header_size) return Status::error("hello: too short");
  Result<Hello> header = decode_hello_header(bytes.first(hello_header_size));
  if (!header) return header.status();
  if (bytes.size() != hello_size(*header)) {
    return Status::error("hello: " + std::to_string(bytes.size()) + " bytes, expected " +
                         std::to_string(hello_size(*header)));
  }
  SignedHello out;
  out.hello = *header;
  out.signatures.resize(header->count);
  for (size_t k = 0; k < header->count; k++) {
    std::memcpy(out.signatures[k].data(), bytes.data() + hello_header_size + k * signature_size,
                signature_size);
  }
  return out;
}

Bytes link_binding(Encryption encryption, ByteView tls_binding, ReplicaId dialed,
                   const Nonce& dialer, const Nonce& acceptor) {
  Bytes input;
  append(input, std::string_view("pbft/link-binding/v2"));
  input.push_back(static_cast<uint8_t>(encryption));
  input.push_back(static_cast<uint8_t>(tls_binding.size()));
  append(input, tls_binding);
  append_le32(input, dialed);
  append(input, ByteView(dialer));
  append(input, ByteView(acceptor));
  Bytes out(crypto_generichash_BYTES);
  crypto_generichash(out.data(), out.size(), input.data(), input.size(), nullptr, 0);
  return out;
}

SignedHello sign_hello(const Hello& hello, LinkRole role, ByteView binding,
                       std::span<const SecretKey> keys) {
  SignedHello out;
  out.hello = hello;
  out.signatures.resize(hello.count);
  for (uint32_t k = 0; k < hello.count && k < keys.size(); k++) {
    const Bytes payload = hello_payload(role, binding, hello, hello.id + k);
    crypto_sign_detached(out.signatures[k].data(), nullptr, payload.data(), payload.size(),
                         keys[k].data());
  }
  return out;
}

std::optional<PublicKey> listed_key(const ClusterConfig& cluster, Hello::Kind kind, uint32_t id) {
  if (kind == Hello::Kind::replica) {
    if (id >= cluster.replicas.size()) return std::nullopt;
    return cluster.replicas[id].public_key;
  }
  auto it = cluster.clients.find(id);
  if (it == cluster.clients.end()) return std::nullopt;
  return it->second;
}

Status verify_hello(const SignedHello& signed_hello, LinkRole role, ByteView binding,
                    const ClusterConfig& cluster) {
  const Hello& h = signed_hello.hello;
  if (signed_hello.signatures.size() != h.count) return Status::error("hello: signatures missing");
  const char* kind = h.kind == Hello::Kind::replica ? "replica" : "client";
  for (uint32_t k = 0; k < h.count; k++) {
    const uint32_t id = h.id + k;
    std::optional<PublicKey> key = listed_key(cluster, h.kind, id);
    if (!key) {
      return Status::error("hello from " + std::string(kind) + " " + std::to_string(id) +
                           " (not in the cluster file)");
    }
    const Bytes payload = hello_payload(role, binding, h, id);
    if (crypto_sign_verify_detached(signed_hello.signatures[k].data(), payload.data(),
                                    payload.size(), key->data()) != 0) {
      return Status::error("hello from " + std::string(kind) + " " + std::to_string(id) +
                           ": its signature does not verify (a wrong key, or a hello of "
                           "another connection)");
    }
  }
  return Status::ok();
}

}  // namespace pbft::runtime
