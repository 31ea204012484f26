#include "tools/runtime_support.h"

#include <sodium.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "pbft/kv.h"

namespace pbft::tools {

Status setup_logging(const std::string& level, const std::string& who) {
  const spdlog::level::level_enum parsed = spdlog::level::from_str(level);
  // from_str maps an unknown name to off: tell the two apart.
  if (parsed == spdlog::level::off && level != "off") {
    return Status::error("unknown log level \"" + level +
                         "\" (trace, debug, info, warn, error, off)");
  }
  auto logger = spdlog::stderr_logger_mt("pbft");
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e [" + who + "] %l: %v");
  logger->set_level(parsed);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  return Status::ok();
}

Result<SecretKey> load_client_key(const ClusterConfig& cluster, ClientId id) {
  auto key = cluster.clients.find(id);
  if (key == cluster.clients.end()) {
    return Status::error("client " + std::to_string(id) + " is not listed in " +
                         (cluster.directory / "cluster.toml").string());
  }
  auto file = cluster.client_key_files.find(id);
  if (file == cluster.client_key_files.end()) {
    return Status::error("clients (id " + std::to_string(id) + ") names no key_file");
  }
  return load_secret_key(file->second, key->second);
}

Result<std::function<std::unique_ptr<Service>()>> make_kv_service(const ClusterConfig& cluster) {
  kv::Limits limits;
  limits.bytes_max = cluster.kv.bytes_max;
  limits.client_bytes_max = cluster.kv.client_bytes_max;
  kv::BucketKey bucket_key{};
  if (!cluster.kv.bucket_key_file.empty()) {
    Result<std::array<uint8_t, 32>> secret = load_bucket_secret(cluster.kv.bucket_key_file);
    if (!secret) return secret.status();
    // The store's SipHash key is a keyed BLAKE2b of the file's secret, so
    // the file's format is the private keys' and the key has one use.
    constexpr std::string_view purpose = "pbft kv bucket key";
    crypto_generichash(bucket_key.data(), bucket_key.size(),
                       reinterpret_cast<const unsigned char*>(purpose.data()), purpose.size(),
                       secret->data(), secret->size());
    sodium_memzero(secret->data(), secret->size());
  }
  return std::function<std::unique_ptr<Service>()>(
      [partitions = cluster.kv.partitions, limits, bucket_key]() -> std::unique_ptr<Service> {
        return std::make_unique<kv::Store>(partitions, limits, bucket_key);
      });
}

uint64_t wall_clock_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace pbft::tools
