// The runtime hosts any service, not only the key-value store (STYLE.md,
// practice 16): four ReplicaHosts, each on a thread of this process,
// replicate a counter (tests/counter_service.h) over real loopback sockets,
// and a client gets its results, each agreed by f+1 replicas (ClientPool
// completes an operation only then).
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <future>
#include <stop_token>
#include <thread>

#include "pbft/runtime.h"
#include "tests/counter_service.h"
#include "tests/integration_harness.h"

namespace pbft::integration {
namespace {

using test_services::CounterService;

// n ReplicaHosts on threads of this process, stopped (through
// ReplicaHostOptions::stop) and joined when this goes, whatever the test did.
class InProcessCluster {
 public:
  explicit InProcessCluster(const TestCluster& files)
      : services_(files.n()), exits_(files.n(), -1) {
    for (ReplicaId r = 0; r < files.n(); r++) {
      const ReplicaEndpoint& me = files.cluster().replicas[r];
      Result<SecretKey> key = load_secret_key(me.key_file, me.public_key);
      EXPECT_TRUE(key.is_ok()) << key.reason();
      std::filesystem::create_directories(files.data_dir(r));
      runtime::ReplicaHostOptions o;
      o.cluster = files.cluster();
      o.id = r;
      o.secret_key = key ? key.value() : SecretKey{};
      o.data_dir = files.data_dir(r);
      o.start = runtime::StartMode::init;
      o.stop = stop_.get_token();
      o.make_service = [this, r]() -> std::unique_ptr<Service> {
        auto service = std::make_unique<CounterService>();
        services_[r].store(service.get());
        return service;
      };
      options_.push_back(std::move(o));
    }
    for (ReplicaId r = 0; r < files.n(); r++) {
      threads_.emplace_back([this, r] { exits_[r] = runtime::run_replica_host(options_[r]); });
    }
  }

  ~InProcessCluster() { stop(); }

  // Stops every host and waits for its thread; returns whether all exited
  // cleanly (0).
  bool stop() {
    stop_.request_stop();
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
    bool clean = true;
    for (int e : exits_) clean = clean && e == 0;
    return clean;
  }

  // Replica r's service once it was made (null before), for reading its
  // observed total from this thread.
  const CounterService* service(ReplicaId r) const { return services_[r].load(); }

 private:
  std::stop_source stop_;
  std::vector<runtime::ReplicaHostOptions> options_;
  std::vector<std::atomic<CounterService*>> services_;
  std::vector<int> exits_;
  std::vector<std::thread> threads_;
};

bool all_peers_up(const TestCluster& files) {
  for (ReplicaId r = 0; r < files.n(); r++) {
    Result<runtime::ReplicaStatus> s =
        runtime::read_replica_status(files.data_dir(r) / "status.json");
    if (!s || !s->running) return false;
    for (bool up : s->peers_up) {
      if (!up) return false;
    }
  }
  return true;
}

TEST(RuntimeHostsAnyService, AReplicatedCounterAnswersWithAgreedResults) {
  spdlog::set_level(spdlog::level::warn);
  TestCluster files;
  InProcessCluster hosts(files);
  ASSERT_TRUE(eventually(seconds(15), [&] { return all_peers_up(files); }))
      << "the in-process replicas did not connect";

  const ClientId client = files.cluster().clients.begin()->first;
  Result<SecretKey> key = load_secret_key(files.cluster().client_key_files.at(client),
                                          files.cluster().clients.at(client));
  ASSERT_TRUE(key.is_ok()) << key.reason();
  const uint64_t now = static_cast<uint64_t>(
      std::chrono::system_clock::now().time_since_epoch() / std::chrono::nanoseconds(1));
  Result<std::unique_ptr<runtime::ClientPool>> pool =
      runtime::ClientPool::start(files.cluster(), {{client, key.value()}}, now);
  ASSERT_TRUE(pool.is_ok()) << pool.reason();

  uint64_t expected = 0;
  for (uint64_t amount = 1; amount <= 5; amount++) {
    expected += amount;
    // Shared: the callback may outlive this iteration if the wait times out.
    auto done = std::make_shared<std::promise<Result<Completion>>>();
    std::future<Result<Completion>> result = done->get_future();
    (*pool)->submit(0, CounterService::encode(amount),
                    [done](Result<Completion> r) { done->set_value(std::move(r)); });
    ASSERT_EQ(result.wait_for(seconds(20)), std::future_status::ready)
        << "no agreed result for adding " << amount;
    Result<Completion> completion = result.get();
    ASSERT_TRUE(completion.is_ok()) << completion.reason();
    EXPECT_EQ(CounterService::decode(completion->result), expected) << "after adding " << amount;
  }
  (*pool)->stop();

  // Every replica executed the same operations, though the client needed
  // only f+1 of them.
  EXPECT_TRUE(eventually(seconds(15), [&] {
    for (ReplicaId r = 0; r < files.n(); r++) {
      const CounterService* s = hosts.service(r);
      if (s == nullptr || s->observed_total() != expected) return false;
    }
    return true;
  })) << "not every replica's counter reached " << expected;
  EXPECT_TRUE(hosts.stop()) << "a host did not exit cleanly on its stop request";
}

}  // namespace
}  // namespace pbft::integration
