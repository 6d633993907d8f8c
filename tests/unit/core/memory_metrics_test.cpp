#include "core/memory_metrics.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/unit/core/fake_system.h"

namespace ringws {
namespace {

using test::FakeSystem;

TEST(MemoryMetrics, Render) {
  FakeSystem fs;
  fs.meminfo(1 << 24, 1 << 23);
  fs.cgroup_v2("/odd \"name\"\\x");
  fs.write(FakeSystem::v2_dir("/odd \"name\"\\x") + "/memory.max", "1000000\n");
  fs.write(FakeSystem::v2_dir("/odd \"name\"\\x") + "/memory.current", "900000\n");
  GovernorOptions o;
  o.paths = fs.paths();
  MemoryGovernor g(o);
  g.count_shed(ShedWhat::kUpgrade);
  std::string out;
  append_memory_metrics(g, out);
  EXPECT_NE(out.find("\nringws_memory_limit_bytes 1000000\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\nringws_memory_high_water_bytes 850000\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\nringws_memory_used_bytes 900000\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\nringws_memory_over_high_water 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\nringws_memory_limit_info{source=\"cgroup v2 /odd \\\"name\\\"\\\\x\","
                     "usage=\"cgroup v2 /odd \\\"name\\\"\\\\x\"} 1\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("\nringws_shed_total{what=\"connection\"} 0\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\nringws_shed_total{what=\"upgrade\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\nringws_shed_total{what=\"message\"} 0\n"), std::string::npos) << out;
  EXPECT_EQ(out.back(), '\n');
}

TEST(MemoryMetrics, NoLimitShowsZeroMarks) {
  FakeSystem fs;  // nothing readable
  GovernorOptions o;
  o.paths = fs.paths();
  MemoryGovernor g(o);
  std::string out;
  append_memory_metrics(g, out);
  EXPECT_NE(out.find("\nringws_memory_limit_bytes 0\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\nringws_memory_high_water_bytes 0\n"), std::string::npos) << out;
  EXPECT_NE(out.find("ringws_memory_limit_info{source=\"none\",usage=\"none\"} 1\n"), std::string::npos) << out;
}

}  // namespace
}  // namespace ringws
