// Every limit of the system in one place. Decoders check peer input against
// these; the core sizes its buffers by them. The static_asserts say how the
// limits relate, so changing one cannot silently break another.
#pragma once

#include <cstddef>
#include <cstdint>

#include "pbft/types.h"

namespace pbft::constants {

// Wire header.
constexpr uint32_t wire_magic = 0x54464250;  // "PBFT" little-endian
constexpr uint8_t wire_version = 5;  // 2: FETCH, FETCH-REPLY, STATUS.recovering; 3: STATUS.view_changing;
                                     // 4: REQUEST.replier, digest replies, tags over D(request);
                                     // 5: STATUS.counter, FETCH.counter (freshness)
constexpr size_t header_size = 16;  // magic u32, version u8, type u8, reserved u16, sender u32, length u32

// Membership.
constexpr uint32_t replicas_max = 64;     // n; f = (n-1)/3
constexpr uint32_t clients_max = 1u << 16;

// Client requests and replies.
constexpr size_t operation_size_max = 64 * 1024;
constexpr size_t result_size_max = 64 * 1024;

// Batches: how many requests one pre-prepare may carry.
constexpr size_t batch_requests_max = 1024;
constexpr size_t request_encoded_size_max =
    64 + operation_size_max + replicas_max * mac_size + signature_size;
constexpr size_t batch_bytes_max = 4 * 1024 * 1024;
// The primary's batches are byte-fair between clients (request_queue.h): a
// held request larger than this waits one batch for each further this
// much of it, while smaller ones go in the next batch.
constexpr size_t batch_quantum_bytes = 16 * 1024;

// The log window L = H - h, in sequence numbers.
constexpr uint64_t log_window_max = 4096;
// Sequence numbers the primary may have in flight at once (<= window).
constexpr uint64_t in_flight_max = log_window_max;

// A message on the wire, header included, never exceeds this: a
// pre-prepare's fixed fields (116 bytes) and a full batch fit.
constexpr size_t pre_prepare_fixed_size_max = 256;
constexpr size_t message_size_max = header_size + pre_prepare_fixed_size_max + batch_bytes_max;

// View change: certificates per VIEW-CHANGE (one per sequence number in
// the window) and checkpoints in its proof. A replica accepts VIEW-CHANGE
// messages for views at most view_ahead_max above its own (a NEW-VIEW,
// which proves its view with 2f+1 VIEW-CHANGEs, for any higher view), and
// keeps one per sender: the highest. View-change timeouts double at most
// view_change_backoff_max times in a row.
constexpr size_t view_change_prepared_max = log_window_max;
constexpr size_t checkpoint_proof_max = replicas_max;
constexpr uint64_t view_ahead_max = 1u << 16;
constexpr uint32_t view_change_backoff_max = 6;

// Requests a replica holds while they wait to be ordered (at most one per
// client), by count and by bytes.
constexpr size_t pending_requests_max = 4096;
constexpr size_t pending_bytes_max = 64 * 1024 * 1024;

// State transfer (PBFT.md "State transfer"). A partition's encoding is at
// most partition_size_max bytes and is fetched in chunks of at most
// fetch_chunk_max; a fetching replica keeps at most fetch_in_flight_max
// requests outstanding and assembles at most fetch_assembly_bytes_max bytes
// of partitions at once.
constexpr size_t partition_size_max = 64 * 1024 * 1024;
constexpr size_t fetch_chunk_max = 1024 * 1024;
constexpr size_t fetch_in_flight_max = 16;
constexpr size_t fetch_assembly_bytes_max = 2 * partition_size_max;
// Serving state transfer: per peer and tick, at most this many fetches are
// answered and at most this many partition bytes read to answer them (a
// partition is read whole to answer any chunk of it), so a faulty peer
// cannot make a replica do unbounded work.
constexpr uint32_t fetch_serve_count_per_tick = 1024;
constexpr size_t fetch_serve_bytes_per_tick = 64 * 1024 * 1024;
// The state tree's fan-out, and the most digests a FETCH-REPLY may carry
// (a correct one carries one node's children: at most the fan-out).
constexpr uint32_t state_tree_fanout = 16;
constexpr size_t fetch_digests_max = 256;
// Partitions of the last-reply table (by client id), leaves of the state
// tree beside the service's partitions.
constexpr uint64_t reply_partitions = 256;
// Checkpoint claims a replica keeps per peer above what it executed (to
// find a stable checkpoint it has not reached: state transfer).
constexpr size_t checkpoint_claims_per_replica_max = 4;

// Status-driven retransmission: at most this many sequence numbers are
// resent to one lagging peer per status message.
constexpr uint64_t retransmit_seqs_max = 64;
// Freshness of FETCHes (an anti-replay window, as IPsec's): a replica
// serves a FETCH whose counter is among the last fetch_replay_window
// counters seen from its sender and not seen before, so fetches that the
// network reorders within the window are still served, and none twice.
constexpr uint64_t fetch_replay_window = 64;
static_assert(fetch_replay_window >= 2 * fetch_in_flight_max,
              "a fetcher's requests in flight fit in the window");

// The TCP runtime (src/runtime). A frame on a connection is exactly one
// wire message (its header carries the body length), so the largest frame
// is message_size_max; a header announcing more closes the connection.
constexpr size_t frame_size_max = message_size_max;
// Per-connection send queues: when one is full, a new frame is dropped and
// counted (PBFT tolerates loss; retransmission recovers it). A frame is
// always accepted into an empty queue, so any one message fits.
constexpr size_t peer_send_queue_frames_max = 8192;
constexpr size_t peer_send_queue_bytes_max = 64 * 1024 * 1024;
constexpr size_t client_send_queue_frames_max = 256;
constexpr size_t client_send_queue_bytes_max = 2 * 1024 * 1024;
// Frames read but not yet handed to the core (being verified or waiting for
// an earlier frame of their connection): per connection by count, and over
// all connections by bytes. Past either limit the runtime stops reading.
constexpr size_t verify_frames_per_connection_max = 64;
constexpr size_t verify_bytes_max = 128 * 1024 * 1024;
// Of that, connections that have not yet delivered an authentic frame may
// hold at most this much, so that strangers cannot starve known peers.
constexpr size_t verify_bytes_unauthenticated_max = 16 * 1024 * 1024;
// And authenticated clients at most this much, so that clients (however
// many, whatever they send) cannot starve the replicas' traffic: a replica
// always has the rest.
constexpr size_t verify_bytes_clients_max = 64 * 1024 * 1024;
// A client connection may carry up to this many consecutive client ids (a
// load generator's or a proxy's sessions), so that replies to many clients
// share one connection and leave in few writes. Its send queue grows with
// the group: per client id, this many more frames and bytes.
constexpr size_t client_group_max = 1024;
constexpr size_t client_group_frames_per_client = 4;
constexpr size_t client_group_bytes_per_client = 16 * 1024;
// Connections one listener keeps at once; past it, the oldest connection
// that never delivered an authentic frame is closed to make room.
constexpr size_t connections_per_listener_max = 1024;
// Of those, one remote address may hold at most this many (a flood from one
// address cannot take the table), and one principal (a replica, a client
// id) this many: a new one past it closes its oldest.
constexpr size_t connections_per_address_max = 256;
constexpr size_t connections_per_principal_max = 4;
// Addresses whose connections failed authentication and are refused for a
// while (back-off): at most this many are remembered, the oldest forgotten.
constexpr size_t backoff_addresses_max = 4096;
static_assert(connections_per_address_max <= connections_per_listener_max);

static_assert(pending_bytes_max >= batch_bytes_max, "the pending queue must hold a full batch");
static_assert(fetch_chunk_max + 4096 < message_size_max, "a fetch reply fits in a message");
static_assert(fetch_assembly_bytes_max >= partition_size_max, "one partition must fit");
static_assert(fetch_serve_bytes_per_tick >= partition_size_max,
              "the largest partition must be servable within one tick's budget");
static_assert(state_tree_fanout >= 2 && state_tree_fanout <= fetch_digests_max,
              "a node's children must fit in one fetch reply");
static_assert(replicas_max >= 4, "PBFT needs n >= 3f+1 with f >= 1");
static_assert(in_flight_max <= log_window_max, "in-flight batches must fit in the log window");
static_assert(request_encoded_size_max <= batch_bytes_max, "one request must fit in a batch");
static_assert(batch_bytes_max + header_size < message_size_max, "a batch must fit in a message");
static_assert(operation_size_max <= UINT32_MAX && result_size_max <= UINT32_MAX);
static_assert(verify_bytes_max >= 2 * frame_size_max, "the verification budget holds a frame");
static_assert(verify_bytes_unauthenticated_max >= frame_size_max &&
                  verify_bytes_unauthenticated_max <= verify_bytes_max / 2,
              "a stranger's first frame fits, and strangers leave room for known peers");
static_assert(verify_bytes_clients_max >= frame_size_max &&
                  verify_bytes_clients_max + verify_bytes_unauthenticated_max < verify_bytes_max,
              "clients and strangers together leave the replicas part of the budget");
static_assert(client_send_queue_bytes_max >= header_size + 1024 + result_size_max,
              "a client queue holds a full reply");

}  // namespace pbft::constants
