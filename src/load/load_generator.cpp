// Closed-loop sessions over ClientPools (include/pbft/load.h).
#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <mutex>

#include "pbft/assert.h"
#include "pbft/kv.h"
#include "pbft/load.h"
#include "src/workload/random.h"
#include "src/workload/workload.h"

namespace pbft::load {

// ------------------------------------------------------------- histogram

LatencyHistogram::LatencyHistogram()
    : buckets_((size_t{1} << exact_bits) + (max_bits - exact_bits) * (size_t{1} << sub_bits) + 1,
               0) {}

size_t LatencyHistogram::bucket_of(uint64_t us) {
  if (us < (uint64_t{1} << exact_bits)) return static_cast<size_t>(us);
  const int top = std::bit_width(us) - 1;  // us is in [2^top, 2^(top+1))
  if (top >= max_bits) return (size_t{1} << exact_bits) + (max_bits - exact_bits) * (size_t{1} << sub_bits);
  const uint64_t sub = (us >> (top - sub_bits)) & ((uint64_t{1} << sub_bits) - 1);
  return (size_t{1} << exact_bits) + static_cast<size_t>(top - exact_bits) * (size_t{1} << sub_bits) +
         static_cast<size_t>(sub);
}

uint64_t LatencyHistogram::bucket_upper(size_t bucket) {
  if (bucket < (size_t{1} << exact_bits)) return bucket;
  const size_t rest = bucket - (size_t{1} << exact_bits);
  const int top = exact_bits + static_cast<int>(rest >> sub_bits);
  if (top >= max_bits) return UINT64_MAX;
  const uint64_t sub = rest & ((size_t{1} << sub_bits) - 1);
  const uint64_t width = uint64_t{1} << (top - sub_bits);
  return (uint64_t{1} << top) + (sub + 1) * width - 1;
}

void LatencyHistogram::record(uint64_t us) {
  buckets_[bucket_of(us)]++;
  count_++;
  sum_ += us;
  max_ = std::max(max_, us);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (size_t i = 0; i < buckets_.size(); i++) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  max_ = std::max(max_, other.max_);
}

void LatencyHistogram::clear() {
  std::fill(buckets_.begin(), buckets_.end(), 0);
  count_ = sum_ = max_ = 0;
}

uint64_t LatencyHistogram::percentile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  const uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(q * count_ + 0.999999));
  uint64_t seen = 0;
  for (size_t i = 0; i < buckets_.size(); i++) {
    seen += buckets_[i];
    if (seen >= rank) return std::min(bucket_upper(i), max_);
  }
  return max_;
}

// ------------------------------------------------------------- generator

using Clock = std::chrono::steady_clock;

struct LoadGenerator::Impl {
  struct Session {
    size_t pool = 0;
    size_t member = 0;  // index in its pool
    ClientId id = 0;
    uint32_t issued = 0;
    Clock::time_point call;
    bool in_flight = false;  // an operation was submitted and has not completed
    std::optional<size_t> entry;  // history index of the operation outstanding
  };

  Workload workload;
  std::vector<std::unique_ptr<runtime::ClientPool>> pools;
  std::vector<Session> sessions;
  Clock::time_point epoch = Clock::now();
  uint64_t epoch_wall_ns = 0;

  mutable std::mutex mutex;
  Random random{42};
  std::vector<history::Entry> history;
  LatencyHistogram window_latency;
  uint64_t window_completed = 0;
  uint64_t completed = 0;
  uint64_t next_fill_key = 0;  // fill: the next key to put
  bool stopped = false;
  std::optional<std::string> error;

  uint64_t wall_ns(Clock::time_point t) const {
    return epoch_wall_ns + static_cast<uint64_t>((t - epoch) / std::chrono::nanoseconds(1));
  }

  void fail(size_t i, const std::string& why) {
    if (!error) error = fmt::format("client {}: {}", sessions[i].id, why);
  }

  // Plans session i's next operation (under the lock).
  std::pair<Bytes, bool> plan(size_t i) {
    Session& s = sessions[i];
    s.issued++;
    s.call = Clock::now();
    s.in_flight = true;
    if (workload.kind == Workload::Kind::null) {
      kv::Op op{kv::OpType::null, {}, Bytes(workload.request_size, 0), workload.reply_size};
      const bool read_only = workload.read_only_ratio > 0 &&
                             random.uniform(1'000'000) < workload.read_only_ratio * 1'000'000;
      return {kv::encode_op(op), read_only};
    }
    if (workload.kind == Workload::Kind::fill) {
      const std::string key = "f" + std::to_string(next_fill_key++ % workload.keys);
      kv::Op op{kv::OpType::put, Bytes(key.begin(), key.end()),
                Bytes(workload.request_size, static_cast<uint8_t>('a' + s.issued % 26)), 0};
      return {kv::encode_op(op), false};
    }
    workload::PlannedOperation planned = workload::plan_operation(random, s.id, s.issued, workload.keys);
    if (workload.record_history) {
      planned.entry.call_ns = wall_ns(s.call);
      planned.entry.status = history::Outcome::unknown;
      s.entry = history.size();
      history.push_back(std::move(planned.entry));
    }
    return {kv::encode_op(planned.op), false};
  }

  void issue(size_t i) {
    std::pair<Bytes, bool> op;
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (stopped) return;
      op = plan(i);
    }
    const Session& s = sessions[i];
    pools[s.pool]->submit(
        s.member, std::move(op.first),
        [this, i](Result<Completion> done) { on_done(i, std::move(done)); }, op.second);
  }

  void on_done(size_t i, Result<Completion> done) {
    const Clock::time_point now = Clock::now();
    {
      std::lock_guard<std::mutex> lock(mutex);
      Session& s = sessions[i];
      s.in_flight = false;
      std::optional<size_t> entry = s.entry;
      s.entry.reset();
      if (!done) {
        fail(i, done.reason());
        return;
      }
      if (stopped) return;  // after the stop: stays unknown, like any late result
      if (entry) {
        history::Entry& e = history[*entry];
        e.return_ns = wall_ns(now);
        if (Status st = workload::record_result(e, done->result); !st) {
          e.return_ns.reset();
          e.status = history::Outcome::unknown;
          fail(i, st.reason());
          return;
        }
      } else if (workload.kind == Workload::Kind::null) {
        Result<kv::OpResult> r = kv::decode_result(done->result);
        if (!r || r->code != kv::Code::ok || r->value.size() != workload.reply_size) {
          fail(i, r ? fmt::format("null operation returned {} with {} bytes",
                                  kv::code_name(r->code), r->value.size())
                    : "result does not decode: " + r.reason());
          return;
        }
      }
      completed++;
      window_completed++;
      window_latency.record(static_cast<uint64_t>((now - s.call) / std::chrono::microseconds(1)));
    }
    issue(i);
  }
};

LoadGenerator::LoadGenerator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

LoadGenerator::~LoadGenerator() { stop(); }

Result<std::unique_ptr<LoadGenerator>> LoadGenerator::start(
    const ClusterConfig& cluster, std::vector<std::vector<runtime::ClientPool::Member>> pools,
    const Workload& workload, Timestamp first_timestamp) {
  if (workload.kind != Workload::Kind::null && workload.keys == 0) {
    return Status::error("the key-value and fill workloads need at least one key");
  }
  if (workload.kind == Workload::Kind::fill && workload.request_size > kv::value_size_max) {
    return Status::error("a fill value is at most " + std::to_string(kv::value_size_max) +
                         " bytes");
  }
  if (workload.read_only_ratio < 0 || workload.read_only_ratio > 1) {
    return Status::error("read-only ratio must be in [0, 1]");
  }
  auto impl = std::make_unique<Impl>();
  impl->workload = workload;
  impl->random = Random(workload.seed);
  impl->epoch_wall_ns = static_cast<uint64_t>(
      std::chrono::system_clock::now().time_since_epoch() / std::chrono::nanoseconds(1));
  for (size_t p = 0; p < pools.size(); p++) {
    if (pools[p].empty()) continue;
    const size_t index = impl->pools.size();
    for (size_t m = 0; m < pools[p].size(); m++) {
      impl->sessions.push_back(Impl::Session{index, m, pools[p][m].id, 0, {}, false, std::nullopt});
    }
    Result<std::unique_ptr<runtime::ClientPool>> pool =
        runtime::ClientPool::start(cluster, std::move(pools[p]), first_timestamp);
    if (!pool) return pool.status();
    impl->pools.push_back(std::move(pool).value());
  }
  if (impl->sessions.empty()) return Status::error("no sessions");
  Impl* raw = impl.get();
  for (size_t i = 0; i < raw->sessions.size(); i++) raw->issue(i);
  return std::unique_ptr<LoadGenerator>(new LoadGenerator(std::move(impl)));
}

void LoadGenerator::stop() {
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stopped = true;
  }
  for (auto& pool : impl_->pools) pool->stop();
}

uint64_t LoadGenerator::completed() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->completed;
}

LoadWindow LoadGenerator::take_window() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  LoadWindow w;
  w.completed = impl_->window_completed;
  w.latency = impl_->window_latency;
  impl_->window_completed = 0;
  impl_->window_latency.clear();
  return w;
}

std::vector<history::Entry> LoadGenerator::history() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->history;
}

uint64_t LoadGenerator::longest_wait_us() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  const Clock::time_point now = Clock::now();
  uint64_t longest = 0;
  for (const Impl::Session& s : impl_->sessions) {
    if (!s.in_flight) continue;
    longest = std::max(longest,
                       static_cast<uint64_t>((now - s.call) / std::chrono::microseconds(1)));
  }
  return longest;
}

std::optional<std::string> LoadGenerator::error() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->error;
}

size_t LoadGenerator::sessions() const { return impl_->sessions.size(); }

size_t LoadGenerator::replicas_connected() const { return impl_->pools[0]->replicas_connected(); }

runtime::RuntimeCounters LoadGenerator::counters() const {
  runtime::RuntimeCounters sum;
  for (const auto& pool : impl_->pools) {
    sum += pool->counters();
  }
  return sum;
}

}  // namespace pbft::load
