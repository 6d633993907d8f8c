// Command-line options come in groups: the core's (core/config.h) and the application's
// (chat/chat_options.h), so the core knows nothing of rooms. parse_config() offers each
// flag to every group in turn.
#pragma once

#include <string_view>

namespace ringws {

class OptionGroup {
 public:
  enum class Result { kUnknown, kOk, kBad };
  virtual ~OptionGroup() = default;
  /// Lines for the usage text, each "  --flag VALUE   what it does (default ...)\n".
  virtual std::string_view usage() const = 0;
  /// True for a flag of this group that takes no value.
  virtual bool is_switch(std::string_view /*flag*/) const { return false; }
  /// Applies `flag` (with `value`, empty for a switch): kUnknown if not this group's.
  virtual Result set(std::string_view flag, std::string_view value) = 0;
  /// After every flag: an error message for a bad combination, or null.
  virtual const char* validate() const { return nullptr; }
};

}  // namespace ringws
