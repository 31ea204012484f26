// Basic vocabulary of the protocol: identifiers, byte strings, digests and
// authentication tags. Everything here is a plain value type.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pbft {

using ReplicaId = uint32_t;  // 0..n-1
using ClientId = uint32_t;   // 0..max_clients-1, a namespace separate from replicas
using View = uint64_t;       // the primary of view v is replica v mod n
using Seq = uint64_t;        // sequence number assigned by the primary; 0 = nothing
using Timestamp = uint64_t;  // a client's strictly increasing request number

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

inline ByteView as_bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
inline std::string to_string(ByteView b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

constexpr size_t digest_size = 32;     // BLAKE2b-256
constexpr size_t signature_size = 64;  // Ed25519
constexpr size_t mac_size = 16;        // keyed BLAKE2b-128
constexpr size_t public_key_size = 32;
constexpr size_t secret_key_size = 64;  // Ed25519 secret key (seed || public key)

using Digest = std::array<uint8_t, digest_size>;
using Signature = std::array<uint8_t, signature_size>;
using Mac = std::array<uint8_t, mac_size>;
using PublicKey = std::array<uint8_t, public_key_size>;
using SecretKey = std::array<uint8_t, secret_key_size>;

// Who a key or a message belongs to. Replicas and clients have separate id
// spaces, so every principal is named by its kind and its id.
enum class PrincipalKind : uint8_t { replica = 0, client = 1 };

struct Principal {
  PrincipalKind kind;
  uint32_t id;
  static Principal replica(ReplicaId r) { return {PrincipalKind::replica, r}; }
  static Principal client(ClientId c) { return {PrincipalKind::client, c}; }
  friend bool operator==(const Principal&, const Principal&) = default;
};

// Hex encoding for logs and diagnostics.
std::string to_hex(ByteView bytes);
template <size_t N>
std::string to_hex(const std::array<uint8_t, N>& a) {
  return to_hex(ByteView(a.data(), a.size()));
}

}  // namespace pbft
