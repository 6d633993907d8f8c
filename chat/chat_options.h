// The chat app's command-line options (an OptionGroup beside the core's).
#pragma once

#include <cstdint>
#include <string_view>

#include "core/options.h"

namespace ringws {

struct ChatOptions final : OptionGroup {
  uint32_t max_rooms_per_connection = 16;
  uint32_t max_room_name = 64;
  uint32_t max_publish_bytes = 65536;

  std::string_view usage() const override;
  Result set(std::string_view flag, std::string_view value) override;
};

}  // namespace ringws
