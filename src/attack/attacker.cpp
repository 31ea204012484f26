// The mode table's helpers and the Attacker: one event-loop thread running
// one Campaign (campaign.h).
#include "src/attack/attacker.h"

#include <fmt/format.h>

#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "pbft/assert.h"
#include "src/attack/campaign.h"

namespace pbft::attack {

const char* family_name(Family f) {
  switch (f) {
    case Family::network: return "network";
    case Family::client: return "client";
    case Family::replica: return "replica";
  }
  return "?";
}

const ModeInfo& info(Mode mode) {
  const size_t i = static_cast<size_t>(mode);
  PBFT_ASSERT(i < std::size(mode_table) && mode_table[i].mode == mode);
  return mode_table[i];
}

const ModeInfo* find_mode(std::string_view name) {
  for (const ModeInfo& m : mode_table) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

std::string mode_names() {
  std::string names;
  for (const ModeInfo& m : mode_table) {
    if (!names.empty()) names += ", ";
    names += m.name;
  }
  return names;
}

uint32_t clients_needed(Mode mode) {
  switch (mode) {
    case Mode::replay_requests: return 4;
    // 16 attacking ids and a probe that follows the view.
    case Mode::partial_auth: return 17;
    case Mode::memory_fill: return 16;
    default: return 0;
  }
}

std::string to_json(const AttackCounters& c) {
  nlohmann::json j = nlohmann::json::object();
  for_each_counter(c, [&](std::string_view name, std::string_view, uint64_t value) {
    j[std::string(name)] = value;
  });
  return j.dump();
}

Result<AttackCounters> counters_from_json(std::string_view text) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::error("attack counters: not a JSON object");
  AttackCounters c;
  auto read = [&](const char* name, uint64_t& field) {
    auto it = j.find(name);
    if (it != j.end() && it->is_number_unsigned()) field = it->get<uint64_t>();
  };
#define PBFT_ATTACK_COUNTER_READ(name, help) read(#name, c.name);
  PBFT_ATTACK_COUNTERS(PBFT_ATTACK_COUNTER_READ)
#undef PBFT_ATTACK_COUNTER_READ
  return c;
}

// ------------------------------------------------------------------ Attacker

struct Attacker::Impl {
  explicit Impl(AttackOptions o)
      : options(std::move(o)),
        work(asio::make_work_guard(io)),
        context{io, options, Random(options.seed)} {}

  AttackOptions options;
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  Context context;
  std::unique_ptr<Campaign> campaign;
  std::thread thread;
  bool stopped = false;
  AttackCounters last;  // the counters at stop
};

namespace {

Status check_options(const AttackOptions& o) {
  const ModeInfo& mode = info(o.mode);
  if (!mode.implemented) {
    return Status::error(fmt::format("attack mode {} is not implemented yet: {}", mode.name,
                                     mode.help));
  }
  if (o.mode == Mode::slow_primary) {
    return Status::error("slow-primary is played by the replica itself (pbft replica "
                         "--slow-primary-ms), not by an attacker process");
  }
  if (mode.family == Family::replica && o.replica >= o.cluster.protocol.n) {
    return Status::error(fmt::format("{}: replica {} is not a replica of the cluster", mode.name,
                                     o.replica));
  }
  if (o.clients.size() < clients_needed(o.mode)) {
    return Status::error(fmt::format("{} needs {} client ids of its own, got {}", mode.name,
                                     clients_needed(o.mode), o.clients.size()));
  }
  for (size_t i = 1; i < o.clients.size(); i++) {
    if (o.clients[i].id != o.clients[i - 1].id + 1) {
      return Status::error(fmt::format("{}: the attacker's client ids must be consecutive", mode.name));
    }
  }
  for (const runtime::ClientPool::Member& m : o.clients) {
    if (o.cluster.clients.count(m.id) == 0) {
      return Status::error(fmt::format("{}: client {} is not in the cluster file", mode.name, m.id));
    }
  }
  if (o.mode == Mode::partial_auth && o.cluster.protocol.client_auth != RequestAuth::authenticator) {
    return Status::error(
        "partial-auth needs client_auth = \"mac\" (with signatures every replica checks the "
        "same tag, so there is nothing partial to send): run it with --client-auth mac");
  }
  return Status::ok();
}

}  // namespace

Attacker::Attacker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Attacker::~Attacker() { stop(); }

Result<std::unique_ptr<Attacker>> Attacker::start(AttackOptions options) {
  if (Status s = check_options(options); !s) return s;
  auto impl = std::make_unique<Impl>(std::move(options));
  switch (info(impl->options.mode).family) {
    case Family::network: impl->campaign = make_network_campaign(impl->context); break;
    case Family::client: impl->campaign = make_client_campaign(impl->context); break;
    case Family::replica: impl->campaign = make_replica_campaign(impl->context); break;
  }
  PBFT_ASSERT(impl->campaign != nullptr);
  Impl* raw = impl.get();
  asio::post(raw->io, [raw] { raw->campaign->start(); });
  raw->thread = std::thread([raw] { raw->io.run(); });
  return std::unique_ptr<Attacker>(new Attacker(std::move(impl)));
}

AttackCounters Attacker::counters() const {
  if (impl_->stopped) return impl_->last;
  auto promise = std::make_shared<std::promise<AttackCounters>>();
  std::future<AttackCounters> future = promise->get_future();
  Impl* raw = impl_.get();
  asio::post(raw->io, [raw, promise] { promise->set_value(raw->campaign->counters()); });
  if (future.wait_for(std::chrono::seconds(2)) != std::future_status::ready) return impl_->last;
  return future.get();
}

void Attacker::stop() {
  if (!impl_ || impl_->stopped) return;
  Impl* raw = impl_.get();
  std::promise<void> stopped;
  std::future<void> done = stopped.get_future();
  asio::post(raw->io, [raw, &stopped] {
    raw->campaign->stop();
    raw->last = raw->campaign->counters();
    raw->work.reset();
    raw->io.stop();
    stopped.set_value();
  });
  done.wait();
  if (raw->thread.joinable()) raw->thread.join();
  raw->stopped = true;
}

}  // namespace pbft::attack
