// The load generator's latency histogram (include/pbft/load.h): exact below
// 128 us, within 1.6% above, percentiles by rank, merge and clear.
#include <gtest/gtest.h>

#include <random>

#include "pbft/load.h"

namespace pbft::load {
namespace {

TEST(LatencyHistogram, EmptyHasZeroes) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.percentile(0.5), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.mean(), 0);
}

TEST(LatencyHistogram, SmallValuesAreExact) {
  LatencyHistogram h;
  for (uint64_t us = 0; us < 100; us++) h.record(us);
  EXPECT_EQ(h.percentile(0.5), 49u) << "the 50th of 100 values 0..99";
  EXPECT_EQ(h.percentile(0.9), 89u);
  EXPECT_EQ(h.percentile(1.0), 99u);
  EXPECT_EQ(h.percentile(0.0), 0u);
  EXPECT_DOUBLE_EQ(h.mean(), 49.5);
}

TEST(LatencyHistogram, LargeValuesAreWithinTheBucketWidthAndNeverBelow) {
  std::mt19937_64 gen(7);
  for (int i = 0; i < 2000; i++) {
    const uint64_t us = gen() % 100'000'000;
    LatencyHistogram h;
    h.record(us);
    h.record(us + 1'000'000'000);  // so that us is not also the max
    const uint64_t p = h.percentile(0.5);
    EXPECT_GE(p, us);
    EXPECT_LE(static_cast<double>(p), static_cast<double>(us) * (1 + 1.0 / 64) + 1) << us;
  }
}

TEST(LatencyHistogram, PercentilesNeverExceedTheMax) {
  LatencyHistogram h;
  h.record(1000);
  EXPECT_EQ(h.percentile(0.999), 1000u);
  EXPECT_EQ(h.max(), 1000u);
}

TEST(LatencyHistogram, HugeValuesGoInTheLastBucket) {
  LatencyHistogram h;
  h.record(uint64_t{1} << 50);
  EXPECT_EQ(h.count(), 1u);
  EXPECT_EQ(h.percentile(0.5), uint64_t{1} << 50);
}

TEST(LatencyHistogram, MergeAddsAndClearEmpties) {
  LatencyHistogram a, b;
  for (int i = 0; i < 90; i++) a.record(10);
  for (int i = 0; i < 10; i++) b.record(5000);
  a.merge(b);
  EXPECT_EQ(a.count(), 100u);
  EXPECT_EQ(a.percentile(0.90), 10u);
  EXPECT_GE(a.percentile(0.91), 5000u);
  EXPECT_EQ(a.max(), 5000u);
  a.clear();
  EXPECT_EQ(a.count(), 0u);
  EXPECT_EQ(a.percentile(0.5), 0u);
}

}  // namespace
}  // namespace pbft::load
