// Free loopback ports for local clusters (see pick_free_base_port).
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <random>

#include "pbft/runtime.h"

namespace pbft::runtime {

namespace {

bool port_free(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // as the replica binds
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  addr.sin_port = htons(port);
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

}  // namespace

Result<uint16_t> pick_free_base_port(uint32_t n) {
  if (n == 0 || n > 1000) return Status::error("pick_free_base_port: bad count");
  // Linux's default ephemeral range; the file says what this machine uses.
  uint32_t ephemeral_low = 32768;
  uint32_t ephemeral_high = 60999;
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  range >> ephemeral_low >> ephemeral_high;
  // The larger gap outside the ephemeral range, above the well-known ports.
  uint32_t low = 10000;
  uint32_t high = ephemeral_low > low ? ephemeral_low - 1 : low;
  if (65535 - ephemeral_high > high - low) {
    low = std::max<uint32_t>(ephemeral_high + 1, 1024);
    high = 65535;
  }
  if (high < low + n) return Status::error("no room outside the ephemeral port range");
  std::random_device device;
  std::uniform_int_distribution<uint32_t> pick(low, high - n + 1);
  for (int attempt = 0; attempt < 200; attempt++) {
    const uint32_t base = pick(device);
    bool all = true;
    for (uint32_t i = 0; i < n && all; i++) all = port_free(static_cast<uint16_t>(base + i));
    if (all) return static_cast<uint16_t>(base);
  }
  return Status::error("found no " + std::to_string(n) + " consecutive free ports");
}

}  // namespace pbft::runtime
