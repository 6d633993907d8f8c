// Logs are JSON objects, one per line on stdout, so that a log driver (awslogs) or a test
// can parse them. Logging is off the hot path: connection events are counted, not logged.
#pragma once

#include <cstdarg>

namespace ringws {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

/// Writes {"level":..,"time":..,"event":<event>,<fields>} where `fields_fmt` is a printf
/// format producing the rest of the object's members (already JSON: `"port":%u`), or null.
/// Text from a client or the command line goes in through JsonEscaped (core/json_text.h),
/// never as a raw %s or %.*s: it could close its string and add members of its own.
void log_event(LogLevel level, const char* event, const char* fields_fmt = nullptr, ...)
    __attribute__((format(printf, 3, 4)));

/// Writes one already-formatted JSON line (an EMF record) under the same lock as log_event.
void log_line(const char* json);

}  // namespace ringws
