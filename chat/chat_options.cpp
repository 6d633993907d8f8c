#include "chat/chat_options.h"

#include <charconv>

namespace ringws {

namespace {

bool parse_u32(std::string_view text, uint32_t& out, uint32_t min, uint32_t max) {
  uint32_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < min || v > max) return false;
  out = v;
  return true;
}

}  // namespace

std::string_view ChatOptions::usage() const {
  return "  --max-rooms-per-connection N  chat: rooms one connection may join (default 16)\n"
         "  --max-room-name BYTES    chat: longest room name (default 64)\n"
         "  --max-publish-bytes BYTES  chat: largest published data (default 65536)\n";
}

OptionGroup::Result ChatOptions::set(std::string_view flag, std::string_view value) {
  bool ok;
  if (flag == "--max-rooms-per-connection") ok = parse_u32(value, max_rooms_per_connection, 1, 4096);
  else if (flag == "--max-room-name") ok = parse_u32(value, max_room_name, 1, 1024);
  else if (flag == "--max-publish-bytes") ok = parse_u32(value, max_publish_bytes, 1, 1u << 30);
  else return Result::kUnknown;
  return ok ? Result::kOk : Result::kBad;
}

}  // namespace ringws
