// The chat app's command-line options (an OptionGroup beside the core's).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/options.h"

namespace ringws {

struct ChatOptions final : OptionGroup {
  uint32_t max_rooms_per_connection = 16;
  uint32_t max_room_name = 64;
  uint32_t max_publish_bytes = 65536;
  // Rate limits per connection (chat/chat_policy.h). At the defaults one publisher sends at
  // most 10 x 64 KiB a second, and bursts of 640 KiB: under a 1 MB/s reader's pace and
  // under --max-backlog, so a flooder cannot get a room's readers closed as slow consumers.
  uint32_t publish_rate = 10;   ///< publishes a second; 0: off
  uint32_t publish_burst = 10;  ///< publishes at once
  uint32_t join_rate = 5;       ///< joins and leaves a second; 0: off
  uint32_t join_burst = 20;     ///< joins and leaves at once (URL rooms take no tokens)
  std::vector<std::string> read_only_rooms;  ///< patterns of rooms nobody may publish to

  std::string_view usage() const override;
  Result set(std::string_view flag, std::string_view value) override;
};

}  // namespace ringws
