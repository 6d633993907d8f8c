#include "core/memory_meter.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <optional>
#include <string_view>
#include <vector>

namespace ringws {

namespace {

// v1 writes "no limit" as the largest page-aligned long (9223372036854771712 with 4 KiB
// pages, another number with other page sizes): anything from 2^60 (1 EiB) up means none.
constexpr uint64_t kUnlimited = 1ull << 60;

std::optional<std::string> read_text(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return text;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  return s;
}

bool parse_u64(std::string_view s, uint64_t& out) {
  s = trim(s);
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

/// A cgroup limit file: v1 memory.limit_in_bytes or v2 memory.max. nullopt: no file or
/// junk; 0: no limit ("max", or v1's huge value).
std::optional<uint64_t> read_limit(const std::string& path) {
  auto text = read_text(path);
  if (!text) return std::nullopt;
  if (trim(*text) == "max") return 0;
  uint64_t v = 0;
  if (!parse_u64(*text, v)) return std::nullopt;
  return v >= kUnlimited ? 0 : v;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  for (;;) {
    size_t at = s.find(sep);
    parts.push_back(s.substr(0, at));
    if (at == std::string_view::npos) return parts;
    s.remove_prefix(at + 1);
  }
}

/// mountinfo escapes space, tab, newline and backslash in paths as \ooo.
std::string unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' &&
        s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

/// The process's memory cgroup as /proc/self/cgroup names it, and the mount of its hierarchy.
struct Cgroup {
  int version = 0;   ///< 0: none found
  std::string path;  ///< "/system.slice/ringws.service"; "/" inside a cgroup namespace
  std::string mount_root;   ///< the hierarchy's path mounted there ("/" unless bind-mounted)
  std::string mount_point;  ///< with sys_root prepended
};

/// The path of the v1 line whose controllers include "memory", else of the v2 "0::" line.
/// v1 wins in a hybrid set-up: there the unified hierarchy has no memory controller.
bool own_cgroup(std::string_view text, int& version, std::string& path) {
  std::string v2;
  bool have_v2 = false;
  for (std::string_view line : split(text, '\n')) {
    size_t a = line.find(':');
    size_t b = a == std::string_view::npos ? a : line.find(':', a + 1);
    if (b == std::string_view::npos) continue;
    std::string_view id = line.substr(0, a), controllers = line.substr(a + 1, b - a - 1), p = line.substr(b + 1);
    if (id == "0" && controllers.empty()) {
      v2 = p;
      have_v2 = true;
      continue;
    }
    for (std::string_view c : split(controllers, ','))
      if (c == "memory") {
        version = 1;
        path = p;
        return true;
      }
  }
  if (!have_v2) return false;
  version = 2;
  path = v2;
  return true;
}

/// The first mount of the hierarchy: fstype "cgroup" with the "memory" super option (v1)
/// or fstype "cgroup2". Prefers a mount whose root contains `path`.
bool find_mount(std::string_view mountinfo, int version, const std::string& path, std::string& root,
                std::string& point) {
  bool found = false;
  for (std::string_view line : split(mountinfo, '\n')) {
    // id parent major:minor root mount-point options [optional fields...] - fstype source super-options
    size_t dash = line.find(" - ");
    if (dash == std::string_view::npos) continue;
    std::vector<std::string_view> head = split(line.substr(0, dash), ' ');
    std::vector<std::string_view> tail = split(line.substr(dash + 3), ' ');
    if (head.size() < 5 || tail.size() < 3) continue;
    bool match = false;
    if (version == 2) {
      match = tail[0] == "cgroup2";
    } else if (tail[0] == "cgroup") {
      for (std::string_view opt : split(tail[2], ','))
        if (opt == "memory") match = true;
    }
    if (!match) continue;
    std::string r = unescape(head[3]);
    bool contains = r == "/" || path == r || path.starts_with(r + "/");
    if (!found || contains) {
      root = r;
      point = unescape(head[4]);
      found = true;
      if (contains) return true;
    }
  }
  return found;
}

/// A group seen through the mount: its directory and its name in /proc/self/cgroup terms.
struct Group {
  std::string dir;
  std::string name;
};

/// The own group first, then each ancestor visible under the mount, up to the mount's root.
/// A path outside the mount's root (an odd bind mount) yields the mount point alone.
std::vector<Group> groups_upward(const Cgroup& cg) {
  std::string rel;
  if (cg.mount_root == "/") rel = cg.path == "/" ? "" : cg.path;
  else if (cg.path.starts_with(cg.mount_root + "/")) rel = cg.path.substr(cg.mount_root.size());
  else if (cg.path != cg.mount_root) return {{cg.mount_point, cg.path}};
  std::vector<Group> groups;
  for (;;) {
    std::string name = cg.mount_root == "/" ? (rel.empty() ? "/" : rel) : cg.mount_root + rel;
    groups.push_back({cg.mount_point + rel, name});
    if (rel.empty()) return groups;
    rel.resize(rel.rfind('/'));
  }
}

bool pread_text(int fd, char* buf, size_t size, std::string_view& out) {
  ssize_t n;
  do n = ::pread(fd, buf, size, 0);
  while (n < 0 && errno == EINTR);
  if (n <= 0) return false;
  out = std::string_view(buf, static_cast<size_t>(n));
  return true;
}

/// "Name:   12345 kB" from /proc/meminfo, in bytes. Allocates nothing: it runs per sample.
bool meminfo_field(std::string_view text, std::string_view name, uint64_t& bytes) {
  while (!text.empty()) {
    size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (!line.starts_with(name) || line.size() <= name.size() || line[name.size()] != ':') continue;
    std::string_view v = trim(line.substr(name.size() + 1));
    if (v.ends_with(" kB")) v.remove_suffix(3);
    uint64_t kb = 0;
    if (!parse_u64(v, kb)) return false;
    bytes = kb * 1024;
    return true;
  }
  return false;
}

}  // namespace

MemoryMeter::MemoryMeter(uint64_t limit_flag, const MemoryPaths& paths) {
  if (long ps = sysconf(_SC_PAGESIZE); ps > 0) page_size_ = static_cast<uint64_t>(ps);

  Cgroup cg;
  if (auto text = read_text(paths.proc_root + "/self/cgroup"); text && own_cgroup(*text, cg.version, cg.path)) {
    auto mountinfo = read_text(paths.proc_root + "/self/mountinfo");
    if (!mountinfo || !find_mount(*mountinfo, cg.version, cg.path, cg.mount_root, cg.mount_point)) cg.version = 0;
    else cg.mount_point = paths.sys_root + cg.mount_point;
  }
  std::vector<Group> groups;
  if (cg.version) groups = groups_upward(cg);

  // The smallest limit on the way up binds; on a tie the innermost group is named.
  const char* limit_file = cg.version == 1 ? "/memory.limit_in_bytes" : "/memory.max";
  const Group* limiting = nullptr;
  uint64_t cgroup_limit = 0;
  for (const Group& g : groups) {
    auto v = read_limit(g.dir + limit_file);
    if (v && *v && (!cgroup_limit || *v < cgroup_limit)) {
      cgroup_limit = *v;
      limiting = &g;
    }
  }
  std::string version_name = cg.version == 1 ? "cgroup v1 " : "cgroup v2 ";
  Usage cgroup_usage = cg.version == 1 ? Usage::kCgroupV1 : Usage::kCgroupV2;

  if (limiting) {
    limit_ = cgroup_limit;
    limit_source_ = version_name + limiting->name;
    if (limit_flag && limit_flag < cgroup_limit) {
      limit_ = limit_flag;
      limit_source_ = "--memory-limit";
    }
    // The limit file without a usage file beside it is not a kernel's layout, but a reading
    // of some kind beats counting charges alone.
    if (!open_usage(cgroup_usage, limiting->dir, version_name + limiting->name))
      open_usage(Usage::kRss, paths.proc_root + "/self/statm", "rss");
  } else if (limit_flag) {
    limit_ = limit_flag;
    limit_source_ = "--memory-limit";
    // v1's root group has a usage file too, but it counts the whole machine; a v2 root
    // has none. Inside a v1 cgroup namespace the own group also reads "/": RSS then.
    bool own_group = !groups.empty() && (cg.version == 2 || groups.front().name != "/");
    if (!own_group || !open_usage(cgroup_usage, groups.front().dir, version_name + groups.front().name))
      open_usage(Usage::kRss, paths.proc_root + "/self/statm", "rss");
  } else if (auto text = read_text(paths.proc_root + "/meminfo")) {
    uint64_t total = 0;
    if (meminfo_field(*text, "MemTotal", total) && total) {
      limit_ = total;
      limit_source_ = "physical";
      open_usage(Usage::kMeminfo, paths.proc_root + "/meminfo", "meminfo");
    }
  }
}

MemoryMeter::~MemoryMeter() {
  if (fd_ >= 0) ::close(fd_);
  if (tcp_fd_ >= 0) ::close(tcp_fd_);
}

bool MemoryMeter::open_usage(Usage kind, const std::string& where, const std::string& source) {
  std::string path = where;
  if (kind == Usage::kCgroupV1) path += "/memory.usage_in_bytes";
  if (kind == Usage::kCgroupV2) path += "/memory.current";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  fd_ = fd;
  if (kind == Usage::kCgroupV1)
    tcp_fd_ = ::open((where + "/memory.kmem.tcp.usage_in_bytes").c_str(), O_RDONLY | O_CLOEXEC);
  usage_ = kind;
  usage_source_ = source;
  return true;
}

bool MemoryMeter::read(uint64_t& bytes) const {
  // Reading at offset 0 makes the kernel regenerate these files: no open() per sample.
  char buf[2048];
  std::string_view text;
  switch (usage_) {
    case Usage::kNone:
      return false;
    case Usage::kCgroupV1:
    case Usage::kCgroupV2: {
      uint64_t used = 0, tcp = 0;
      if (!pread_text(fd_, buf, sizeof buf, text) || !parse_u64(text, used)) return false;
      if (tcp_fd_ >= 0 && (!pread_text(tcp_fd_, buf, sizeof buf, text) || !parse_u64(text, tcp))) return false;
      bytes = used + tcp;
      return true;
    }
    case Usage::kRss: {
      // "size resident shared text lib data dt", in pages.
      if (!pread_text(fd_, buf, sizeof buf, text)) return false;
      size_t a = text.find(' ');
      size_t b = a == std::string_view::npos ? a : text.find(' ', a + 1);
      uint64_t pages = 0;
      if (b == std::string_view::npos || !parse_u64(text.substr(a + 1, b - a - 1), pages)) return false;
      bytes = pages * page_size_;
      return true;
    }
    case Usage::kMeminfo: {
      uint64_t total = 0, available = 0;
      if (!pread_text(fd_, buf, sizeof buf, text) || !meminfo_field(text, "MemTotal", total) ||
          !meminfo_field(text, "MemAvailable", available))
        return false;
      bytes = total > available ? total - available : 0;
      return true;
    }
  }
  return false;
}

}  // namespace ringws
