// Where the process's memory limit comes from, and a reading of usage against it.
//
// The limit is the smaller of the memory cgroup's (the process's own group or a visible
// ancestor's: a limit on a parent slice binds as well) and --memory-limit; with neither, the
// machine's MemTotal. Usage is measured by the kernel, in the counter the limit applies to:
//   cgroup v1 limit  memory.usage_in_bytes + memory.kmem.tcp.usage_in_bytes of the limiting
//                    group (v1 keeps TCP buffers out of the main counter; they are real
//                    memory. It counts them only if a TCP limit was written to the group
//                    before its sockets were made, as scripts/lib/cgroup.sh does)
//   cgroup v2 limit  memory.current of the limiting group (it includes socket buffers)
//   --memory-limit   the own group's counter as above, if the process is in a non-root
//                    group; else the process's RSS (/proc/self/statm)
//   physical         MemTotal - MemAvailable: the whole machine
// Cgroup counters include page cache, which the kernel reclaims before it OOM-kills, so a
// reading near the limit may be partly cache: the governor errs towards refusing early.
#pragma once

#include <cstdint>
#include <string>

namespace ringws {

/// Test hooks: where /proc is, and a prefix for the mount points /proc/self/mountinfo names.
struct MemoryPaths {
  std::string proc_root = "/proc";
  std::string sys_root;  ///< "" on a real system: mount points are used as they are
};

class MemoryMeter {
 public:
  /// Reads /proc/self/cgroup, /proc/self/mountinfo, the cgroup files and /proc/meminfo once,
  /// and keeps the usage files open so that read() costs only a pread per file.
  /// `limit_flag` is --memory-limit in bytes, 0 when not given.
  MemoryMeter(uint64_t limit_flag, const MemoryPaths& paths = {});
  ~MemoryMeter();
  MemoryMeter(const MemoryMeter&) = delete;
  MemoryMeter& operator=(const MemoryMeter&) = delete;

  /// Bytes; 0 when nothing could be read (no cgroup, no flag, no /proc/meminfo).
  uint64_t limit() const { return limit_; }
  /// "cgroup v1 /ringws-test", "cgroup v2 /system.slice/x", "--memory-limit", "physical",
  /// or "none".
  const std::string& limit_source() const { return limit_source_; }
  /// What read() measures: "cgroup v1 /x", "cgroup v2 /x", "rss", "meminfo", or "none".
  const std::string& usage_source() const { return usage_source_; }

  /// One measurement, in bytes. False (and `bytes` untouched) if a file could not be read.
  /// Not thread-safe against itself: one thread samples.
  bool read(uint64_t& bytes) const;

 private:
  enum class Usage : uint8_t { kNone, kCgroupV1, kCgroupV2, kRss, kMeminfo };
  bool open_usage(Usage kind, const std::string& dir, const std::string& source);

  uint64_t limit_ = 0;
  std::string limit_source_ = "none";
  std::string usage_source_ = "none";
  Usage usage_ = Usage::kNone;
  int fd_ = -1;      ///< usage_in_bytes, memory.current, statm or meminfo
  int tcp_fd_ = -1;  ///< v1 memory.kmem.tcp.usage_in_bytes; -1 if the kernel has none
  uint64_t page_size_ = 4096;
};

}  // namespace ringws
