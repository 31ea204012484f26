#include "src/runtime/status_report.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

namespace pbft::runtime {

StatusReport::StatusReport(const Replica& replica, const ProtocolConfig& config, ReplicaId self,
                           std::filesystem::path data_dir)
    : replica_(replica),
      config_(config),
      self_(self),
      data_dir_(std::move(data_dir)),
      peers_up_(config.n, false),
      logged_view_(replica.view()),
      logged_low_watermark_(replica.low_watermark()),
      logged_recovering_(replica.recovering()) {
  peers_up_[self] = true;
}

void StatusReport::on_peer_state(ReplicaId r, const std::string& address, bool up,
                                 const std::string& why) {
  peers_up_[r] = up;
  if (up) {
    spdlog::info("peer {} up ({}) view={} seq={}", r, address, replica_.view(),
                 replica_.last_executed());
  } else {
    spdlog::warn("peer {} down ({}): {}; reconnecting with back-off", r, address, why);
  }
}

void StatusReport::on_installed(const StateInstalled& i) {
  spdlog::info("state transfer done: installed checkpoint seq={} ({} bytes fetched) view={}", i.seq,
               i.bytes_fetched, replica_.view());
}

void StatusReport::observe_core() {
  const View view = replica_.view();
  if (view != logged_view_) {
    spdlog::info("view change: view {} -> {} (primary is replica {}) seq={}", logged_view_, view,
                 config_.primary(view), replica_.last_executed());
    logged_view_ = view;
  }
  const Seq h = replica_.low_watermark();
  if (h != logged_low_watermark_) {
    spdlog::info("checkpoint stable: seq={} (was {}) view={} executed={}", h,
                 logged_low_watermark_, view, replica_.last_executed());
    logged_low_watermark_ = h;
  }
  const bool transferring = replica_.transferring();
  if (transferring != logged_transferring_) {
    if (transferring) {
      const std::optional<Seq> target = replica_.transfer_target();
      spdlog::info("state transfer started: target checkpoint seq={} from seq={} view={}",
                   target ? *target : 0, replica_.last_executed(), view);
    } else {
      spdlog::info("state transfer ended at seq={} view={}", replica_.last_executed(), view);
    }
    logged_transferring_ = transferring;
  }
  const bool recovering = replica_.recovering();
  if (recovering != logged_recovering_) {
    spdlog::info("recovery done: voting again at seq={} view={}", replica_.last_executed(), view);
    logged_recovering_ = recovering;
  }
}

void StatusReport::write_status(bool running, const HostFacts& host) {
  if (data_dir_.empty()) return;
  nlohmann::json j;
  j["id"] = self_;
  j["pid"] = static_cast<int64_t>(getpid());
  j["running"] = running;
  j["view"] = replica_.view();
  j["primary"] = config_.primary(replica_.view());
  j["last_executed"] = replica_.last_executed();
  j["low_watermark"] = replica_.low_watermark();
  j["high_watermark"] = replica_.high_watermark();
  j["recovering"] = replica_.recovering();
  j["transferring"] = replica_.transferring();
  j["log_size"] = replica_.log_size();
  j["pending_requests"] = replica_.pending_requests();
  j["peers_up"] = peers_up_;
  j["connections"] = host.connections;
  j["verify_bytes_in_use"] = host.verify_bytes_in_use;
  j["verify_bytes_in_use_by_strangers"] = host.verify_bytes_in_use_by_strangers;
  nlohmann::json& replica_counters = j["replica_counters"];
  for_each_counter(replica_.counters(), [&](std::string_view name, std::string_view, uint64_t v) {
    replica_counters[std::string(name)] = v;
  });
  nlohmann::json& drops = j["drops"];
  for_each_drop(replica_.counters(), [&](std::string_view name, std::string_view, uint64_t v) {
    drops[std::string(name)] = v;
  });
  j["counters"] = nlohmann::json::parse(to_json(*host.counters));
  const std::filesystem::path file = data_dir_ / "status.json";
  const std::filesystem::path temp = data_dir_ / "status.json.tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    out << j.dump() << "\n";
    if (!out) {
      spdlog::warn("cannot write {}", temp.string());
      return;
    }
  }
  std::error_code ec;
  std::filesystem::rename(temp, file, ec);  // atomic: readers never see half a file
  if (ec) spdlog::warn("cannot rename {}: {}", temp.string(), ec.message());
}

void StatusReport::log_counters(const char* when, const RuntimeCounters& counters) {
  const ReplicaCounters& rc = replica_.counters();
  spdlog::info("{}: view={} seq={} stable={} executed {} requests in {} batches; runtime {}", when,
               replica_.view(), replica_.last_executed(), replica_.low_watermark(),
               rc.requests_executed, rc.batches_executed, to_json(counters));
}

std::string to_json(const RuntimeCounters& c) {
  nlohmann::json j = nlohmann::json::object();
  for_each_counter(c, [&](std::string_view name, std::string_view, uint64_t v) {
    j[std::string(name)] = v;
  });
  return j.dump();
}

Result<ReplicaStatus> read_replica_status(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) return Status::error(file.string() + ": cannot open");
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::error(file.string() + ": not JSON");
  try {
    ReplicaStatus s;
    s.id = j.at("id").get<ReplicaId>();
    s.running = j.at("running").get<bool>();
    s.view = j.at("view").get<uint64_t>();
    s.last_executed = j.at("last_executed").get<Seq>();
    s.low_watermark = j.at("low_watermark").get<Seq>();
    s.recovering = j.at("recovering").get<bool>();
    s.transferring = j.at("transferring").get<bool>();
    s.state_transfers_completed =
        j.at("replica_counters").at("state_transfers_completed").get<uint64_t>();
    s.requests_executed = j.at("replica_counters").at("requests_executed").get<uint64_t>();
    s.batches_executed = j.at("replica_counters").at("batches_executed").get<uint64_t>();
    s.batches_left_unchecked =
        j.at("replica_counters").value("batches_left_unchecked", uint64_t{0});
    s.peers_up = j.at("peers_up").get<std::vector<bool>>();
    const nlohmann::json& c = j.at("counters");
    // Every counter of the table; one the file lacks (written by an older
    // build) reads as 0.
#define PBFT_READ_COUNTER(name, help) s.counters.name = c.value(#name, uint64_t{0});
    PBFT_RUNTIME_COUNTERS(PBFT_READ_COUNTER)
#undef PBFT_READ_COUNTER
    return s;
  } catch (const nlohmann::json::exception& e) {
    return Status::error(file.string() + ": " + e.what());
  }
}

}  // namespace pbft::runtime
