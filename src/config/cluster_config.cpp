// Reading and validating the cluster file (format in cluster_config.h).
#include "pbft/cluster_config.h"

#include <sodium.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <toml++/toml.h>
#include <utility>

#include "hex.h"
#include "pbft/assert.h"
#include "pbft/client.h"

namespace pbft {

namespace {

// The top-level keys that are not knobs: f (the cluster's shape, required)
// and the tables of principals.
constexpr std::string_view structure_keys[] = {"f", "replicas", "clients"};
constexpr std::string_view replica_keys[] = {"id",         "host",    "port", "listen",
                                             "public_key", "key_file"};
constexpr std::string_view client_keys[] = {"id", "public_key", "key_file"};

// ClientOptions' doubling stops at retransmit_ticks_max; the first timeout,
// the file's client_retransmit_ticks, must not exceed it.
static_assert(knob(KnobId::client_retransmit_ticks).max == ClientOptions{}.retransmit_ticks_max);

template <size_t N>
bool contains(const std::string_view (&list)[N], std::string_view key) {
  for (std::string_view k : list) {
    if (k == key) return true;
  }
  return false;
}

// A key of the top level: f, a table of principals, a top-level knob, or a
// knob table such as [kv].
bool top_level_key(std::string_view key) {
  if (contains(structure_keys, key)) return true;
  for (const Knob& k : knob_table) {
    if ((k.section.empty() ? k.name : k.section) == key) return true;
  }
  return false;
}

std::string type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a floating-point number";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    case toml::node_type::none: break;
  }
  return "nothing";
}

// Reads one file's values; every error it makes names the file and the key.
class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  Status error(std::string_view key, std::string_view problem) const {
    return Status::error(file_ + ": " + std::string(key) + ": " + std::string(problem));
  }

  // An integer in min..max at table[name], or `fallback` when absent (a
  // required key has no fallback).
  Status integer(const toml::table& table, std::string_view name, const std::string& key,
                 uint64_t min, uint64_t max, std::optional<uint64_t> fallback,
                 uint64_t& out) const {
    const toml::node* node = table.get(name);
    if (node == nullptr) {
      if (!fallback) return error(key, "is required but missing");
      out = *fallback;
      return Status::ok();
    }
    const toml::value<int64_t>* value = node->as_integer();
    if (value == nullptr) return error(key, "must be an integer, got " + type_name(*node));
    const int64_t v = value->get();
    if (v < 0 || static_cast<uint64_t>(v) < min || static_cast<uint64_t>(v) > max) {
      return error(key, "must be in " + std::to_string(min) + ".." + std::to_string(max) +
                            ", got " + std::to_string(v));
    }
    out = static_cast<uint64_t>(v);
    return Status::ok();
  }

  Status string(const toml::table& table, std::string_view name, const std::string& key,
                std::optional<std::string> fallback, std::string& out) const {
    const toml::node* node = table.get(name);
    if (node == nullptr) {
      if (!fallback) return error(key, "is required but missing");
      out = *fallback;
      return Status::ok();
    }
    const toml::value<std::string>* value = node->as_string();
    if (value == nullptr) return error(key, "must be a string, got " + type_name(*node));
    out = value->get();
    return Status::ok();
  }

  Status public_key(const toml::table& table, const std::string& key_prefix,
                    PublicKey& out) const {
    std::string text;
    const std::string key = key_prefix + ".public_key";
    if (Status s = string(table, "public_key", key, std::nullopt, text); !s) return s;
    if (!config::parse_hex(text, out)) {
      return error(key, "must be " + std::to_string(2 * public_key_size) +
                            " hex characters, got \"" + text + "\"");
    }
    if (crypto_core_ed25519_is_valid_point(out.data()) != 1) {
      return error(key, "is not a valid Ed25519 public key: \"" + text + "\"");
    }
    return Status::ok();
  }

  Status unknown_keys(const toml::table& table, const std::string& key_prefix,
                      bool (*known)(std::string_view)) const {
    for (const auto& [name, node] : table) {
      if (!known(name.str())) {
        const std::string key = key_prefix.empty() ? std::string(name.str())
                                                   : key_prefix + "." + std::string(name.str());
        return error(key, "is not a known key (a typo?)");
      }
    }
    return Status::ok();
  }

  // The array of tables at table[name]; absent means empty.
  Status tables(const toml::table& table, std::string_view name,
                std::vector<const toml::table*>& out) const {
    const toml::node* node = table.get(name);
    if (node == nullptr) return Status::ok();
    const toml::array* array = node->as_array();
    if (array == nullptr) {
      return error(name, "must be an array of tables ([[" + std::string(name) + "]]), got " +
                             type_name(*node));
    }
    for (size_t i = 0; i < array->size(); i++) {
      const toml::table* entry = array->get(i)->as_table();
      if (entry == nullptr) {
        return error(std::string(name) + "[" + std::to_string(i) + "]",
                     "must be a table, got " + type_name(*array->get(i)));
      }
      out.push_back(entry);
    }
    return Status::ok();
  }

 private:
  std::string file_;
};

Status read_f(const Reader& r, const toml::table& root, ClusterConfig& c) {
  uint64_t v = 0;
  if (Status s = r.integer(root, "f", "f", 1, (constants::replicas_max - 1) / 3, std::nullopt, v);
      !s) {
    return s;
  }
  c.protocol.f = static_cast<uint32_t>(v);
  return Status::ok();
}

// Every knob of the table from its place in the file (its section's table,
// which must be a table), or its default when the file leaves it out.
Status read_knobs(const Reader& r, const toml::table& root, ClusterConfig& c) {
  for (const Knob& k : knob_table) {
    const toml::table* table = &root;
    if (!k.section.empty()) {
      const toml::node* section = root.get(k.section);
      table = section != nullptr ? section->as_table() : nullptr;
      if (section != nullptr && table == nullptr) {
        return r.error(k.section, "must be a table ([" + std::string(k.section) + "]), got " +
                                      type_name(*section));
      }
    }
    const toml::node* node = table != nullptr ? table->get(k.name) : nullptr;
    const std::string key = knob_key(k);
    uint64_t value = k.default_value;
    if (node != nullptr) {
      Result<uint64_t> checked = Status::error("");
      if (k.choices.empty()) {
        const toml::value<int64_t>* integer = node->as_integer();
        if (integer == nullptr) return r.error(key, "must be an integer, got " + type_name(*node));
        checked = check_knob_integer(k, integer->get());
      } else {
        const toml::value<std::string>* word = node->as_string();
        if (word == nullptr) return r.error(key, "must be a string, got " + type_name(*node));
        checked = check_knob_word(k, word->get());
      }
      if (!checked) return r.error(key, checked.reason());
      value = checked.value();
    }
    set_knob(c, k.id, value);
  }
  return Status::ok();
}

// Unknown keys at the top level and in the knob tables; a removed spelling
// is an error that names the new one.
Status check_keys(const Reader& r, const toml::table& root) {
  for (const auto& [name, node] : root) {
    for (const RenamedSpelling& renamed : renamed_knob_keys) {
      if (name.str() == renamed.old_spelling) {
        return r.error(name.str(), "has moved: it is now " + std::string(renamed.new_spelling));
      }
    }
  }
  if (Status s = r.unknown_keys(root, "", top_level_key); !s) return s;
  for (const Knob& k : knob_table) {
    if (k.section.empty()) continue;
    const toml::node* section = root.get(k.section);
    const toml::table* table = section != nullptr ? section->as_table() : nullptr;
    if (table == nullptr) continue;  // absent, or not a table (read_knobs says so)
    const std::string_view section_name = k.section;
    for (const auto& [name, node] : *table) {
      bool known = section_name == "kv" && name.str() == "bucket_key_file";  // not a knob
      for (const Knob& other : knob_table) known = known || (other.section == section_name &&
                                                             other.name == name.str());
      if (!known) {
        return r.error(std::string(section_name) + "." + std::string(name.str()),
                       "is not a known key (a typo?)");
      }
    }
  }
  return Status::ok();
}

// A listen address: "address", "address:port", "[v6 address]" or
// "[v6 address]:port"; a bare IPv6 address (more than one colon) has no
// port. The port defaults to `port`. Fails with the problem.
Status parse_listen(const std::string& text, uint16_t port, std::string& host_out,
                    uint16_t& port_out) {
  std::string host = text;
  std::string port_text;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string::npos) return Status::error("has a '[' without its ']'");
    host = text.substr(1, close - 1);
    const std::string rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return Status::error("must be [address]:port after the ']'");
      port_text = rest.substr(1);
      if (port_text.empty()) return Status::error("has a ':' without a port");
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    const size_t colon = text.find(':');
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (port_text.empty()) return Status::error("has a ':' without a port");
  }
  if (host.empty()) return Status::error("must name an address, got \"" + text + "\"");
  port_out = port;
  if (!port_text.empty()) {
    uint32_t value = 0;
    for (char ch : port_text) {
      if (ch < '0' || ch > '9' || value > 65535) {
        return Status::error("port must be in 1..65535, got \"" + port_text + "\"");
      }
      value = value * 10 + static_cast<uint32_t>(ch - '0');
    }
    if (value < 1 || value > 65535) {
      return Status::error("port must be in 1..65535, got \"" + port_text + "\"");
    }
    port_out = static_cast<uint16_t>(value);
  }
  host_out = host;
  return Status::ok();
}

std::filesystem::path resolve(const std::filesystem::path& directory, const std::string& path) {
  const std::filesystem::path p(path);
  return p.is_absolute() ? p : directory / p;
}

// [kv] bucket_key_file: a path (read_knobs has checked that [kv], if
// present, is a table).
Status read_bucket_key_file(const Reader& r, const toml::table& root, ClusterConfig& c) {
  const toml::node* section = root.get("kv");
  const toml::table* kv = section != nullptr ? section->as_table() : nullptr;
  if (kv == nullptr) return Status::ok();
  std::string path;
  if (Status s = r.string(*kv, "bucket_key_file", "kv.bucket_key_file", "", path); !s) return s;
  if (!path.empty()) c.kv.bucket_key_file = resolve(c.directory, path);
  return Status::ok();
}

Status read_replicas(const Reader& r, const toml::table& root, ClusterConfig& c) {
  std::vector<const toml::table*> tables;
  if (Status s = r.tables(root, "replicas", tables); !s) return s;
  const uint32_t f = c.protocol.f;
  if (tables.size() != 3 * static_cast<size_t>(f) + 1) {
    return r.error("replicas", "n must be 3f+1 = " + std::to_string(3 * f + 1) + " for f = " +
                                   std::to_string(f) + ", but " + std::to_string(tables.size()) +
                                   " replicas are listed");
  }
  const size_t n = tables.size();
  c.protocol.n = static_cast<uint32_t>(n);
  std::vector<std::optional<ReplicaEndpoint>> by_id(n);
  std::map<std::pair<std::string, uint16_t>, size_t> endpoints;
  for (size_t i = 0; i < n; i++) {
    const toml::table& t = *tables[i];
    const std::string prefix = "replicas[" + std::to_string(i) + "]";
    if (Status s = r.unknown_keys(
            t, prefix, [](std::string_view k) { return contains(replica_keys, k); });
        !s) {
      return s;
    }
    ReplicaEndpoint e;
    uint64_t v = 0;
    if (Status s = r.integer(t, "id", prefix + ".id", 0, n - 1, std::nullopt, v); !s) return s;
    e.id = static_cast<ReplicaId>(v);
    if (by_id[e.id]) {
      return r.error(prefix + ".id", "replica id " + std::to_string(e.id) +
                                         " is listed twice (ids must be exactly 0.." +
                                         std::to_string(n - 1) + ")");
    }
    if (Status s = r.string(t, "host", prefix + ".host", std::nullopt, e.host); !s) return s;
    if (e.host.empty()) return r.error(prefix + ".host", "must not be empty");
    if (Status s = r.integer(t, "port", prefix + ".port", 1, 65535, std::nullopt, v); !s) return s;
    e.port = static_cast<uint16_t>(v);
    const auto [it, inserted] = endpoints.try_emplace({e.host, e.port}, i);
    if (!inserted) {
      return r.error(prefix + ".port", e.host + ":" + std::to_string(e.port) +
                                           " is already used by replicas[" +
                                           std::to_string(it->second) + "]");
    }
    // Where it listens: never every interface unless the file says so.
    std::string listen;
    if (Status s = r.string(t, "listen", prefix + ".listen", e.host, listen); !s) return s;
    if (Status s = parse_listen(listen, e.port, e.listen_host, e.listen_port); !s) {
      return r.error(prefix + ".listen", s.reason());
    }
    if (Status s = r.public_key(t, prefix, e.public_key); !s) return s;
    std::string key_file;
    if (Status s = r.string(t, "key_file", prefix + ".key_file", "", key_file); !s) return s;
    if (!key_file.empty()) e.key_file = resolve(c.directory, key_file);
    by_id[e.id] = std::move(e);
  }
  // n entries with distinct ids in 0..n-1: every id is present.
  for (std::optional<ReplicaEndpoint>& e : by_id) c.replicas.push_back(std::move(*e));
  return Status::ok();
}

Status read_clients(const Reader& r, const toml::table& root, ClusterConfig& c) {
  std::vector<const toml::table*> tables;
  if (Status s = r.tables(root, "clients", tables); !s) return s;
  if (tables.size() > constants::clients_max) {
    return r.error("clients", "at most " + std::to_string(constants::clients_max) +
                                  " clients may be listed, got " + std::to_string(tables.size()));
  }
  for (size_t i = 0; i < tables.size(); i++) {
    const toml::table& t = *tables[i];
    const std::string prefix = "clients[" + std::to_string(i) + "]";
    if (Status s = r.unknown_keys(
            t, prefix, [](std::string_view k) { return contains(client_keys, k); });
        !s) {
      return s;
    }
    uint64_t v = 0;
    if (Status s = r.integer(t, "id", prefix + ".id", 0, constants::clients_max - 1,
                             std::nullopt, v);
        !s) {
      return s;
    }
    const ClientId id = static_cast<ClientId>(v);
    if (c.clients.count(id) != 0) {
      return r.error(prefix + ".id", "client id " + std::to_string(id) + " is listed twice");
    }
    PublicKey key{};
    if (Status s = r.public_key(t, prefix, key); !s) return s;
    c.clients.emplace(id, key);
    std::string key_file;
    if (Status s = r.string(t, "key_file", prefix + ".key_file", "", key_file); !s) return s;
    if (!key_file.empty()) c.client_key_files.emplace(id, resolve(c.directory, key_file));
  }
  return Status::ok();
}

// make_crypto derives pairwise MAC keys from the public keys; two principals
// sharing one key could impersonate each other.
Status check_distinct_keys(const Reader& r, const ClusterConfig& c) {
  std::map<PublicKey, std::string> owners;
  for (size_t i = 0; i < c.replicas.size(); i++) {
    const std::string key = "replicas[" + std::to_string(i) + "].public_key";
    const auto [it, inserted] = owners.try_emplace(c.replicas[i].public_key, key);
    if (!inserted) return r.error(key, "is the same key as " + it->second);
  }
  // Clients are reported by id: their table order is not kept in the map.
  for (const auto& [id, public_key] : c.clients) {
    const std::string key = "clients (id " + std::to_string(id) + ").public_key";
    const auto [it, inserted] = owners.try_emplace(public_key, key);
    if (!inserted) return r.error(key, "is the same key as " + it->second);
  }
  return Status::ok();
}

// The first word of ProtocolConfig::validate()'s reason is the field; it is
// the TOML key for every field the file sets (a top-level knob, or f).
std::string protocol_key(const std::string& reason) {
  const std::string word = reason.substr(0, reason.find(' '));
  return word != "replicas" && word != "clients" && top_level_key(word) ? word
                                                                        : std::string("replicas");
}

}  // namespace

// The host's and the KV's knobs; the protocol's are ProtocolConfig's (whose
// switches have no default case, so a protocol knob without a field is a
// compiler error). A host or KV knob without a field here fails the test that
// round-trips every knob through the cluster file.
uint64_t knob_value(const ClusterConfig& c, KnobId id) {
  switch (knob(id).group) {
    case KnobGroup::protocol: return knob_value(c.protocol, id);
    case KnobGroup::host:
    case KnobGroup::kv: break;
  }
  switch (id) {
    case KnobId::tick_ms: return c.tick_ms;
    case KnobId::client_retransmit_ticks: return c.client_retransmit_ticks;
    case KnobId::log_level:
      return check_knob_word(knob(id), c.log_level).value();  // a valid word, by set_knob
    case KnobId::durability: return c.durability;
    case KnobId::encryption: return c.encryption;
    case KnobId::kv_partitions: return c.kv.partitions;
    case KnobId::kv_bytes_max: return c.kv.bytes_max;
    case KnobId::kv_client_bytes_max: return c.kv.client_bytes_max;
    default: break;  // protocol knobs, above
  }
  PBFT_ASSERT(false && "a knob without a field");
  return 0;
}

void set_knob(ClusterConfig& c, KnobId id, uint64_t value) {
  const Knob& k = knob(id);
  PBFT_ASSERT(value >= k.min && value <= k.max);
  if (k.group == KnobGroup::protocol) return set_knob(c.protocol, id, value);
  switch (id) {
    case KnobId::tick_ms: c.tick_ms = static_cast<uint32_t>(value); return;
    case KnobId::client_retransmit_ticks: c.client_retransmit_ticks = value; return;
    case KnobId::log_level: c.log_level = std::string(k.choices[value]); return;
    case KnobId::durability: c.durability = static_cast<uint32_t>(value); return;
    case KnobId::encryption: c.encryption = static_cast<uint32_t>(value); return;
    case KnobId::kv_partitions: c.kv.partitions = value; return;
    case KnobId::kv_bytes_max: c.kv.bytes_max = value; return;
    case KnobId::kv_client_bytes_max: c.kv.client_bytes_max = value; return;
    default: break;  // protocol knobs, above
  }
  PBFT_ASSERT(false && "a knob without a field");
}

KeyDirectory ClusterConfig::key_directory() const {
  KeyDirectory keys;
  for (const ReplicaEndpoint& e : replicas) keys.replicas.push_back(e.public_key);
  for (const auto& [id, key] : clients) keys.clients.emplace(id, key);
  return keys;
}

Result<ClusterConfig> load_cluster_config(const std::filesystem::path& file) {
  sodium::initialize();
  const std::string name = file.string();
  std::ifstream in(file, std::ios::binary);
  if (!in) return Status::error(name + ": cannot open the cluster file (missing or unreadable)");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::error(name + ": cannot read the cluster file");

  toml::table root;
  try {
    root = toml::parse(text.str(), name);
  } catch (const toml::parse_error& e) {
    const toml::source_position at = e.source().begin;
    return Status::error(name + ":" + std::to_string(at.line) + ":" +
                         std::to_string(at.column) + ": TOML syntax error: " +
                         std::string(e.description()));
  }

  const Reader r(name);
  ClusterConfig c;
  c.directory = file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
  if (Status s = check_keys(r, root); !s) return s;
  if (Status s = read_f(r, root, c); !s) return s;
  if (Status s = read_knobs(r, root, c); !s) return s;
  if (Status s = read_bucket_key_file(r, root, c); !s) return s;
  if (Status s = read_replicas(r, root, c); !s) return s;
  if (Status s = read_clients(r, root, c); !s) return s;
  if (Status s = check_distinct_keys(r, c); !s) return s;
  // The rules between fields (log_window >= checkpoint_interval,
  // in_flight_max <= log_window, ...) live in one place.
  if (Status s = c.protocol.validate(); !s) return r.error(protocol_key(s.reason()), s.reason());
  return c;
}

}  // namespace pbft
