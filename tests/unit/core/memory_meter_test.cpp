#include "core/memory_meter.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "tests/unit/core/fake_system.h"

namespace ringws {
namespace {

using test::FakeSystem;
using test::kV1Unlimited;

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kTotalKb = 24683656, kAvailableKb = 23907372;  // this machine's meminfo

uint64_t reading(const MemoryMeter& m) {
  uint64_t v = 0;
  EXPECT_TRUE(m.read(v));
  return v;
}

// A v1 group with a limit, TCP accounting on: both counters make up usage.
void v1_group(FakeSystem& fs, const std::string& rel, const std::string& limit, uint64_t usage, uint64_t tcp) {
  fs.write(FakeSystem::v1_dir(rel) + "/memory.limit_in_bytes", limit);
  fs.write(FakeSystem::v1_dir(rel) + "/memory.usage_in_bytes", std::to_string(usage) + "\n");
  fs.write(FakeSystem::v1_dir(rel) + "/memory.kmem.tcp.usage_in_bytes", std::to_string(tcp) + "\n");
}

void v2_group(FakeSystem& fs, const std::string& rel, const std::string& max, uint64_t current) {
  fs.write(FakeSystem::v2_dir(rel) + "/memory.max", max);
  fs.write(FakeSystem::v2_dir(rel) + "/memory.current", std::to_string(current) + "\n");
}

class MemoryMeterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs.meminfo(kTotalKb, kAvailableKb);
    fs.statm(2500);
    // The v1 root group: no limit, and a usage counting the whole machine.
    v1_group(fs, "", kV1Unlimited, 9000 * kMiB, 0);
  }
  FakeSystem fs;
};

TEST_F(MemoryMeterTest, V1WithLimit) {
  fs.cgroup_v1("/ringws-test");
  v1_group(fs, "/ringws-test", "209715200\n", 50 * kMiB, 3 * kMiB);
  MemoryMeter m(0, fs.paths());
  EXPECT_EQ(m.limit(), 200 * kMiB);
  EXPECT_EQ(m.limit_source(), "cgroup v1 /ringws-test");
  EXPECT_EQ(m.usage_source(), "cgroup v1 /ringws-test");
  EXPECT_EQ(reading(m), 53 * kMiB) << "TCP buffers count: v1 keeps them out of usage_in_bytes";
}

TEST_F(MemoryMeterTest, V1WithoutTcpCounterReadsUsageAlone) {
  fs.cgroup_v1("/ringws-test");
  v1_group(fs, "/ringws-test", "209715200\n", 50 * kMiB, 0);
  fs.remove(FakeSystem::v1_dir("/ringws-test") + "/memory.kmem.tcp.usage_in_bytes");
  MemoryMeter m(0, fs.paths());
  EXPECT_EQ(reading(m), 50 * kMiB);
}

TEST_F(MemoryMeterTest, LimitWithoutUsageFileMeasuresRss) {
  fs.cgroup_v2("/x");
  fs.write(FakeSystem::v2_dir("/x") + "/memory.max", "209715200\n");
  MemoryMeter m(0, fs.paths());
  EXPECT_EQ(m.limit_source(), "cgroup v2 /x");
  EXPECT_EQ(m.usage_source(), "rss");
  EXPECT_EQ(reading(m), 2500u * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)));
}

TEST_F(MemoryMeterTest, V1UnlimitedFallsBackToPhysical) {
  fs.cgroup_v1("/process_api/abc");
  v1_group(fs, "/process_api", kV1Unlimited, 70 * kMiB, 0);
  v1_group(fs, "/process_api/abc", kV1Unlimited, 60 * kMiB, 0);
  MemoryMeter m(0, fs.paths());
  EXPECT_EQ(m.limit(), kTotalKb * 1024);
  EXPECT_EQ(m.limit_source(), "physical");
  EXPECT_EQ(m.usage_source(), "meminfo");
  EXPECT_EQ(reading(m), (kTotalKb - kAvailableKb) * 1024) << "the whole machine: MemTotal - MemAvailable";
}

TEST_F(MemoryMeterTest, V1UnlimitedOtherPageSizeMeansNone) {
  // 64 KiB pages round "no limit" to another number; anything that large is none.
  fs.cgroup_v1("/g");
  v1_group(fs, "/g", "9223372036854710272\n", kMiB, 0);
  EXPECT_EQ(MemoryMeter(0, fs.paths()).limit_source(), "physical");
}

TEST_F(MemoryMeterTest, V1LimitOnAncestorBinds) {
  // A limit on a parent group (a slice, a pod) binds the child: usage is the parent's, which
  // counts the siblings too.
  fs.cgroup_v1("/pod/app");
  v1_group(fs, "/pod", "104857600\n", 80 * kMiB, kMiB);
  v1_group(fs, "/pod/app", kV1Unlimited, 30 * kMiB, 0);
  MemoryMeter m(0, fs.paths());
  EXPECT_EQ(m.limit(), 100 * kMiB);
  EXPECT_EQ(m.limit_source(), "cgroup v1 /pod");
  EXPECT_EQ(reading(m), 81 * kMiB);
}

TEST_F(MemoryMeterTest, V1SmallestLimitOnTheWayUpWins) {
  fs.cgroup_v1("/pod/app");
  v1_group(fs, "/pod", "104857600\n", 80 * kMiB, 0);
  v1_group(fs, "/pod/app", "67108864\n", 30 * kMiB, 0);
  MemoryMeter m(0, fs.paths());
  EXPECT_EQ(m.limit(), 64 * kMiB);
  EXPECT_EQ(m.limit_source(), "cgroup v1 /pod/app");
  EXPECT_EQ(reading(m), 30 * kMiB);
}

TEST_F(MemoryMeterTest, V1ContainerWithCgroupNamespace) {
  // Inside a cgroup namespace the own group is "/" and is mounted as the hierarchy's root.
  fs.cgroup_v1("/");
  v1_group(fs, "", "268435456\n", 10 * kMiB, 2 * kMiB);
  MemoryMeter m(0, fs.paths());
  EXPECT_EQ(m.limit(), 256 * kMiB);
  EXPECT_EQ(m.limit_source(), "cgroup v1 /");
  EXPECT_EQ(reading(m), 12 * kMiB);
}

TEST_F(MemoryMeterTest, V1ContainerWithOwnGroupBindMounted) {
  // Docker without a cgroup namespace: /proc/self/cgroup names the host's path, and the
  // mount's root is that same path, so the group is the mount point itself.
  fs.cgroup_v1("/docker/0123abcd", "/docker/0123abcd");
  v1_group(fs, "", "134217728\n", 5 * kMiB, 0);
  MemoryMeter m(0, fs.paths());
  EXPECT_EQ(m.limit(), 128 * kMiB);
  EXPECT_EQ(m.limit_source(), "cgroup v1 /docker/0123abcd");
  EXPECT_EQ(reading(m), 5 * kMiB);
}

TEST_F(MemoryMeterTest, V1NestedUnderBindMountedGroup) {
  fs.cgroup_v1("/docker/0123abcd/worker", "/docker/0123abcd");
  v1_group(fs, "", "134217728\n", 5 * kMiB, 0);
  v1_group(fs, "/worker", kV1Unlimited, 4 * kMiB, 0);
  MemoryMeter m(0, fs.paths());
  EXPECT_EQ(m.limit_source(), "cgroup v1 /docker/0123abcd");
  EXPECT_EQ(reading(m), 5 * kMiB);
}

TEST_F(MemoryMeterTest, MountPointWithEscapedSpace) {
  fs.write("proc/self/cgroup", "4:memory:/g\n");
  fs.write("proc/self/mountinfo", "35 31 0:32 / /cg\\040mem rw - cgroup cgroup rw,memory\n");
  fs.write("cg mem/g/memory.limit_in_bytes", "1048576\n");
  fs.write("cg mem/g/memory.usage_in_bytes", "4096\n");
  MemoryMeter m(0, fs.paths());
  EXPECT_EQ(m.limit(), kMiB);
  EXPECT_EQ(reading(m), 4096u);
}

TEST_F(MemoryMeterTest, V2Max) {
  fs.cgroup_v2("/system.slice/ringws.service");
  v2_group(fs, "/system.slice", "max\n", 900 * kMiB);
  v2_group(fs, "/system.slice/ringws.service", "max\n", 40 * kMiB);
  MemoryMeter m(0, fs.paths());
  EXPECT_EQ(m.limit_source(), "physical");
  EXPECT_EQ(m.limit(), kTotalKb * 1024);
}

TEST_F(MemoryMeterTest, V2Number) {
  fs.cgroup_v2("/system.slice/x");
  v2_group(fs, "/system.slice", "max\n", 900 * kMiB);
  v2_group(fs, "/system.slice/x", "536870912\n", 40 * kMiB);
  MemoryMeter m(0, fs.paths());
  EXPECT_EQ(m.limit(), 512 * kMiB);
  EXPECT_EQ(m.limit_source(), "cgroup v2 /system.slice/x");
  EXPECT_EQ(m.usage_source(), "cgroup v2 /system.slice/x");
  EXPECT_EQ(reading(m), 40 * kMiB) << "memory.current includes socket buffers: nothing to add";
}

TEST_F(MemoryMeterTest, V2GroupWithoutMemoryControllerUsesParentLimit) {
  // A group whose parent does not hand the memory controller down has no memory.* files.
  fs.cgroup_v2("/a/b");
  v2_group(fs, "/a", "1073741824\n", 300 * kMiB);
  fs.write(FakeSystem::v2_dir("/a/b") + "/cgroup.procs", "1\n");
  MemoryMeter m(0, fs.paths());
  EXPECT_EQ(m.limit(), 1024 * kMiB);
  EXPECT_EQ(m.limit_source(), "cgroup v2 /a");
  EXPECT_EQ(reading(m), 300 * kMiB);
}

TEST_F(MemoryMeterTest, V2ContainerWithCgroupNamespace) {
  fs.cgroup_v2("/");
  v2_group(fs, "", "268435456\n", 20 * kMiB);
  MemoryMeter m(0, fs.paths());
  EXPECT_EQ(m.limit(), 256 * kMiB);
  EXPECT_EQ(m.limit_source(), "cgroup v2 /");
  EXPECT_EQ(reading(m), 20 * kMiB);
}

TEST_F(MemoryMeterTest, HybridPrefersV1MemoryController) {
  // systemd's hybrid layout: the unified hierarchy exists but memory is on v1.
  fs.cgroup_v1("/ringws-test");
  v1_group(fs, "/ringws-test", "209715200\n", kMiB, 0);
  fs.write("sys/fs/cgroup/unified/memory.max", "1048576\n");  // would be wrong to read
  EXPECT_EQ(MemoryMeter(0, fs.paths()).limit_source(), "cgroup v1 /ringws-test");
}

TEST_F(MemoryMeterTest, FlagSmallerThanCgroupWinsButUsageStaysTheCgroups) {
  fs.cgroup_v1("/ringws-test");
  v1_group(fs, "/ringws-test", "209715200\n", 50 * kMiB, kMiB);
  MemoryMeter m(100 * kMiB, fs.paths());
  EXPECT_EQ(m.limit(), 100 * kMiB);
  EXPECT_EQ(m.limit_source(), "--memory-limit");
  EXPECT_EQ(m.usage_source(), "cgroup v1 /ringws-test");
  EXPECT_EQ(reading(m), 51 * kMiB);
}

TEST_F(MemoryMeterTest, FlagLargerThanCgroupLoses) {
  fs.cgroup_v2("/x");
  v2_group(fs, "/x", "209715200\n", 50 * kMiB);
  MemoryMeter m(300 * kMiB, fs.paths());
  EXPECT_EQ(m.limit(), 200 * kMiB);
  EXPECT_EQ(m.limit_source(), "cgroup v2 /x");
}

TEST_F(MemoryMeterTest, FlagEqualToCgroupNamesTheCgroup) {
  fs.cgroup_v2("/x");
  v2_group(fs, "/x", "209715200\n", 50 * kMiB);
  EXPECT_EQ(MemoryMeter(200 * kMiB, fs.paths()).limit_source(), "cgroup v2 /x");
}

TEST_F(MemoryMeterTest, FlagOnlyInV1GroupMeasuresTheGroup) {
  // The group measures kernel memory (sockets, TCP buffers) that RSS does not show.
  fs.cgroup_v1("/session");
  v1_group(fs, "/session", kV1Unlimited, 70 * kMiB, 2 * kMiB);
  MemoryMeter m(100 * kMiB, fs.paths());
  EXPECT_EQ(m.limit(), 100 * kMiB);
  EXPECT_EQ(m.limit_source(), "--memory-limit");
  EXPECT_EQ(m.usage_source(), "cgroup v1 /session");
  EXPECT_EQ(reading(m), 72 * kMiB);
}

TEST_F(MemoryMeterTest, FlagOnlyInV2GroupMeasuresTheGroup) {
  fs.cgroup_v2("/user.slice/session-1.scope");
  v2_group(fs, "/user.slice/session-1.scope", "max\n", 33 * kMiB);
  MemoryMeter m(100 * kMiB, fs.paths());
  EXPECT_EQ(m.usage_source(), "cgroup v2 /user.slice/session-1.scope");
  EXPECT_EQ(reading(m), 33 * kMiB);
}

TEST_F(MemoryMeterTest, FlagOnlyInV1RootMeasuresRss) {
  // The v1 root's usage counts the whole machine: not the process's.
  fs.cgroup_v1("/");
  MemoryMeter m(100 * kMiB, fs.paths());
  EXPECT_EQ(m.limit_source(), "--memory-limit");
  EXPECT_EQ(m.usage_source(), "rss");
  EXPECT_EQ(reading(m), 2500u * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)));
}

TEST_F(MemoryMeterTest, FlagOnlyInV2RootMeasuresRss) {
  fs.cgroup_v2("/");  // the real root has no memory.current
  MemoryMeter m(100 * kMiB, fs.paths());
  EXPECT_EQ(m.usage_source(), "rss");
  EXPECT_EQ(reading(m), 2500u * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)));
}

TEST_F(MemoryMeterTest, FlagOnlyWithoutCgroupsMeasuresRss) {
  fs.remove("proc/self/cgroup");
  MemoryMeter m(100 * kMiB, fs.paths());
  EXPECT_EQ(m.limit(), 100 * kMiB);
  EXPECT_EQ(m.usage_source(), "rss");
}

TEST_F(MemoryMeterTest, NoCgroupFilesIsPhysical) {
  // No /proc/self/cgroup (a kernel without cgroups), or a cgroup without a mount.
  MemoryMeter m(0, fs.paths());
  EXPECT_EQ(m.limit_source(), "physical");
  fs.write("proc/self/cgroup", "4:memory:/g\n");
  fs.write("proc/self/mountinfo", "24 30 0:22 / /sys rw - sysfs sysfs rw\n");
  EXPECT_EQ(MemoryMeter(0, fs.paths()).limit_source(), "physical");
}

TEST_F(MemoryMeterTest, NothingReadableIsNone) {
  fs.remove("proc/meminfo");
  MemoryMeter m(0, fs.paths());
  EXPECT_EQ(m.limit(), 0u);
  EXPECT_EQ(m.limit_source(), "none");
  uint64_t v = 7;
  EXPECT_FALSE(m.read(v));
  EXPECT_EQ(v, 7u);
}

TEST_F(MemoryMeterTest, EachReadSeesTheFileAnew) {
  fs.cgroup_v1("/ringws-test");
  v1_group(fs, "/ringws-test", "209715200\n", 50 * kMiB, kMiB);
  MemoryMeter m(0, fs.paths());
  EXPECT_EQ(reading(m), 51 * kMiB);
  v1_group(fs, "/ringws-test", "209715200\n", 150 * kMiB, 9 * kMiB);
  EXPECT_EQ(reading(m), 159 * kMiB);
  v1_group(fs, "/ringws-test", "209715200\n", 7, 0);  // shorter text: nothing left over
  EXPECT_EQ(reading(m), 7u);
}

TEST_F(MemoryMeterTest, JunkReadingFails) {
  fs.cgroup_v2("/x");
  v2_group(fs, "/x", "209715200\n", 50 * kMiB);
  MemoryMeter m(0, fs.paths());
  fs.write(FakeSystem::v2_dir("/x") + "/memory.current", "garbage\n");
  uint64_t v = 7;
  EXPECT_FALSE(m.read(v));
  fs.write(FakeSystem::v2_dir("/x") + "/memory.current", "");
  EXPECT_FALSE(m.read(v));
  EXPECT_EQ(v, 7u);
}

TEST_F(MemoryMeterTest, JunkLimitIsIgnored) {
  fs.cgroup_v2("/x");
  v2_group(fs, "/x", "lots\n", 50 * kMiB);
  EXPECT_EQ(MemoryMeter(0, fs.paths()).limit_source(), "physical");
}

}  // namespace
}  // namespace ringws
