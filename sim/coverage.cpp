#include "sim/coverage.h"

#include <fmt/format.h>

#include <algorithm>

namespace pbft::sim {

std::optional<Situation> parse_situation(std::string_view name) {
  for (size_t i = 0; i < situation_count; i++) {
    if (situations[i].name == name) return static_cast<Situation>(i);
  }
  return std::nullopt;
}

Result<std::vector<Situation>> parse_required(std::string_view list) {
  std::vector<Situation> required;
  auto add = [&required](Situation s) {
    if (std::find(required.begin(), required.end(), s) == required.end()) required.push_back(s);
  };
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = std::min(list.find(',', start), list.size());
    const std::string_view name = list.substr(start, comma - start);
    start = comma + 1;
    if (name == "default") {
      for (Situation s : required_in_sweeps) add(s);
      continue;
    }
    if (std::optional<Situation> s = parse_situation(name)) {
      add(*s);
      continue;
    }
    std::string valid = "default";
    for (const SituationInfo& info : situations) valid += fmt::format(", {}", info.name);
    return Status::error(fmt::format("unknown situation \"{}\"; valid: {}", name, valid));
  }
  return required;
}

void CoverageTotals::add(const Coverage& run) {
  for (size_t i = 0; i < situation_count; i++) {
    if (run.counts[i] == 0) continue;
    runs[i]++;
    times[i] += run.counts[i];
  }
}

std::vector<Situation> CoverageTotals::missing(const std::vector<Situation>& required) const {
  std::vector<Situation> out;
  for (Situation s : required) {
    if (runs[static_cast<size_t>(s)] == 0) out.push_back(s);
  }
  return out;
}

std::string format_coverage(const CoverageTotals& totals, const std::vector<Situation>& required) {
  const std::vector<Situation> missing = totals.missing(required);
  std::string out;
  for (size_t i = 0; i < situation_count; i++) {
    const auto s = static_cast<Situation>(i);
    if (std::find(missing.begin(), missing.end(), s) != missing.end()) {
      out += fmt::format("coverage {}: REQUIRED, never reached\n", name_of(s));
    } else {
      out += fmt::format("coverage {}: {} runs, {} times\n", name_of(s), totals.runs[i],
                         totals.times[i]);
    }
  }
  return out;
}

namespace {

// The situation that names each kind of invalid VIEW-CHANGE (a bad
// signature never gets past a receiver's verifier, so it has none).
std::optional<Situation> situation_of(ViewChangeDefect defect) {
  switch (defect) {
    case ViewChangeDefect::checkpoint_off_interval:
    case ViewChangeDefect::checkpoint_proof: return Situation::checkpoint_proof_rejected;
    case ViewChangeDefect::out_of_order: return Situation::certificate_rejected_out_of_order;
    case ViewChangeDefect::above_window: return Situation::certificate_rejected_above_window;
    case ViewChangeDefect::later_view: return Situation::certificate_rejected_later_view;
    case ViewChangeDefect::not_primary: return Situation::certificate_rejected_not_primary;
    case ViewChangeDefect::prepare_mismatch:
      return Situation::certificate_rejected_prepare_mismatch;
    case ViewChangeDefect::prepare_from_primary:
      return Situation::certificate_rejected_prepare_from_primary;
    case ViewChangeDefect::duplicate_prepares:
      return Situation::certificate_rejected_duplicate_prepares;
    case ViewChangeDefect::too_few_prepares:
      return Situation::certificate_rejected_too_few_prepares;
    case ViewChangeDefect::signature: return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

void CoverageRecorder::observe_delivered(const Message& message) {
  if (const auto* vc = std::get_if<ViewChange>(&message)) {
    observe_view_change(*vc);
  } else if (const auto* pp = std::get_if<PrePrepare>(&message)) {
    observe_pre_prepare(*pp);
  }
}

void CoverageRecorder::observe_view_change(const ViewChange& vc) {
  if (!view_changes_seen_.insert({vc.sender, vc.signature}).second) return;
  // Two defects of one kind make one situation (off the interval and a bad
  // proof are both a rejected checkpoint proof).
  std::set<Situation> found;
  for (ViewChangeDefect d : view_change_defects(config_, vc)) {
    if (std::optional<Situation> s = situation_of(d)) found.insert(*s);
  }
  for (Situation s : found) coverage_.add(s);
}

// Only a pre-prepare by its view's primary: any other is dropped unread.
void CoverageRecorder::observe_pre_prepare(const PrePrepare& pp) {
  if (pp.batch.empty() || pp.sender != config_.primary(pp.view)) return;
  if (!batches_seen_.insert({pp.view, pp.seq, pp.digest}).second) return;
  std::set<ClientId> clients;
  bool repeated = false;
  for (const Request& r : pp.batch) {
    if (!clients.insert(r.client).second) repeated = true;
    auto [it, inserted] = request_views_.try_emplace({r.client, r.timestamp}, pp.view);
    if (inserted || pp.view <= it->second) continue;
    it->second = pp.view;
    coverage_.add(Situation::request_reproposed_after_view_change);
  }
  if (repeated) coverage_.add(Situation::duplicate_request_in_batch);
}

void CoverageRecorder::observe_new_view(const NewView& nv, const NewViewVerdict& verdict) {
  if (!new_views_seen_.insert({nv.sender, nv.signature}).second) return;
  if (verdict.violation) coverage_.add(Situation::new_view_rejected);
}

void CoverageRecorder::observe_install(ReplicaId replica, const NewView& nv,
                                       const NewViewVerdict& verdict, Seq low_watermark_before,
                                       bool others_recovering) {
  if (new_views_installed_.insert({nv.sender, nv.signature}).second) {
    if (verdict.certificates_ordered > 0) {
      coverage_.add(Situation::view_change_with_prepared_certificates);
    }
    if (verdict.nulls_ordered > 0) coverage_.add(Situation::new_view_null_fill);
    if (verdict.certificates_of_two_views) {
      coverage_.add(Situation::new_view_certificates_of_two_views);
    }
    if (verdict.conflicting_certificates) {
      coverage_.add(Situation::new_view_conflicting_certificates);
    }
  }
  if (verdict.min_s > low_watermark_before) coverage_.add(Situation::checkpoint_proof_above_own);
  auto [run, first] = install_runs_.try_emplace(replica, nv.view, 1);
  if (!first) {
    auto& [last_view, length] = run->second;
    length = nv.view == last_view + 1 ? length + 1 : 1;
    last_view = nv.view;
    if (length >= 3) coverage_.add(Situation::three_consecutive_views);
  }
  if (views_installed_.insert(nv.view).second && others_recovering) {
    coverage_.add(Situation::view_change_during_recovery);
  }
}

void CoverageRecorder::observe(const Executed& executed) {
  const bool stale = std::any_of(executed.requests.begin(), executed.requests.end(),
                                 [](const ExecutedRequest& r) { return !r.fresh; });
  if (stale) coverage_.add(Situation::executed_request_in_batch);
}

void CoverageRecorder::observe_state_installed(bool view_changing) {
  if (view_changing) coverage_.add(Situation::state_transfer_during_view_change);
}

void CoverageRecorder::observe_recovery_under_faulty_primary(ReplicaId replica, View view) {
  if (recoveries_counted_.insert({replica, view}).second) {
    coverage_.add(Situation::recovery_while_primary_faulty);
  }
}

}  // namespace pbft::sim
