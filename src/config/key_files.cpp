// Private key files and the generation of a whole cluster (`pbft keygen`).
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <system_error>

#include "hex.h"
#include "pbft/cluster_config.h"

namespace pbft {

namespace {

constexpr size_t seed_size = 32;
using Seed = std::array<uint8_t, seed_size>;

std::string errno_text(int error) { return std::error_code(error, std::generic_category()).message(); }

std::string octal_mode(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof(text), "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

// Closes a descriptor on every path out.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Creates `file` exclusively with `mode` and writes `content`. With
// `exact_mode` the mode is also forced past the umask (for key files, whose
// owner must keep read access whatever the umask).
Status write_new_file(const std::filesystem::path& file, std::string_view content, mode_t mode,
                      bool exact_mode) {
  Fd out;
  out.fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (out.fd < 0) {
    const int error = errno;
    if (error == EEXIST) return Status::error(file.string() + ": already exists; not overwritten");
    return Status::error(file.string() + ": cannot create: " + errno_text(error));
  }
  if (exact_mode && ::fchmod(out.fd, mode) != 0) {
    return Status::error(file.string() + ": cannot set mode " + octal_mode(mode) + ": " +
                         errno_text(errno));
  }
  size_t written = 0;
  while (written < content.size()) {
    const ssize_t w = ::write(out.fd, content.data() + written, content.size() - written);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return Status::error(file.string() + ": cannot write: " + errno_text(errno));
    written += static_cast<size_t>(w);
  }
  if (::fsync(out.fd) != 0) {
    return Status::error(file.string() + ": cannot sync: " + errno_text(errno));
  }
  const int fd = out.fd;
  out.fd = -1;
  if (::close(fd) != 0) return Status::error(file.string() + ": cannot close: " + errno_text(errno));
  return Status::ok();
}

// A knob's help as comment lines of at most about 100 characters, then the
// knob with its default.
std::string knob_lines(const Knob& knob) {
  std::string text = std::string(knob.help) + " [" + knob_valid_values(knob) + "]";
  std::string lines;
  while (!text.empty()) {
    size_t cut = text.size();
    if (cut > 96) {
      cut = text.rfind(' ', 96);
      if (cut == std::string::npos || cut == 0) cut = 96;
    }
    lines += "# " + text.substr(0, cut) + "\n";
    text.erase(0, std::min(text.size(), cut + 1));
  }
  return lines + std::string(knob.name) + " = " + knob_toml_text(knob, knob.default_value) + "\n";
}

// Every knob of the table with its default, the top-level ones first, then
// each knob table ([kv]) before the arrays of tables.
std::string cluster_toml(const ClusterSpec& spec, const std::vector<PublicKey>& replica_keys,
                         const std::vector<PublicKey>& client_keys) {
  const uint32_t f = (spec.replicas - 1) / 3;
  std::string t;
  t += "# A PBFT cluster, written by `pbft keygen` (format: docs/operations.md).\n";
  t += "# n = " + std::to_string(spec.replicas) + " replicas tolerate f = " + std::to_string(f) +
       " Byzantine faults.\n";
  t += "f = " + std::to_string(f) + "\n";
  for (const Knob& k : knob_table) {
    if (k.section.empty()) t += knob_lines(k);
  }
  std::string_view section;
  for (const Knob& k : knob_table) {
    if (k.section.empty()) continue;
    if (k.section != section) {
      section = k.section;
      t += "\n[" + std::string(section) + "]\n";
    }
    t += knob_lines(k);
  }
  // The knob tables end with [kv] (knob_table's order), whose one key that
  // is not a knob comes last.
  t += "# The replicas' secret key of the store's bucket hash (clients need not have it)\n";
  t += "bucket_key_file = \"kv-bucket.key\"\n";
  for (uint32_t i = 0; i < spec.replicas; i++) {
    t += "\n[[replicas]]\n";
    t += "id = " + std::to_string(i) + "\n";
    t += "host = \"" + spec.host + "\"\n";
    t += "port = " + std::to_string(spec.base_port + i) + "\n";
    // The address it binds (default: host); edit it with host.
    t += "listen = \"" + spec.host + "\"\n";
    t += "public_key = \"" + to_hex(replica_keys[i]) + "\"\n";
    t += "key_file = \"replica-" + std::to_string(i) + ".key\"\n";
  }
  for (uint32_t c = 0; c < spec.clients; c++) {
    t += "\n[[clients]]\n";
    t += "id = " + std::to_string(c) + "\n";
    t += "public_key = \"" + to_hex(client_keys[c]) + "\"\n";
    t += "key_file = \"client-" + std::to_string(c) + ".key\"\n";
  }
  return t;
}

Status check_spec(const ClusterSpec& spec) {
  if (spec.replicas < 4 || (spec.replicas - 1) % 3 != 0) {
    return Status::error("--replicas must be 3f+1 with f >= 1 (4, 7, 10, ...), got " +
                         std::to_string(spec.replicas));
  }
  if (spec.replicas > constants::replicas_max) {
    return Status::error("--replicas must be at most " + std::to_string(constants::replicas_max) +
                         ", got " + std::to_string(spec.replicas));
  }
  if (spec.clients > constants::clients_max) {
    return Status::error("--clients must be at most " + std::to_string(constants::clients_max) +
                         ", got " + std::to_string(spec.clients));
  }
  if (spec.host.empty()) return Status::error("--host must not be empty");
  // The host is written into a TOML string as it is.
  if (spec.host.find_first_of("\"\\\n") != std::string::npos) {
    return Status::error("--host must not contain quotes, backslashes or newlines");
  }
  if (spec.base_port < 1 || uint32_t{spec.base_port} + spec.replicas - 1 > 65535) {
    return Status::error("--base-port must leave room for " + std::to_string(spec.replicas) +
                         " ports in 1..65535, got " + std::to_string(spec.base_port));
  }
  return Status::ok();
}

// Reads a secret file of 64 hex characters (32 bytes) and an optional
// newline, readable by its owner only. `what` names the file in errors
// ("private key file"); `holds` says what the 64 characters are.
Result<Seed> read_secret_file(const std::filesystem::path& file, const std::string& what,
                              const std::string& holds) {
  const std::string name = file.string();
  Fd in;
  in.fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (in.fd < 0) {
    const int error = errno;
    if (error == ENOENT) return Status::error(name + ": " + what + " does not exist");
    return Status::error(name + ": cannot open the " + what + ": " + errno_text(error));
  }
  struct stat st {};
  if (::fstat(in.fd, &st) != 0) {
    return Status::error(name + ": cannot stat the " + what + ": " + errno_text(errno));
  }
  if (!S_ISREG(st.st_mode)) return Status::error(name + ": " + what + " is not a regular file");
  if ((st.st_mode & 077) != 0) {
    return Status::error(name + ": " + what + " has mode " + octal_mode(st.st_mode) +
                         "; it must be readable by its owner only (chmod 600)");
  }
  // 64 hex characters, an optional newline, and one byte more to see that
  // nothing follows.
  std::array<char, 2 * seed_size + 2> buffer{};
  size_t length = 0;
  while (length < buffer.size()) {
    const ssize_t r = ::read(in.fd, buffer.data() + length, buffer.size() - length);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Status::error(name + ": cannot read the " + what + ": " + errno_text(errno));
    if (r == 0) break;
    length += static_cast<size_t>(r);
  }
  std::string_view text(buffer.data(), length);
  if (text.size() == 2 * seed_size + 1 && text.back() == '\n') text.remove_suffix(1);
  Seed seed{};
  const bool parsed = text.size() == 2 * seed_size && config::parse_hex(text, seed);
  sodium_memzero(buffer.data(), buffer.size());
  if (!parsed) {
    sodium_memzero(seed.data(), seed.size());
    return Status::error(name + ": " + what + " must hold " + std::to_string(2 * seed_size) +
                         " hex characters (" + holds + ") and an optional newline");
  }
  return seed;
}

}  // namespace

Result<std::array<uint8_t, 32>> load_bucket_secret(const std::filesystem::path& file) {
  return read_secret_file(file, "bucket key file", "the key-value store's bucket key");
}

Result<SecretKey> load_secret_key(const std::filesystem::path& file, const PublicKey& expected) {
  sodium::initialize();
  const std::string name = file.string();
  Result<Seed> read = read_secret_file(file, "private key file", "an Ed25519 seed");
  if (!read) return read.status();
  Seed seed = *read;
  sodium_memzero(read->data(), read->size());
  KeyPair pair = sodium::keypair_from_seed(seed);
  sodium_memzero(seed.data(), seed.size());
  if (pair.public_key != expected) {
    sodium_memzero(pair.secret_key.data(), pair.secret_key.size());
    return Status::error(name + ": private key does not match the public key " +
                         to_hex(expected) + " in the cluster file (its public key is " +
                         to_hex(pair.public_key) + ")");
  }
  const SecretKey secret = pair.secret_key;
  sodium_memzero(pair.secret_key.data(), pair.secret_key.size());
  return secret;
}

Status write_secret_key(const std::filesystem::path& file, const std::array<uint8_t, 32>& seed) {
  std::string text = to_hex(seed) + "\n";
  Status s = write_new_file(file, text, 0600, /*exact_mode=*/true);
  sodium_memzero(text.data(), text.size());
  return s;
}

Result<std::vector<std::filesystem::path>> generate_cluster(const std::filesystem::path& directory,
                                                            const ClusterSpec& spec) {
  if (Status s = check_spec(spec); !s) return s;
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  if (error) {
    return Status::error(directory.string() + ": cannot create the directory: " + error.message());
  }

  std::vector<std::filesystem::path> files;
  for (uint32_t i = 0; i < spec.replicas; i++) {
    files.push_back(directory / ("replica-" + std::to_string(i) + ".key"));
  }
  for (uint32_t c = 0; c < spec.clients; c++) {
    files.push_back(directory / ("client-" + std::to_string(c) + ".key"));
  }
  files.push_back(directory / "kv-bucket.key");
  files.push_back(directory / "cluster.toml");
  // Checked before anything is written, so a refusal leaves no half cluster.
  for (const std::filesystem::path& file : files) {
    const bool exists = std::filesystem::symlink_status(file, error).type() !=
                        std::filesystem::file_type::not_found;
    if (!exists) continue;
    if (!spec.force) {
      return Status::error(file.string() + ": already exists; use --force to replace the cluster");
    }
    if (!std::filesystem::remove(file, error) || error) {
      return Status::error(file.string() + ": cannot remove: " + error.message());
    }
  }

  std::vector<PublicKey> replica_keys;
  std::vector<PublicKey> client_keys;
  for (size_t i = 0; i < spec.replicas + size_t{spec.clients}; i++) {
    KeyPair pair = sodium::generate_keypair();
    Seed seed{};
    // An Ed25519 secret key is seed || public key.
    std::copy_n(pair.secret_key.begin(), seed_size, seed.begin());
    sodium_memzero(pair.secret_key.data(), pair.secret_key.size());
    Status s = write_secret_key(files[i], seed);
    sodium_memzero(seed.data(), seed.size());
    if (!s) return s;
    (i < spec.replicas ? replica_keys : client_keys).push_back(pair.public_key);
  }
  Seed bucket_secret{};
  randombytes_buf(bucket_secret.data(), bucket_secret.size());
  Status written = write_secret_key(files[files.size() - 2], bucket_secret);
  sodium_memzero(bucket_secret.data(), bucket_secret.size());
  if (!written) return written;
  const std::string toml = cluster_toml(spec, replica_keys, client_keys);
  if (Status s = write_new_file(files.back(), toml, 0644, /*exact_mode=*/false); !s) return s;
  return files;
}

}  // namespace pbft
