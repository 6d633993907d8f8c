// The chat app's command-line options (an OptionGroup beside the core's).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "chat/redis_url.h"
#include "core/options.h"

namespace ringws {

struct ChatOptions final : OptionGroup {
  uint32_t max_rooms_per_connection = 16;
  uint32_t max_room_name = 64;
  uint32_t max_publish_bytes = 65536;
  std::string redis_url;  ///< --redis; empty: one process is the whole chat
  uint32_t redis_timeout = 3;   ///< seconds a Redis reply may take before the backplane counts as down
  uint32_t history_size = 0;    ///< messages kept per room; 0: no history
  uint32_t history_ttl = 300;   ///< seconds a message stays in history
  bool presence_members = false;  ///< presence answers list up to 100 connection ids

  /// Filled by validate(): the parsed and resolved --redis target.
  mutable RedisTarget redis;
  bool backplane() const { return !redis_url.empty(); }
  // Rate limits per connection (chat/chat_policy.h). At the defaults one publisher sends at
  // most 10 x 64 KiB a second, and bursts of 640 KiB: under a 1 MB/s reader's pace and
  // under --max-backlog, so a flooder cannot get a room's readers closed as slow consumers.
  uint32_t publish_rate = 10;   ///< publishes a second; 0: off
  uint32_t publish_burst = 10;  ///< publishes at once
  uint32_t join_rate = 5;       ///< joins and leaves a second; 0: off
  uint32_t join_burst = 20;     ///< joins and leaves at once (URL rooms take no tokens)
  std::vector<std::string> read_only_rooms;  ///< patterns of rooms nobody may publish to

  std::string_view usage() const override;
  bool is_switch(std::string_view flag) const override { return flag == "--presence-members"; }
  Result set(std::string_view flag, std::string_view value) override;
  const char* validate() const override;

 private:
  mutable std::string error_;
};

}  // namespace ringws
