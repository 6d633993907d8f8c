#include "core/log.h"

#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>

namespace ringws {

namespace {
std::mutex& stdout_lock() {
  static std::mutex mu;
  return mu;
}
}  // namespace

void log_line(const char* json) {
  std::lock_guard lock(stdout_lock());
  std::fputs(json, stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

void log_event(LogLevel level, const char* event, const char* fields_fmt, ...) {
  static const char* const kNames[] = {"debug", "info", "warn", "error"};
  char buffer[1024] = "";
  const char* fields = buffer;
  std::string long_fields;  // a line cut at the buffer's end would not parse: format it whole
  if (fields_fmt) {
    va_list ap, again;
    va_start(ap, fields_fmt);
    va_copy(again, ap);
    int n = std::vsnprintf(buffer, sizeof buffer, fields_fmt, ap);
    if (n >= static_cast<int>(sizeof buffer)) {
      long_fields.resize(static_cast<size_t>(n));
      std::vsnprintf(long_fields.data(), long_fields.size() + 1, fields_fmt, again);
      fields = long_fields.c_str();
    }
    va_end(again);
    va_end(ap);
  }
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm utc;
  gmtime_r(&ts.tv_sec, &utc);
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &utc);
  // One write per line, under a lock, so reactor threads never interleave a line.
  std::lock_guard lock(stdout_lock());
  std::fprintf(stdout, "{\"level\":\"%s\",\"time\":\"%s.%03ldZ\",\"event\":\"%s\"%s%s}\n",
               kNames[static_cast<int>(level)], when, ts.tv_nsec / 1000000, event, fields[0] ? "," : "", fields);
  std::fflush(stdout);
}

}  // namespace ringws
