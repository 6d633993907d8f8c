#include "core/memory_metrics.h"

#include <cinttypes>
#include <cstdio>
#include <string_view>

namespace ringws {

namespace {

void gauge(std::string& out, const char* name, const char* help, uint64_t value) {
  char line[512];
  std::snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s gauge\n%s %" PRIu64 "\n", name, help, name, name, value);
  out += line;
}

/// A label value: Prometheus' text format escapes backslash, double quote and newline.
/// Cgroup paths come from the system, so they may hold any of them.
void label_value(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
}

}  // namespace

void append_memory_metrics(const MemoryGovernor& governor, std::string& out) {
  gauge(out, "ringws_memory_limit_bytes", "Memory limit the server keeps under (0: none found).", governor.limit());
  // With no limit the marks are unreachable (UINT64_MAX): show 0, as the limit does.
  uint64_t high = governor.limit() ? governor.high_water() : 0;
  gauge(out, "ringws_memory_high_water_bytes", "Usage at which new work starts being refused.", high);
  gauge(out, "ringws_memory_used_bytes", "Last measured usage plus what the server charged since.", governor.used());
  gauge(out, "ringws_memory_over_high_water", "1 while new work is refused for lack of memory.",
        governor.over_high_water() ? 1 : 0);
  out += "# HELP ringws_memory_limit_info Where the limit and the usage are read.\n"
         "# TYPE ringws_memory_limit_info gauge\n"
         "ringws_memory_limit_info{source=\"";
  label_value(out, governor.limit_source());
  out += "\",usage=\"";
  label_value(out, governor.usage_source());
  out += "\"} 1\n";
  out += "# HELP ringws_shed_total Work refused above the high-water mark, by kind.\n"
         "# TYPE ringws_shed_total counter\n";
  char line[128];
  for (size_t i = 0; i < static_cast<size_t>(ShedWhat::kCount); ++i) {
    auto what = static_cast<ShedWhat>(i);
    std::snprintf(line, sizeof line, "ringws_shed_total{what=\"%s\"} %" PRIu64 "\n", shed_name(what),
                  governor.shed(what));
    out += line;
  }
}

}  // namespace ringws
