#include "chat/chat_options.h"

#include <charconv>

#include "proto/jwt.h"

namespace ringws {

namespace {

bool parse_u32(std::string_view text, uint32_t& out, uint32_t min, uint32_t max) {
  uint32_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < min || v > max) return false;
  out = v;
  return true;
}

/// A comma-separated list of room patterns.
bool parse_patterns(std::string_view text, std::vector<std::string>& out) {
  out.clear();
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!valid_pattern(item)) return false;
    out.emplace_back(item);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
  }
  return !out.empty();
}

}  // namespace

std::string_view ChatOptions::usage() const {
  return "  --max-rooms-per-connection N  chat: rooms one connection may join (default 16)\n"
         "  --max-room-name BYTES    chat: longest room name (default 64)\n"
         "  --max-publish-bytes BYTES  chat: largest published data (default 65536)\n"
         "  --redis URL              chat: join instances into one chat through Redis,\n"
         "                           redis://[[user]:password@]host[:port][/db] (default: none)\n"
         "  --redis-timeout SEC      chat: a Redis reply slower than this marks the backplane down (default 3)\n"
         "  --history-size N         chat: messages kept per room for recovery; 0 turns history off (default 0)\n"
         "  --history-ttl SEC        chat: longest a message stays in history (default 300)\n"
         "  --presence-members       chat: presence answers list up to 100 connection ids\n"
         "  --publish-rate N         chat: publishes a second per connection; over it an error\n"
         "                           rate_limited with retry_after_ms (default 10, 0: off)\n"
         "  --publish-burst N        chat: publishes at once before --publish-rate applies (default 10)\n"
         "  --join-rate N            chat: joins and leaves a second per connection, not counting the\n"
         "                           URL's rooms (default 5, 0: off)\n"
         "  --join-burst N           chat: joins and leaves at once (default 20)\n"
         "  --read-only-rooms LIST   chat: comma-separated room patterns ('*' as a suffix) nobody may\n"
         "                           publish to: error forbidden (any --auth)\n";
}

OptionGroup::Result ChatOptions::set(std::string_view flag, std::string_view value) {
  bool ok;
  if (flag == "--max-rooms-per-connection") ok = parse_u32(value, max_rooms_per_connection, 1, 4096);
  else if (flag == "--max-room-name") ok = parse_u32(value, max_room_name, 1, 1024);
  else if (flag == "--max-publish-bytes") ok = parse_u32(value, max_publish_bytes, 1, 1u << 30);
  else if (flag == "--redis") ok = !(redis_url = value).empty();
  else if (flag == "--redis-timeout") ok = parse_u32(value, redis_timeout, 1, 3600);
  else if (flag == "--history-size") ok = parse_u32(value, history_size, 0, 1000000);
  else if (flag == "--history-ttl") ok = parse_u32(value, history_ttl, 1, 30 * 86400);
  else if (flag == "--presence-members") ok = (presence_members = true);
  else if (flag == "--publish-rate") ok = parse_u32(value, publish_rate, 0, 1000000);
  else if (flag == "--publish-burst") ok = parse_u32(value, publish_burst, 1, 1000000);
  else if (flag == "--join-rate") ok = parse_u32(value, join_rate, 0, 1000000);
  else if (flag == "--join-burst") ok = parse_u32(value, join_burst, 1, 1000000);
  else if (flag == "--read-only-rooms") ok = parse_patterns(value, read_only_rooms);
  else return Result::kUnknown;
  return ok ? Result::kOk : Result::kBad;
}

const char* ChatOptions::validate() const {
  if (redis_url.empty()) return nullptr;
  std::string why;
  redis = RedisTarget{};
  if (!parse_redis_url(redis_url, redis, why) || !resolve_redis_host(redis, why)) {
    error_ = "--redis " + redis_url + ": " + why;
    return error_.c_str();
  }
  return nullptr;
}

}  // namespace ringws
