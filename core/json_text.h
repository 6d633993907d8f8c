// Text from clients and the command line inside JSON output (log lines, EMF records). Log
// fields are printf-formatted JSON members, so a request path, an X-Forwarded-For entry or
// a dimension value written raw could end its string early and add members of its own
// (`/x","level":"error`), or break the line with a control character or invalid UTF-8.
// Everything such text passes through here first.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace ringws {

/// Appends `text` to `out` as one complete JSON string, quotes included. Escaped: '"' and
/// '\'; the control characters U+0000-U+001F (\n, \r and \t in their short forms, the rest as
/// \u00XX); also DEL and the C1 controls U+0080-U+009F, which JSON allows raw but terminals
/// act on. Each maximal invalid UTF-8 subsequence (a stray continuation byte, an overlong
/// form, a surrogate, a code point past U+10FFFF, a sequence cut short) becomes one \ufffd.
/// Valid UTF-8 otherwise passes through unchanged.
void append_json_string(std::string& out, std::string_view text);

/// Writes the same JSON string as append_json_string, NUL-terminated, into out[0, capacity):
/// at most capacity - 1 bytes, quotes included. Text that does not fit is dropped at a
/// boundary between escapes and UTF-8 sequences, never inside one, and the closing quote is
/// always written. Returns the bytes written before the NUL. A capacity under 3 (no room for
/// "" and the NUL) writes an empty C string and returns 0.
size_t write_json_string(std::string_view text, char* out, size_t capacity);

/// A JSON string on the stack, for printf-style log calls:
///   JsonEscaped<256> path(request.target);
///   log_event(LogLevel::kInfo, "open", "\"path\":%s", path.c_str());
/// The quotes are part of it, so the format must not add its own. At most N - 1 bytes.
template <size_t N>
class JsonEscaped {
  static_assert(N >= 3, "room for the two quotes and the NUL");

 public:
  explicit JsonEscaped(std::string_view text) : size_(write_json_string(text, buffer_, N)) {}
  JsonEscaped(const JsonEscaped&) = delete;
  JsonEscaped& operator=(const JsonEscaped&) = delete;

  const char* c_str() const { return buffer_; }
  std::string_view view() const { return {buffer_, size_}; }

 private:
  char buffer_[N];
  size_t size_;
};

}  // namespace ringws
