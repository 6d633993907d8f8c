// A fake /proc and /sys tree in a temporary directory, for the memory meter and governor
// tests: MemoryPaths point the code at it.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/memory_meter.h"

namespace ringws::test {

// What the kernel writes for "no limit" in cgroup v1 with 4 KiB pages.
inline constexpr const char* kV1Unlimited = "9223372036854771712\n";

class FakeSystem {
 public:
  FakeSystem() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ringws-fake-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) ADD_FAILURE() << "mkdtemp failed";
    root_ = tmpl;
  }
  ~FakeSystem() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  FakeSystem(const FakeSystem&) = delete;
  FakeSystem& operator=(const FakeSystem&) = delete;

  /// Writes `text` to `rel` under the root, making directories. Rewriting truncates the same
  /// file, as the kernel's files change in place: a reader holding it open sees the new text.
  void write(const std::string& rel, const std::string& text) {
    std::filesystem::path p = root_ + "/" + rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::trunc) << text;
  }
  void remove(const std::string& rel) { std::filesystem::remove(root_ + "/" + rel); }

  /// /proc/self/cgroup and /proc/self/mountinfo of a cgroup v1 system whose memory hierarchy
  /// is mounted at /sys/fs/cgroup/memory (its `mount_root` there: "/" unless a container
  /// runtime bind-mounted only its own group), with the process in group `path`. Also
  /// has a unified (v2) mount without controllers, as systemd's hybrid layout does.
  void cgroup_v1(const std::string& path, const std::string& mount_root = "/") {
    write("proc/self/cgroup", "12:pids:/\n5:cpu,cpuacct:/\n4:memory:" + path + "\n1:name=systemd:/\n0::/\n");
    write("proc/self/mountinfo",
          "24 30 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
          "31 24 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
          "32 31 0:29 " + mount_root + " /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"
          "35 31 0:32 " + mount_root + " /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime master:15 - cgroup "
          "cgroup rw,memory\n"
          "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n");
  }
  /// The directory of v1 group `rel` (relative to the mount), e.g. v1_dir("/ringws-test").
  static std::string v1_dir(const std::string& rel) { return "sys/fs/cgroup/memory" + rel; }

  /// A pure cgroup v2 system (/sys/fs/cgroup), the process in `path`.
  void cgroup_v2(const std::string& path, const std::string& mount_root = "/") {
    write("proc/self/cgroup", "0::" + path + "\n");
    write("proc/self/mountinfo",
          "24 30 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
          "30 24 0:26 " + mount_root + " /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
          "rw,nsdelegate,memory_recursiveprot\n");
  }
  static std::string v2_dir(const std::string& rel) { return "sys/fs/cgroup" + rel; }

  void meminfo(uint64_t total_kb, uint64_t available_kb) {
    write("proc/meminfo", "MemTotal:       " + std::to_string(total_kb) + " kB\nMemFree:         1000 kB\n"
                          "MemAvailable:   " + std::to_string(available_kb) + " kB\nBuffers:          10 kB\n");
  }
  void statm(uint64_t resident_pages) {
    write("proc/self/statm", "10000 " + std::to_string(resident_pages) + " 300 40 0 500 0\n");
  }

  MemoryPaths paths() const { return {root_ + "/proc", root_}; }
  const std::string& root() const { return root_; }

 private:
  std::string root_;
};

}  // namespace ringws::test
