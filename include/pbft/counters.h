// The replica core's counters, declared once (STYLE.md, "one list, one
// place"): every consumer (status.json, logs, the simulator's report,
// /metrics) walks these tables instead of naming the fields again, so none
// can drift or forget one.
//
// Each table entry is X(name, help): the field's name (also its key in
// JSON) and one line of what it counts.
//
// Drops have one reason code each (STYLE.md, "a drop says why"): a test
// asserts the rule that fired, not merely that something was ignored.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace pbft {

// What the replica did, counted.
#define PBFT_REPLICA_COUNTERS(X)                                                                 \
  X(retransmissions, "messages resent on a peer's STATUS")                                       \
  X(unchecked_prepares_forged, "prepares kept unchecked that failed the check before a relay")   \
  X(batches_left_unchecked, "pre-prepares whose requests were left to the others' certificate")  \
  X(batches_checked_late, "batches left unchecked whose certificate came late: checked here")    \
  X(checkpoints_taken, "checkpoints this replica took")                                          \
  X(checkpoints_stable, "checkpoints that became stable here")                                   \
  X(state_transfers_started, "state transfers begun")                                            \
  X(state_transfers_completed, "state transfers that installed their checkpoint")                \
  X(fetch_bytes_received, "partition bytes and tree digests received over all transfers")        \
  X(fetch_replies_rejected, "fetch replies that did not match the proven digests")               \
  X(fetches_served, "fetches this replica answered")                                             \
  X(batches_executed, "batches executed")                                                        \
  X(requests_executed, "requests executed (fresh ones: exactly-once skips excluded)")            \
  X(view_changes_started, "VIEW-CHANGEs this replica sent (or views it entered)")                \
  X(primaries_too_slow, "views left: the primary ordered under half the recent best while clients waited") \
  X(primaries_untried, "views left to measure another primary: clients waited, none other measured") \
  X(new_views_installed, "NEW-VIEWs installed")                                                  \
  X(batches_adopted, "batches of NEW-VIEW slots received afterwards")

// Why an input was dropped. Grouped by the message it concerns; the help
// text names the rule.
#define PBFT_DROP_REASONS(X)                                                                     \
  X(own_message, "a message in this replica's own name (a replay of what it sent)")              \
  X(not_for_replicas, "a message type replicas do not take (a reply)")                           \
  X(request_old, "a request below its client's last executed timestamp")                        \
  X(request_ordered, "a request already in a batch (its reply will come)")                       \
  X(reply_rate_limited, "an executed request seen again within a status interval of its client's last re-sent reply") \
  X(request_superseded, "a request older than the one its client has pending")                   \
  X(request_pending_full, "no room for the request: too many pending requests or bytes")        \
  X(pre_prepare_not_primary, "a pre-prepare not from its view's primary")                        \
  X(pre_prepare_batch_mismatch, "a batch offered for a NEW-VIEW slot without the slot's digest") \
  X(pre_prepare_wrong_view, "a pre-prepare of another view, or while changing views")            \
  X(pre_prepare_outside_window, "a pre-prepare outside the watermarks (h, H]")                   \
  X(pre_prepare_equivocation, "a second pre-prepare for a slot, with another digest")            \
  X(pre_prepare_duplicate, "a pre-prepare the slot already has")                                 \
  X(pre_prepare_bad_digest, "a pre-prepare whose batch does not have its digest")                \
  X(pre_prepare_executed, "a pre-prepare for a sequence number already executed")                \
  X(pre_prepare_bad_request, "a batch left unchecked with a request that is not authentic")      \
  X(prepare_wrong_view, "a prepare of another view, or while changing views")                    \
  X(prepare_outside_window, "a prepare outside the watermarks, or for a slot executed and gone") \
  X(prepare_from_primary, "a prepare from the view's primary (its pre-prepare stands for it)")   \
  X(prepare_duplicate, "a second prepare from one sender for a slot")                            \
  X(commit_wrong_view, "a commit of another view, or while changing views")                      \
  X(commit_outside_window, "a commit outside the watermarks, or for a slot executed and gone")   \
  X(commit_duplicate, "a second commit from one sender for a slot")                              \
  X(checkpoint_off_interval, "a checkpoint at a sequence number that is not a checkpoint's")     \
  X(status_too_soon, "a STATUS within a status interval of the last one answered")               \
  X(status_replayed, "a STATUS no newer than the last one taken from its sender (a replay)")     \
  X(fetch_replayed, "a FETCH whose freshness counter its sender used already (a replay)")        \
  X(fetch_over_budget, "a fetch over this tick's serving budget for its sender")                 \
  X(fetch_not_held, "a fetch for a checkpoint this replica does not hold (any more)")            \
  X(fetch_bad_node, "a fetch for a tree node that does not exist")                               \
  X(fetch_bad_offset, "a fetch for bytes past the partition's end")                              \
  X(fetch_reply_not_fetching, "a fetch reply for no transfer, or for another target")            \
  X(fetch_reply_unasked, "a fetch reply not asked of this sender (late or forged)")              \
  X(view_change_stale, "a VIEW-CHANGE for a view not above this replica's")                      \
  X(view_change_too_far, "a VIEW-CHANGE for a view too far ahead (constants::view_ahead_max)")   \
  X(view_change_not_newer, "a VIEW-CHANGE not above its sender's last one")                      \
  X(view_change_oversized, "a VIEW-CHANGE larger than n, f and L allow (proof, certificates)")    \
  X(view_change_invalid, "an invalid VIEW-CHANGE (bad checkpoint proof or certificate)")         \
  X(new_view_stale, "a NEW-VIEW for a view not above this replica's")                            \
  X(new_view_oversized, "a NEW-VIEW with more VIEW-CHANGEs or pre-prepares than n and L allow")  \
  X(new_view_invalid, "an invalid NEW-VIEW (bad V, or O not what V implies)")

enum class DropReason : uint8_t {
#define PBFT_DROP_ENUM(name, help) name,
  PBFT_DROP_REASONS(PBFT_DROP_ENUM)
#undef PBFT_DROP_ENUM
};

inline constexpr size_t drop_reason_count = 0
#define PBFT_DROP_COUNT(name, help) +1
    PBFT_DROP_REASONS(PBFT_DROP_COUNT)
#undef PBFT_DROP_COUNT
    ;

struct DropReasonInfo {
  std::string_view name;
  std::string_view help;
};
inline constexpr std::array<DropReasonInfo, drop_reason_count> drop_reasons = {{
#define PBFT_DROP_INFO(name, help) {#name, help},
    PBFT_DROP_REASONS(PBFT_DROP_INFO)
#undef PBFT_DROP_INFO
}};

constexpr std::string_view name_of(DropReason r) {
  return drop_reasons[static_cast<size_t>(r)].name;
}

struct ReplicaCounters {
#define PBFT_COUNTER_FIELD(name, help) uint64_t name = 0;
  PBFT_REPLICA_COUNTERS(PBFT_COUNTER_FIELD)
#undef PBFT_COUNTER_FIELD
  // Inputs dropped, by reason (index: DropReason).
  std::array<uint64_t, drop_reason_count> drops{};

  void drop(DropReason r) { drops[static_cast<size_t>(r)]++; }
  uint64_t dropped(DropReason r) const { return drops[static_cast<size_t>(r)]; }
  uint64_t dropped_total() const {
    uint64_t sum = 0;
    for (uint64_t d : drops) sum += d;
    return sum;
  }
};

// Calls f(name, help, value) for every counter, in table order.
template <typename F>
void for_each_counter(const ReplicaCounters& c, F&& f) {
#define PBFT_COUNTER_VISIT(name, help) f(std::string_view(#name), std::string_view(help), c.name);
  PBFT_REPLICA_COUNTERS(PBFT_COUNTER_VISIT)
#undef PBFT_COUNTER_VISIT
}
// Calls f(reason name, help, count) for every drop reason, in table order.
template <typename F>
void for_each_drop(const ReplicaCounters& c, F&& f) {
  for (size_t i = 0; i < drop_reason_count; i++) {
    f(drop_reasons[i].name, drop_reasons[i].help, c.drops[i]);
  }
}

}  // namespace pbft
