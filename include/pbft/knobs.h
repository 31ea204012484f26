// The knobs of a cluster, in one table: every setting an operator or a
// command line may give, with its name, its default, its valid values and
// what it does. The cluster file's parser (cluster_config.h), the file
// `pbft keygen` writes, the defaults of ProtocolConfig and ClusterConfig,
// and the options of `pbft sim` and `pbft bench` are all generated from
// PBFT_KNOBS below, so a knob has one spelling and one default everywhere
// (STYLE.md, "one list, one place"). A knob added here appears in all of
// them; the switches that bind a knob to its field have no default case, so
// the compiler names any binding that is missing.
//
// Spelling: a knob's name is its key in cluster.toml, inside the file's
// [section] table when it has one ([kv] partitions); on a command line it
// is the same words with dashes for underscores and dots
// (client_auth -> --client-auth, kv.partitions -> --kv-partitions).
//
// f is not a knob: it is the cluster's shape, given with the [[replicas]]
// list (or a command line's --replicas), and has no default.
//
// Thread safety: everything here is constant or a pure function.
#pragma once

#include <cstdint>
#include <iterator>
#include <span>
#include <string>
#include <string_view>

#include "pbft/constants.h"
#include "pbft/status.h"

namespace pbft {

// Who reads a knob, and so where it may be given.
enum class KnobGroup : uint8_t {
  // A ProtocolConfig field, the same at every replica and client: in the
  // cluster file, and on the command lines that make a cluster of their
  // own (`pbft sim`, `pbft bench`).
  protocol,
  // The runtime host's (its clock, its clients' timer, its log): the
  // cluster file only.
  host,
  // The key-value service's, not the replication library's: the file's
  // [kv] table.
  kv,
};

// The words of the knobs that take one of a list; a value is stored as its
// index in the list.
namespace knob_choices {
// The index is RequestAuth's value (messages.h): authenticator, signature.
inline constexpr std::string_view client_auth[] = {"mac", "signature"};
inline constexpr std::string_view log_level[] = {"trace", "debug", "info", "warn", "error", "off"};
// The index is runtime::Durability's value.
inline constexpr std::string_view durability[] = {"none", "fsync"};
// The index is runtime::Encryption's value.
inline constexpr std::string_view encryption[] = {"none", "tls"};
}  // namespace knob_choices

// KNOB(id, name, group, section, default, min, max, choices, help), one
// entry per knob. `name` is the key inside `section`, the cluster file's
// table ("" for the top level); `id` is the name prefixed by the section. A
// knob with choices takes one of their words and its default, min and max
// are indices into them.
//
// client_auth defaults to signature, not mac, because of the big-MAC
// attack: a faulty client can send an authenticator whose MAC for the
// primary is right and whose MACs for the backups are wrong; the primary
// orders the request, every backup rejects the pre-prepare, and the
// correct primary is voted out, in every view. A signature is the same for
// every replica, so the primary's check is every backup's check. The price
// is one Ed25519 verification per request per replica (~47 us, ~100x a
// MAC); a cluster whose clients are all trusted may choose mac.
//
// The client retransmission timer doubles up to ClientOptions'
// retransmit_ticks_max (800): the first timeout must not exceed it.
#define PBFT_KNOBS(KNOB)                                                                           \
  KNOB(client_auth, client_auth, protocol, "", 1, 0, 1, knob_choices::client_auth,                 \
       "How clients authenticate requests: signature (Ed25519, closes the big-MAC attack) "        \
       "or mac (an authenticator, one MAC per replica: ~100x cheaper to verify, for "              \
       "trusted clients only)")                                                                    \
  KNOB(batch_size_max, batch_size_max, protocol, "", 256, 1, constants::batch_requests_max, {},    \
       "Requests the primary puts in one pre-prepare at most")                                     \
  KNOB(in_flight_max, in_flight_max, protocol, "", 16, 1, constants::in_flight_max, {},            \
       "Sequence numbers the primary keeps pre-prepared but not executed, at most (at "            \
       "most log_window)")                                                                         \
  KNOB(checkpoint_interval, checkpoint_interval, protocol, "", 128, 1,                             \
       constants::log_window_max, {}, "Checkpoint interval K, in sequence numbers")                \
  KNOB(log_window, log_window, protocol, "", 256, 1, constants::log_window_max, {},                \
       "Log window L = H - h, in sequence numbers (at least checkpoint_interval)")                 \
  KNOB(status_interval_ticks, status_interval_ticks, protocol, "", 10, 1, 1'000'000, {},           \
       "Ticks between a waiting replica's requests to its peers to retransmit")                    \
  KNOB(view_change_timeout_ticks, view_change_timeout_ticks, protocol, "", 200, 1, 1'000'000,      \
       {},                                                                                         \
       "Ticks a backup waits for a request to execute before it moves to the next view "           \
       "(doubles while views fail; at least status_interval_ticks)")                               \
  KNOB(tick_ms, tick_ms, host, "", 10, 1, 60'000, {},                                              \
       "Milliseconds per tick of the runtime's clock")                                             \
  KNOB(client_retransmit_ticks, client_retransmit_ticks, host, "", 50, 1, 800, {},                 \
       "Ticks a client waits for replies before it re-sends (doubling, up to 800)")                \
  KNOB(log_level, log_level, host, "", 2, 0, 5, knob_choices::log_level,                           \
       "The least severe log messages written")                                                    \
  KNOB(durability, durability, host, "", 1, 0, 1, knob_choices::durability,                        \
       "What a replica keeps on disk: fsync (its protocol state and service state, synced "        \
       "before it sends what depends on them; a restart resumes) or none (nothing: for "           \
       "benchmarks only, unsafe: a restart must recover from the others, and a power cut of "      \
       "f+1 replicas loses acknowledged writes)")                                                  \
  KNOB(encryption, encryption, host, "", 1, 0, 1, knob_choices::encryption,                        \
       "What protects the links: tls (TLS 1.3, each end proving its cluster key; encrypted) or "   \
       "none (cleartext, for benchmarks: each end still proves its key over fresh nonces, so a "   \
       "message's sender is still bound to its link, but anyone on the path reads and may "        \
       "change the bytes)")                                                                        \
  KNOB(kv_partitions, partitions, kv, "kv", 4096, 1, 1u << 20, {},                                 \
       "Partitions of the key-value store's state (the same at every replica)")                    \
  KNOB(kv_bytes_max, bytes_max, kv, "kv", uint64_t{4} << 30, uint64_t{1} << 20, uint64_t{1} << 44,  \
       {},                                                                                         \
       "Bytes the key-value store holds at most, all clients together (keys and values, plus "    \
       "64 per key; the same at every replica): a write past it fails with \"full\"")               \
  KNOB(kv_client_bytes_max, client_bytes_max, kv, "kv", uint64_t{256} << 20, 1024,                  \
       uint64_t{1} << 44, {},                                                                      \
       "Bytes of keys one client may own (the keys it wrote last, counted like bytes_max; the "    \
       "same at every replica): a write past it fails with \"quota\"")

enum class KnobId : uint8_t {
#define PBFT_KNOB_ID(id, name, group, section, fallback, min, max, choices, help) id,
  PBFT_KNOBS(PBFT_KNOB_ID)
#undef PBFT_KNOB_ID
};

struct Knob {
  KnobId id;
  std::string_view name;     // the key inside `section`
  KnobGroup group;
  std::string_view section;  // the cluster file's table; empty: the top level
  uint64_t default_value;    // for a choice knob, an index into choices
  uint64_t min;
  uint64_t max;
  std::span<const std::string_view> choices;  // empty: an integer in min..max
  std::string_view help;
};

inline constexpr Knob knob_table[] = {
#define PBFT_KNOB_ROW(id, name, group, section, fallback, min, max, choices, help) \
  {KnobId::id, #name, KnobGroup::group, section, fallback, min, max, choices, help},
    PBFT_KNOBS(PBFT_KNOB_ROW)
#undef PBFT_KNOB_ROW
};

constexpr const Knob& knob(KnobId id) { return knob_table[static_cast<size_t>(id)]; }
constexpr uint64_t knob_default(KnobId id) { return knob(id).default_value; }

// Every row is in range, and a choice knob's bounds are its list's.
consteval bool knob_table_is_consistent() {
  for (size_t i = 0; i < std::size(knob_table); i++) {
    const Knob& k = knob_table[i];
    if (static_cast<size_t>(k.id) != i) return false;
    if (k.min > k.default_value || k.default_value > k.max) return false;
    if (!k.choices.empty() && (k.min != 0 || k.max + 1 != k.choices.size())) return false;
  }
  return true;
}
static_assert(knob_table_is_consistent(), "a knob's default must be in its range");

// The knob's key in the cluster file ("client_auth", "kv.partitions") and
// its command-line flag ("--client-auth", "--kv-partitions").
std::string knob_key(const Knob& knob);
std::string knob_flag(const Knob& knob);

// A value as the file and the command line spell it: the number, or the
// choice's word. The file quotes a word (toml_text); a command line does not.
std::string knob_text(const Knob& knob, uint64_t value);
std::string knob_toml_text(const Knob& knob, uint64_t value);

// What the knob accepts, for help texts and errors: "1..1024", or
// "\"mac\" or \"signature\"".
std::string knob_valid_values(const Knob& knob);

// A value as a command line spells it: a decimal number in min..max, or one
// of the choices. Fails with a reason that says what is valid, and, for a
// word that was once documented, what it is spelled now.
Result<uint64_t> parse_knob(const Knob& knob, std::string_view text);
// The checks of parse_knob for a value already read as a number or a word
// (the cluster file's integers and strings).
Result<uint64_t> check_knob_integer(const Knob& knob, int64_t value);
Result<uint64_t> check_knob_word(const Knob& knob, std::string_view word);

// Spellings that were documented once and are no longer accepted. Each is an
// error that names its replacement: no silent aliases, so that every file,
// script and document converges on the one spelling.
struct RenamedSpelling {
  std::string_view old_spelling;
  std::string_view new_spelling;
};
// Command-line flags of `pbft sim` and `pbft bench`.
inline constexpr RenamedSpelling renamed_knob_flags[] = {
    {"--auth", "--client-auth"},
    {"--batch-size", "--batch-size-max"},
    {"--batch-max", "--batch-size-max"},
    {"--in-flight", "--in-flight-max"},
};
// Top-level keys of the cluster file.
inline constexpr RenamedSpelling renamed_knob_keys[] = {
    {"kv_partitions", "[kv] partitions"},
};
// Words of choice knobs.
inline constexpr RenamedSpelling renamed_knob_words[] = {
    {"authenticator", "mac"},
    {"sig", "signature"},
};

}  // namespace pbft
