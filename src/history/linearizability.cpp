// The linearizability checker for key-value histories.
//
// Linearizability is local (Herlihy and Wing, 1990): a history is
// linearizable iff its restriction to each object is. Each key is one object
// (every operation names exactly one key), so each key's sub-history is
// checked alone; this is the P-compositionality of Lowe ("Testing for
// linearizability", Concurrency and Computation 2017) and turns one
// exponential search into many small ones.
//
// Each key is searched with the Wing-Gong algorithm as improved by Lowe and
// implemented in porcupine: the history is a doubly linked list of call and
// return events in time order; the search repeatedly tries to linearize an
// operation whose call comes before every remaining return (lifting its call
// and return out of the list), and backtracks when it reaches a return whose
// operation it has not linearized. A configuration is the set of linearized
// operations plus the model state; a configuration seen before is never
// explored again, since what can follow depends on nothing else. On top of
// that, three reductions that change no verdict: a read that agrees with the
// state is taken without trying alternatives; candidates are tried in an
// order that finds a linearization sooner (Search::run); and pending writes
// that no read can have observed are dropped (unobserved_pending_writes).
//
// Operations whose outcome is unknown return "at infinity": they may be
// linearized at any point after their call, or never. The search therefore
// succeeds as soon as it reaches the return of such an operation: every
// operation that did complete lies before it in the list and has been lifted.
//
// When a key is not linearizable, the explanation names a short window of
// operations that alone (with the writes that overlap it made optional, and
// what precedes it summarized as a set of possible states) has no
// linearization, so a reader sees the few operations that conflict rather
// than the whole history. When the full search runs out of budget, small
// windows are searched too, so a local violation is still proven.

#include <algorithm>
#include <bit>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "pbft/assert.h"
#include "pbft/history.h"

namespace pbft::history {
namespace {

// --- Operations of one key ------------------------------------------------

// One operation of one key's sub-history, as the search sees it.
struct KeyOp {
  size_t entry = 0;                  // index in the caller's history, for explanations
  OpKind kind = OpKind::get;
  std::optional<std::string> value;  // put/append argument or get result (none: absent)
  uint64_t call_ns = 0;
  uint64_t return_ns = 0;            // meaningless when pending
  bool pending = false;              // may take effect at any time after its call, or never
  bool optional = false;             // may be left out (pending ones always may)
};

// --- Model states ---------------------------------------------------------

// The value of one key, as the sequential specification sees it. Besides
// the concrete states (absent, or a value), a window search may start from
// a state it knows only in part: present, with some value ending in a known
// suffix (what an append leaves when what it appended to is not known).
// Such a state only enlarges what the model allows, so a window found
// non-linearizable from it is non-linearizable from whatever state the real
// history reached.
//
// States are interned: each distinct state is stored once and named by a
// small id, which keeps the search's memo table small even when appends
// build long values. The text of a state is a tag byte and its bytes.
class States {
 public:
  static constexpr char absent_tag = 'a';
  static constexpr char value_tag = 'v';   // followed by the value
  static constexpr char suffix_tag = 's';  // present, some value ending in the bytes that follow

  States() { absent_ = intern(std::string(1, absent_tag)); }

  uint32_t intern(std::string text) {
    auto [it, inserted] = ids_.try_emplace(std::move(text), static_cast<uint32_t>(texts_.size()));
    // Elements of an unordered_map keep their address through rehashing.
    if (inserted) {
      texts_.push_back(&it->first);
      bytes_ += it->first.size() + interned_overhead;
    }
    return it->second;
  }

  uint32_t known(const std::optional<std::string>& value) {
    return value ? intern(value_tag + *value) : absent_;
  }
  uint32_t suffix(const std::string& bytes) { return intern(suffix_tag + bytes); }
  uint32_t absent() const { return absent_; }
  const std::string& text(uint32_t id) const { return *texts_.at(id); }
  // Roughly what the interned states use.
  size_t bytes() const { return bytes_; }

 private:
  static constexpr size_t interned_overhead = 96;  // map node, string, index entry

  std::unordered_map<std::string, uint32_t> ids_;
  std::vector<const std::string*> texts_;
  size_t bytes_ = 0;
  uint32_t absent_ = 0;
};

// An operation prepared for the model: the state ids it needs, computed once.
struct ModelOp {
  OpKind kind = OpKind::get;
  std::optional<std::string> value;
  uint32_t known_state = 0;  // get: the state its result shows; put: the state it leaves
};

// The sequential specification of one key (kv.h's Store::apply): get returns
// the value or null, put sets it, delete removes it, append concatenates
// (creating the key). Size limits are not modelled: an operation the store
// refused (too_large, malformed) did not take effect and belongs in the
// history as fail, which the checker ignores.
class Model {
 public:
  explicit Model(States& states) : states_(states) {}

  ModelOp prepare(const KeyOp& op) {
    ModelOp m{op.kind, op.value, 0};
    if (op.kind == OpKind::get || op.kind == OpKind::put) m.known_state = states_.known(op.value);
    return m;
  }

  // The state after `op` takes effect in `state`, or none if it cannot (a
  // get whose result disagrees with the state).
  std::optional<uint32_t> step(uint32_t state, const ModelOp& op, uint32_t op_index) {
    switch (op.kind) {
      case OpKind::get: return step_get(state, op);
      case OpKind::put: return op.known_state;
      case OpKind::del: return states_.absent();
      case OpKind::append: return step_append(state, op, op_index);
    }
    PBFT_ASSERT(false);
    return std::nullopt;
  }

 private:
  std::optional<uint32_t> step_get(uint32_t state, const ModelOp& op) {
    const std::string& text = states_.text(state);
    switch (text[0]) {
      case States::absent_tag:
      case States::value_tag:
        // Interning makes equal states equal ids.
        if (state == op.known_state) return state;
        return std::nullopt;
      case States::suffix_tag: {
        if (!op.value) return std::nullopt;  // an append made the key present
        const std::string_view suffix = std::string_view(text).substr(1);
        if (op.value->size() < suffix.size() ||
            op.value->compare(op.value->size() - suffix.size(), suffix.size(), suffix) != 0) {
          return std::nullopt;
        }
        return op.known_state;
      }
    }
    PBFT_ASSERT(false);
    return std::nullopt;
  }

  std::optional<uint32_t> step_append(uint32_t state, const ModelOp& op, uint32_t op_index) {
    // The search revisits the same (state, append) pairs when it backtracks;
    // remembering them avoids rebuilding long values.
    const uint64_t memo_key = (uint64_t{state} << 32) | op_index;
    if (auto it = appended_.find(memo_key); it != appended_.end()) return it->second;
    const std::string& text = states_.text(state);
    std::string next;
    switch (text[0]) {
      case States::absent_tag: next = States::value_tag + *op.value; break;
      case States::value_tag: next = text + *op.value; break;
      case States::suffix_tag: next = text + *op.value; break;
      default: PBFT_ASSERT(false);
    }
    const uint32_t id = states_.intern(std::move(next));
    appended_.emplace(memo_key, id);
    return id;
  }

  States& states_;
  std::unordered_map<uint64_t, uint32_t> appended_;
};

// --- Pending writes nobody saw ---------------------------------------------

// Marks the optional (pending or relaxed) writes that no read in `ops` can
// have observed; leaving them out changes no verdict, and the search no
// longer has to try them at every step (each one pending and unplaced can
// double the configurations).
//
// Why it is exact: take a linearization that includes such a write w. A
// read ordered after w, and before the next put or delete, sees a value that
// starts with a put's argument, contains an append's argument, or is absent
// after a delete with no append since. Any read ordered after w returned at
// or after w's call. So if no read that returned at or after w's call could
// have seen w's mark, no read sits between w and the next overwrite, and
// dropping w from the order changes no read's result. Conversely a history
// without w that is linearizable stays so with w left out. Writes of empty
// strings leave no mark and are kept.
std::vector<bool> unobserved_pending_writes(const std::vector<KeyOp>& ops) {
  std::vector<const KeyOp*> reads;
  std::vector<const KeyOp*> appends;
  for (const KeyOp& op : ops) {
    if (op.kind == OpKind::get && !op.pending) reads.push_back(&op);
    if (op.kind == OpKind::append) appends.push_back(&op);
  }
  auto any_read_after = [&](const KeyOp& w, auto&& saw) {
    return std::any_of(reads.begin(), reads.end(), [&](const KeyOp* r) {
      return r->return_ns >= w.call_ns && saw(r->value);
    });
  };
  std::vector<bool> unobserved(ops.size(), false);
  for (size_t i = 0; i < ops.size(); ++i) {
    const KeyOp& w = ops[i];
    if (!w.optional) continue;
    switch (w.kind) {
      case OpKind::get: break;
      case OpKind::put:
        unobserved[i] = !w.value->empty() &&
                        !any_read_after(w, [&](const std::optional<std::string>& seen) {
                          return seen && seen->starts_with(*w.value);
                        });
        break;
      case OpKind::append:
        unobserved[i] = !w.value->empty() &&
                        !any_read_after(w, [&](const std::optional<std::string>& seen) {
                          return seen && seen->find(*w.value) != std::string::npos;
                        });
        break;
      case OpKind::del: {
        const bool append_after = std::any_of(appends.begin(), appends.end(), [&](const KeyOp* a) {
          return a->pending || a->return_ns >= w.call_ns;
        });
        unobserved[i] = !append_after && !any_read_after(w, [](const std::optional<std::string>& seen) {
          return !seen.has_value();
        });
        break;
      }
    }
  }
  return unobserved;
}

// --- The search ---------------------------------------------------------------

enum class Verdict { linearizable, violation, gave_up };

// What the memo table and the interned states may use per search, beyond
// which the search gives up like when its step budget runs out.
constexpr size_t memo_bytes_max = size_t{1} << 30;

uint64_t mix64(uint64_t x) {  // splitmix64's finalizer
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// The configurations the search has seen: sets of linearized operations,
// each with a model state.
//
// A set is stored compactly. Completed operations are ranked by call; the
// frontier is the first one not linearized. Every completed operation below
// the frontier is linearized, and none beyond the last one called before
// the frontier's return can be (it could not have been a candidate while
// the frontier was in the list). So a set is the frontier, the bits of that
// short span, and one bit per pending operation: a few words where a plain
// bitset over a long single-key history would take hundreds.
class Configurations {
 public:
  explicit Configurations(const std::vector<KeyOp>& ops)
      : rank_(ops.size()), pending_(ops.size()) {
    std::vector<uint32_t> completed;
    uint32_t pending_count = 0;
    for (uint32_t i = 0; i < ops.size(); ++i) {
      pending_[i] = ops[i].pending;
      if (ops[i].pending) {
        rank_[i] = pending_count++;
      } else {
        completed.push_back(i);
      }
      zobrist_.push_back(mix64(i));
    }
    // The same order as the event list: by call time, then index.
    std::stable_sort(completed.begin(), completed.end(),
                     [&](uint32_t a, uint32_t b) { return ops[a].call_ns < ops[b].call_ns; });
    std::vector<uint64_t> calls;
    for (uint32_t r = 0; r < completed.size(); ++r) {
      rank_[completed[r]] = r;
      calls.push_back(ops[completed[r]].call_ns);
    }
    by_rank_ = completed;
    for (uint32_t op : completed) {
      // Calls at the instant of a return come before it (see build_list).
      const auto end = std::upper_bound(calls.begin(), calls.end(), ops[op].return_ns);
      span_last_.push_back(static_cast<uint32_t>(end - calls.begin()) - 1);
    }
    completed_count_ = static_cast<uint32_t>(completed.size());
    completed_bits_.assign((completed.size() + 63) / 64, 0);
    pending_bits_.assign((pending_count + 63) / 64, 0);
    slots_.assign(64, Slot{});
  }

  void add(uint32_t op) { flip(op, true); }
  void remove(uint32_t op) { flip(op, false); }

  // Records the current set with `state`; false if seen before.
  bool insert(uint32_t state) {
    if (2 * (used_ + 1) > slots_.size()) grow();
    const uint64_t hash = hash_ ^ mix64(uint64_t{state} ^ 0x5bd1e995u);
    const size_t offset = arena_.size();
    append_key();
    const Slot candidate{hash, offset, state, frontier_};
    for (size_t i = hash & (slots_.size() - 1);; i = (i + 1) & (slots_.size() - 1)) {
      Slot& slot = slots_[i];
      if (slot.offset == Slot::empty) {
        slot = candidate;
        ++used_;
        return true;
      }
      if (same(slot, candidate)) {
        arena_.resize(offset);
        return false;
      }
    }
  }

  size_t bytes() const { return slots_.size() * sizeof(Slot) + arena_.capacity() * sizeof(uint64_t); }

  // The furthest frontier any configuration reached, as an operation index
  // (none if every completed operation was linearized at some point).
  std::optional<uint32_t> furthest() const {
    if (frontier_max_ >= completed_count_) return std::nullopt;
    return by_rank_[frontier_max_];
  }

 private:
  struct Slot {
    static constexpr uint64_t empty = UINT64_MAX;
    uint64_t hash = 0;
    uint64_t offset = empty;  // of its key in the arena
    uint32_t state = 0;
    uint32_t frontier = 0;
  };

  void flip(uint32_t op, bool on) {
    hash_ ^= zobrist_[op];
    const uint32_t r = rank_[op];
    std::vector<uint64_t>& bits = pending_[op] ? pending_bits_ : completed_bits_;
    if (on) {
      bits[r / 64] |= uint64_t{1} << (r % 64);
    } else {
      bits[r / 64] &= ~(uint64_t{1} << (r % 64));
    }
    if (pending_[op]) return;
    if (!on && r < frontier_) frontier_ = r;
    if (on && r == frontier_) advance_frontier();
  }

  void advance_frontier() {
    size_t word = frontier_ / 64;
    uint64_t zeros = ~completed_bits_[word] & (~uint64_t{0} << (frontier_ % 64));
    while (zeros == 0 && ++word < completed_bits_.size()) zeros = ~completed_bits_[word];
    frontier_ = word < completed_bits_.size()
                    ? std::min(completed_count_, static_cast<uint32_t>(word * 64 + std::countr_zero(zeros)))
                    : completed_count_;
    frontier_max_ = std::max(frontier_max_, frontier_);
  }

  // The words of the current set's key: the completed span from the
  // frontier, then the pending bits. Its length depends on the frontier only.
  std::pair<size_t, size_t> span_words(uint32_t frontier) const {
    if (frontier >= completed_count_) return {0, 0};
    return {frontier / 64, span_last_[frontier] / 64 + 1};
  }
  void append_key() {
    const auto [first, last] = span_words(frontier_);
    arena_.insert(arena_.end(), completed_bits_.begin() + first, completed_bits_.begin() + last);
    arena_.insert(arena_.end(), pending_bits_.begin(), pending_bits_.end());
  }
  bool same(const Slot& a, const Slot& b) const {
    if (a.hash != b.hash || a.state != b.state || a.frontier != b.frontier) return false;
    const auto [first, last] = span_words(a.frontier);
    const size_t words = last - first + pending_bits_.size();
    return std::equal(arena_.begin() + a.offset, arena_.begin() + a.offset + words,
                      arena_.begin() + b.offset);
  }
  void grow() {
    std::vector<Slot> old(slots_.size() * 2, Slot{});
    old.swap(slots_);
    for (const Slot& slot : old) {
      if (slot.offset == Slot::empty) continue;
      size_t i = slot.hash & (slots_.size() - 1);
      while (slots_[i].offset != Slot::empty) i = (i + 1) & (slots_.size() - 1);
      slots_[i] = slot;
    }
  }

  std::vector<uint32_t> rank_;      // an operation's rank among the completed, or the pending
  std::vector<uint32_t> by_rank_;   // completed rank -> operation
  std::vector<bool> pending_;
  std::vector<uint32_t> span_last_; // completed rank -> the last rank called before its return
  std::vector<uint64_t> zobrist_;   // random per-operation words; their xor hashes a set
  uint32_t completed_count_ = 0;

  // The current set.
  std::vector<uint64_t> completed_bits_;
  std::vector<uint64_t> pending_bits_;
  uint32_t frontier_ = 0;
  uint32_t frontier_max_ = 0;
  uint64_t hash_ = 0;

  // The table: open addressing, keys in one arena.
  std::vector<Slot> slots_;
  size_t used_ = 0;
  std::vector<uint64_t> arena_;
};

// The Wing-Gong/Lowe search over one key's operations.
class Search {
 public:
  Search(States& states, const std::vector<KeyOp>& ops)
      : states_(states), model_(states), seen_(ops) {
    PBFT_ASSERT(ops.size() < std::numeric_limits<uint32_t>::max() / 2);
    for (const KeyOp& op : ops) {
      ops_.push_back(model_.prepare(op));
      pending_.push_back(op.pending);
      optional_.push_back(op.optional);
    }
    build_list(ops);
  }

  // Searches from `initial`. `steps` counts the operations tried, across
  // calls; the search gives up once it reaches `budget`, or once its memory
  // passes memo_bytes_max (then out_of_memory() is true). Configurations
  // are remembered across calls: whether a configuration can be completed
  // does not depend on where the search started.
  //
  // The candidates at a configuration are the calls before the first return
  // still in the list. They are tried in passes, which changes no verdict,
  // only how much is explored:
  //  1. reads. A candidate read that agrees with the state is taken and no
  //     alternative is tried: if the configuration has a linearization, it
  //     has one that starts with that read (the read changes nothing, and
  //     nothing still to come must precede it, or it would not be a
  //     candidate). So if that read leads nowhere, neither does anything.
  //  2. writes after which a candidate read agrees with the state: the
  //     likeliest to be next, since reads pin the order of writes down.
  //  3. the other writes that completed.
  //  4. the other optional writes, which are needed late or never, and
  //     which, taken too early, send the search down paths that a later
  //     read refutes.
  // When every candidate has been tried and the first return is that of an
  // optional operation, the operation is left out (it can no longer take
  // effect after what is called later) and the search goes on.
  Verdict run(uint32_t initial, uint64_t budget, uint64_t& steps) {
    enum Pass : uint8_t { read_pass, enabling_pass, write_pass, optional_pass, left_out };
    struct Frame {
      uint32_t call;  // the lifted call node
      uint32_t state_before;
      Pass pass;      // the pass the call was taken in, or left_out
    };
    std::vector<Frame> stack;
    uint32_t state = initial;
    uint32_t entry = next_[head];
    Pass pass = read_pass;
    bool backtrack = false;
    while (next_[head] != head) {
      if (backtrack) {
        // The configuration has no linearization: undo the choice that led
        // to it. Undoing a read means its configuration has none either.
        backtrack = false;
        if (stack.empty()) return Verdict::violation;
        const Frame frame = stack.back();
        stack.pop_back();
        seen_.remove(op_[frame.call]);
        state = frame.state_before;
        unlift(frame.call);
        entry = next_[frame.call];
        pass = frame.pass;
        // Taking a read, or leaving an operation out, was the only choice
        // left in its configuration: that configuration fails too.
        if (pass == read_pass || pass == left_out) backtrack = true;
        continue;
      }
      PBFT_ASSERT(entry != head);  // every call's return follows it in the list
      const uint32_t op = op_[entry];
      if (!is_call_[entry]) {
        // Every operation that completed has been linearized; the rest may
        // be left out.
        if (pending_[op]) return Verdict::linearizable;
        // The end of the candidates: on to the next pass, or back.
        if (pass != optional_pass) {
          pass = static_cast<Pass>(pass + 1);
          entry = next_[head];
          continue;
        }
        backtrack = true;
        if (optional_[op]) {
          const uint32_t call = match_[entry];
          seen_.add(op);
          if (seen_.insert(state)) {
            stack.push_back({call, state, left_out});
            lift(call);
            entry = next_[head];
            pass = read_pass;
            backtrack = false;
          } else {
            seen_.remove(op);
          }
        }
        continue;
      }
      if (!in_pass(op, pass)) {
        entry = next_[entry];
        continue;
      }
      if (steps >= budget) return Verdict::gave_up;
      if (steps++ % 4096 == 0 && seen_.bytes() + states_.bytes() > memo_bytes_max) {
        out_of_memory_ = true;
        return Verdict::gave_up;
      }
      std::optional<uint32_t> after = model_.step(state, ops_[op], op);
      if (after && pass != read_pass && enables_read(*after) != (pass == enabling_pass)) {
        entry = next_[entry];
        continue;
      }
      if (after) {
        seen_.add(op);
        if (seen_.insert(*after)) {
          stack.push_back({entry, state, pass});
          state = *after;
          lift(entry);
          entry = next_[head];
          pass = read_pass;
          continue;
        }
        seen_.remove(op);
        // Seen before, so it led nowhere; for a read, nothing else can.
        if (pass == read_pass) {
          backtrack = true;
          continue;
        }
      }
      entry = next_[entry];
    }
    return Verdict::linearizable;
  }

  bool out_of_memory() const { return out_of_memory_; }
  // The first completed operation that the furthest configuration had not
  // linearized: where a violation most likely is.
  std::optional<uint32_t> furthest() const { return seen_.furthest(); }

 private:
  static constexpr uint32_t head = 0;  // sentinel of the circular list

  // Call and return events in the order the search visits them: by time,
  // calls before returns at the same instant (touching intervals count as
  // concurrent, the permissive reading of equal timestamps), and the returns
  // of pending operations last, at "infinity".
  void build_list(const std::vector<KeyOp>& ops) {
    struct Event {
      bool at_infinity;
      uint64_t time;
      bool is_return;
      uint32_t op;
    };
    std::vector<Event> events;
    events.reserve(2 * ops.size());
    for (uint32_t i = 0; i < ops.size(); ++i) {
      events.push_back({false, ops[i].call_ns, false, i});
      events.push_back({ops[i].pending, ops[i].pending ? 0 : ops[i].return_ns, true, i});
    }
    std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
      return std::tie(a.at_infinity, a.time, a.is_return, a.op) <
             std::tie(b.at_infinity, b.time, b.is_return, b.op);
    });
    const size_t nodes = events.size() + 1;
    op_.assign(nodes, 0);
    is_call_.assign(nodes, false);
    match_.assign(nodes, head);
    prev_.assign(nodes, head);
    next_.assign(nodes, head);
    std::vector<uint32_t> call_node(ops.size(), head);
    for (uint32_t i = 0; i < events.size(); ++i) {
      const uint32_t node = i + 1;
      op_[node] = events[i].op;
      is_call_[node] = !events[i].is_return;
      if (is_call_[node]) {
        call_node[events[i].op] = node;
      } else {
        match_[call_node[events[i].op]] = node;
        match_[node] = call_node[events[i].op];
      }
      prev_[node] = node - 1;
      next_[node - 1] = node;
    }
    prev_[head] = static_cast<uint32_t>(nodes - 1);
    next_[nodes - 1] = head;
  }

  // Whether `op` is tried in pass `pass` (see run(); the enabling pass
  // filters further).
  bool in_pass(uint32_t op, uint8_t pass) const {
    const bool read = ops_[op].kind == OpKind::get;
    switch (pass) {
      case 0: return read;
      case 1: return !read;
      case 2: return !read && !optional_[op];
      default: return !read && optional_[op];
    }
  }

  // Whether some candidate read agrees with `state`.
  bool enables_read(uint32_t state) {
    for (uint32_t node = next_[head]; node != head; node = next_[node]) {
      const uint32_t op = op_[node];
      if (!is_call_[node]) {
        if (!pending_[op]) break;  // the end of the candidates
        continue;
      }
      if (ops_[op].kind == OpKind::get && model_.step(state, ops_[op], op)) return true;
    }
    return false;
  }

  void remove(uint32_t node) {
    next_[prev_[node]] = next_[node];
    prev_[next_[node]] = prev_[node];
  }
  // Undoes remove(); removed nodes keep their links, so undoing in reverse
  // order restores the list exactly (Knuth's dancing links).
  void restore(uint32_t node) {
    next_[prev_[node]] = node;
    prev_[next_[node]] = node;
  }
  void lift(uint32_t call) {
    remove(call);
    remove(match_[call]);
  }
  void unlift(uint32_t call) {
    restore(match_[call]);
    restore(call);
  }

  const States& states_;
  Model model_;
  std::vector<ModelOp> ops_;
  std::vector<bool> pending_;   // returns at infinity
  std::vector<bool> optional_;  // may be left out
  Configurations seen_;
  bool out_of_memory_ = false;

  // The event list: node 0 is the head sentinel, nodes 1.. are events.
  std::vector<uint32_t> op_;
  std::vector<bool> is_call_;
  std::vector<uint32_t> match_;  // a call's return node, and a return's call node
  std::vector<uint32_t> prev_;
  std::vector<uint32_t> next_;
};

// --- Windows for explanations -----------------------------------------------

// One key's operations in call order, with what make_window needs to find
// a window's neighbours without walking the whole history.
struct KeyHistory {
  std::vector<KeyOp> ops;
  uint64_t duration_max = 0;    // of the completed operations
  std::vector<size_t> pending;  // indices of the pending operations
};

// A sub-history that stands on its own as evidence: the operations of a
// window (consecutive in call order) as recorded; the writes that overlap
// it, relaxed to optional (they may be left out; gets among them are
// dropped); and the states the key may have held when the window began,
// derived from the writes that returned before its first call. Optional
// writes no read in the window can have seen are left out.
struct Window {
  std::vector<size_t> members;     // indices into the key's call-ordered operations
  std::vector<size_t> concurrent;  // relaxed to optional
  std::vector<size_t> before;      // the writes one of which left the initial state
  std::vector<KeyOp> ops;          // what the search checks
};

// Builds the window [first, last] of the key's operations. Why it is sound
// evidence: take any linearization of the key's whole history. Every
// operation that returned before the window's first call precedes all of the
// window in it, so just before the window's first operation takes effect
// the key holds what the last such write left (a write that no other such
// write follows in real time), changed since by overlapping writes placed
// after it. Every operation called after the window's last return follows
// all of the window. Keep the window's operations and, of the overlapping
// writes, those placed after that last earlier write, in the same order:
// the overlapping writes that took effect before the window now come first,
// which their intervals allow (they returned after the window began), and
// the rest are left out. That is a linearization of the window with its
// overlapping writes optional, from one of those states; if there is none,
// the history has none either.
Window make_window(const KeyHistory& history, size_t first, size_t last) {
  const std::vector<KeyOp>& ops = history.ops;
  const uint64_t start = ops[first].call_ns;
  bool open_ended = false;
  uint64_t end = 0;
  for (size_t k = first; k <= last; ++k) {
    if (ops[k].pending) {
      open_ended = true;
    } else {
      end = std::max(end, ops[k].return_ns);
    }
  }
  // The operations before the window that had not returned at its start
  // are concurrent; those that had are summed up by the last writes among
  // them. Walking back from the window, the first write found that had
  // returned is the latest called; everything called before it by more than
  // the longest operation returned before it was called, so is neither
  // concurrent nor a last write: the walk stops there. Pending operations
  // may be anywhere, and come from their own list.
  std::vector<size_t> concurrent;
  std::vector<size_t> earlier_writes;
  std::optional<uint64_t> latest_write_call;  // of the writes that returned before the window
  for (size_t k = first; k-- > 0;) {
    if (latest_write_call && ops[k].call_ns + history.duration_max < *latest_write_call) break;
    if (ops[k].pending) continue;
    if (ops[k].return_ns >= start) {
      concurrent.push_back(k);
    } else if (ops[k].kind != OpKind::get) {
      earlier_writes.push_back(k);
      if (!latest_write_call) latest_write_call = ops[k].call_ns;  // calls decrease as k does
    }
  }
  for (size_t k : history.pending) {
    if (k < first) concurrent.push_back(k);
  }
  for (size_t k = last + 1; k < ops.size() && (open_ended || ops[k].call_ns <= end); ++k) {
    concurrent.push_back(k);
  }
  std::sort(concurrent.begin(), concurrent.end());

  std::vector<size_t> chosen;  // window members, then concurrent writes
  std::vector<KeyOp> chosen_ops;
  for (size_t k = first; k <= last; ++k) {
    chosen.push_back(k);
    chosen_ops.push_back(ops[k]);
  }
  const size_t members = chosen.size();
  for (size_t k : concurrent) {
    if (ops[k].kind == OpKind::get) continue;  // a get changes nothing; unconstrained, it can go
    KeyOp relaxed = ops[k];
    relaxed.optional = true;
    chosen.push_back(k);
    chosen_ops.push_back(std::move(relaxed));
  }
  Window w;
  const std::vector<bool> unobserved = unobserved_pending_writes(chosen_ops);
  for (size_t i = 0; i < chosen.size(); ++i) {
    if (unobserved[i]) continue;
    (i < members ? w.members : w.concurrent).push_back(chosen[i]);
    w.ops.push_back(std::move(chosen_ops[i]));
  }
  // The last writes: those no other earlier write follows in real time,
  // that is, still running when the latest-called of them was called.
  for (auto k = earlier_writes.rbegin(); k != earlier_writes.rend(); ++k) {
    if (ops[*k].return_ns >= *latest_write_call) w.before.push_back(*k);
  }
  return w;
}

// The states the key may hold when the window starts: what one of the last
// earlier writes left. After an append, what it appended to is not known
// here, only that the value ends with its argument.
std::vector<uint32_t> initial_states(const Window& w, const std::vector<KeyOp>& ops,
                                     States& states) {
  if (w.before.empty()) return {states.absent()};
  std::vector<uint32_t> initial;
  for (size_t k : w.before) {
    uint32_t s = states.absent();
    if (ops[k].kind == OpKind::put) s = states.known(ops[k].value);
    if (ops[k].kind == OpKind::append) s = states.suffix(*ops[k].value);
    if (std::find(initial.begin(), initial.end(), s) == initial.end()) initial.push_back(s);
  }
  return initial;
}

// Whether the window is non-linearizable from every state it may start in.
Verdict check_window(const Window& w, const KeyHistory& history, uint64_t budget,
                     uint64_t& steps) {
  States states;
  Search search(states, w.ops);
  bool gave_up = false;
  for (uint32_t initial : initial_states(w, history.ops, states)) {
    switch (search.run(initial, budget, steps)) {
      case Verdict::linearizable: return Verdict::linearizable;
      case Verdict::gave_up: gave_up = true; break;
      case Verdict::violation: break;
    }
    if (gave_up) break;
  }
  return gave_up ? Verdict::gave_up : Verdict::violation;
}

// Finds a short window that is not linearizable in a key's history that is
// not: first the shortest prefix that is not (each prefix's later overlapping
// operations relaxed), then, ending there, the latest start that still is
// not. Checks that run out of budget count as linearizable, so the result is
// always a window proven non-linearizable (at worst the whole history).
Window shortest_violation(const KeyHistory& history, uint64_t budget) {
  uint64_t steps = 0;
  auto violates = [&](size_t first, size_t last) {
    return check_window(make_window(history, first, last), history, budget, steps) ==
           Verdict::violation;
  };
  size_t low = 0;
  size_t high = history.ops.size() - 1;  // the whole history: known to violate
  while (low < high) {
    const size_t mid = low + (high - low) / 2;
    if (violates(0, mid)) {
      high = mid;
    } else {
      low = mid + 1;
    }
  }
  const size_t last = high;
  for (size_t first = last; first > 0 && steps < budget; --first) {
    if (violates(first, last)) return make_window(history, first, last);
  }
  return make_window(history, 0, last);
}

// Looks for a violation confined to a few operations: windows of up to
// local_window_max operations ending at a read. Each is a small search, so
// this finds the common violations (a stale read, a value never written,
// readers disagreeing on an order) in histories whose full search is too
// big to finish. Since a window is sound evidence, what it finds is proven.
// The scan starts where the full search got furthest, `hint`, since every
// configuration that search explored stopped short of the violation; and
// no window may take more than a share of the budget, so that one hard
// window cannot stop the scan.
constexpr size_t local_window_max = 4;
constexpr uint64_t local_window_budget_share = 64;

std::optional<Window> local_violation(const KeyHistory& history, size_t hint, uint64_t budget) {
  const std::vector<KeyOp>& ops = history.ops;
  const uint64_t window_budget = std::max<uint64_t>(budget / local_window_budget_share, 10'000);
  uint64_t steps = 0;
  for (size_t i = 0; i < ops.size() && steps < budget; ++i) {
    const size_t last = (hint + i) % ops.size();
    if (ops[last].kind != OpKind::get || ops[last].pending) continue;
    for (size_t size = 1; size <= local_window_max && size <= last + 1; ++size) {
      // A pending member could take effect after everything that follows,
      // which would make the window the rest of the history.
      if (ops[last + 1 - size].pending) break;
      Window w = make_window(history, last + 1 - size, last);
      uint64_t window_steps = 0;
      const Verdict verdict =
          check_window(w, history, std::min(window_budget, budget - steps), window_steps);
      steps += window_steps;
      if (verdict == Verdict::violation) return w;
    }
  }
  return std::nullopt;
}

// --- Explanations -------------------------------------------------------------

constexpr size_t explained_bytes_max = 48;  // longer values are shortened
constexpr size_t explained_ops_max = 40;    // per list

std::string quoted(std::string_view bytes) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "\"";
  for (char c : bytes.substr(0, explained_bytes_max)) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte >= 0x20 && byte <= 0x7e) {
      out += c;
    } else {
      out += "\\u00";
      out += hex[byte >> 4];
      out += hex[byte & 0xf];
    }
  }
  out += '"';
  if (bytes.size() > explained_bytes_max) {
    out += "... (" + std::to_string(bytes.size()) + " bytes)";
  }
  return out;
}

std::string describe(const KeyOp& op, const std::vector<Entry>& entries) {
  const Entry& e = entries[op.entry];
  std::string text = "entry " + std::to_string(op.entry) + ": client " + std::to_string(e.client) + " ";
  switch (op.kind) {
    case OpKind::get: text += "get -> " + (op.value ? quoted(*op.value) : std::string("null")); break;
    case OpKind::put: text += "put " + quoted(*op.value); break;
    case OpKind::del: text += "delete"; break;
    case OpKind::append: text += "append " + quoted(*op.value); break;
  }
  text += "  [call " + std::to_string(op.call_ns) + ", return ";
  text += e.status == Outcome::unknown ? std::string("unknown]") : std::to_string(op.return_ns) + "]";
  return text;
}

void list_ops(std::string& out, const std::vector<size_t>& which, const std::vector<KeyOp>& ops,
              const std::vector<Entry>& entries) {
  for (size_t i = 0; i < which.size() && i < explained_ops_max; ++i) {
    out += "\n    " + describe(ops[which[i]], entries);
  }
  if (which.size() > explained_ops_max) {
    out += "\n    ... and " + std::to_string(which.size() - explained_ops_max) + " more";
  }
}

std::string explain(const std::string& key, const Window& w, const std::vector<KeyOp>& ops,
                    const std::vector<Entry>& entries) {
  std::string out = "key " + quoted(key) +
                    " is not linearizable: no order of these operations respects both their"
                    " real-time order and the store's semantics (times in ns):";
  list_ops(out, w.members, ops, entries);
  if (!w.concurrent.empty()) {
    out += "\n  with these overlapping writes, each placed within its interval or left out"
           " (its effect hidden before the window or after it):";
    list_ops(out, w.concurrent, ops, entries);
  }
  if (w.before.empty()) {
    out += "\n  before them the key was absent (no write to it had returned)";
  } else {
    const bool after_append = std::any_of(w.before.begin(), w.before.end(),
                                          [&](size_t k) { return ops[k].kind == OpKind::append; });
    out += "\n  before them the key held what one of these earlier writes left";
    out += after_append ? " (after an append: some value ending in its argument):" : ":";
    list_ops(out, w.before, ops, entries);
  }
  return out;
}

// --- Input ----------------------------------------------------------------

// The checker takes entries built in memory too, so it checks what it relies
// on rather than trusting parse_json_line to have run.
Status check_entry(const Entry& e, size_t index) {
  const std::string where = "entry " + std::to_string(index) + ": ";
  if ((e.op == OpKind::put || e.op == OpKind::append) && !e.value) {
    return Status::error(where + "put and append need a value");
  }
  // An unknown outcome's return_ns, if any, is ignored.
  if (e.status == Outcome::unknown) return Status::ok();
  if (!e.return_ns) return Status::error(where + "a completed or failed operation needs return_ns");
  if (*e.return_ns < e.call_ns) return Status::error(where + "return_ns is before call_ns");
  return Status::ok();
}

}  // namespace

CheckResult check_linearizable(const std::vector<Entry>& entries, uint64_t search_budget) {
  // Partition by key (std::map: keys are checked, and reported, in order).
  std::map<std::string, std::vector<KeyOp>> by_key;
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    if (Status valid = check_entry(e, i); !valid) {
      return {false, false, "malformed history: " + valid.reason()};
    }
    // A failed operation did not take effect; a get with an unknown outcome
    // has no result to check and changes nothing. Neither constrains anything.
    if (e.status == Outcome::fail) continue;
    if (e.status == Outcome::unknown && e.op == OpKind::get) continue;
    KeyOp op;
    op.entry = i;
    op.kind = e.op;
    op.value = e.op == OpKind::del ? std::nullopt : e.value;
    op.call_ns = e.call_ns;
    op.pending = e.status == Outcome::unknown;
    op.optional = op.pending;
    op.return_ns = op.pending ? 0 : *e.return_ns;
    by_key[e.key].push_back(std::move(op));
  }

  std::vector<std::string> undecided;
  bool out_of_memory = false;
  for (auto& [key, ops] : by_key) {
    std::stable_sort(ops.begin(), ops.end(),
                     [](const KeyOp& a, const KeyOp& b) { return a.call_ns < b.call_ns; });
    KeyHistory history;
    const std::vector<bool> unobserved = unobserved_pending_writes(ops);
    for (size_t i = 0; i < ops.size(); ++i) {
      if (unobserved[i]) continue;
      if (ops[i].pending) {
        history.pending.push_back(history.ops.size());
      } else {
        history.duration_max = std::max(history.duration_max, ops[i].return_ns - ops[i].call_ns);
      }
      history.ops.push_back(std::move(ops[i]));
    }
    States states;
    Search search(states, history.ops);
    uint64_t steps = 0;
    switch (search.run(states.absent(), search_budget, steps)) {
      case Verdict::linearizable: break;
      case Verdict::gave_up:
        if (auto w = local_violation(history, search.furthest().value_or(0), search_budget)) {
          return {false, true, explain(key, *w, history.ops, entries)};
        }
        undecided.push_back(key);
        out_of_memory |= search.out_of_memory();
        break;
      case Verdict::violation:
        return {false, true,
                explain(key, shortest_violation(history, search_budget), history.ops, entries)};
    }
  }
  if (!undecided.empty()) {
    // Not a verdict: linearizable stays false because nothing was proven,
    // and complete = false tells the caller so.
    std::string out = "undecided: the search ran out of its budget (" +
                      std::to_string(search_budget) + " steps per key" +
                      (out_of_memory ? ", or " + std::to_string(memo_bytes_max >> 20) + " MiB of memory"
                                     : std::string()) +
                      ") on " + std::to_string(undecided.size()) + " key(s), first " +
                      quoted(undecided.front()) + "; no violation was found on the other keys";
    return {false, false, out};
  }
  return {true, true, {}};
}

}  // namespace pbft::history
