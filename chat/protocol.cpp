#include "chat/protocol.h"

#include <charconv>
#include <cstdio>

#include "core/json_text.h"

namespace ringws {

namespace {

constexpr ChatError kUnknownType{"unknown_type", "type must be join, leave, publish, presence or refresh"};
constexpr ChatError kBadRoom{"bad_room", "room must be a string"};
constexpr ChatError kMissingData{"missing_data", "publish needs data"};
constexpr ChatError kBadToken{"bad_token", "refresh needs a token string"};
constexpr ChatError kBadSince{"bad_since", "since must be {\"offset\":<integer >= 0>,\"epoch\":<string>}"};
constexpr ChatError kBadEvents{"bad_events", "events must be true or false"};
constexpr ChatError kRoomTooLong{"room_name_too_long", "room name longer than --max-room-name"};
constexpr ChatError kBadRoomName{"bad_room", "room names are 1 or more of A-Z a-z 0-9 . _ - :"};

bool valid_room_char(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
         ch == '_' || ch == '-' || ch == ':';
}

int hex_value(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

void append_u64(std::string& out, uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

/// Appends `text` as a JSON string. Ids, rooms and epochs are plain ASCII by construction;
/// anything else is escaped all the same.
void append_string(std::string& out, std::string_view text) {
  out += '"';
  for (char ch : text) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\u%04x", static_cast<unsigned>(ch));
      out += esc;
    } else {
      out += ch;
    }
  }
  out += '"';
}

}  // namespace

const ChatError* parse_request(simdjson::dom::element root, ChatRequest& out) {
  std::string_view type;
  if (root["type"].get_string().get(type) != simdjson::SUCCESS) return &kUnknownType;
  if (type == "join") out.type = ChatRequest::Type::kJoin;
  else if (type == "leave") out.type = ChatRequest::Type::kLeave;
  else if (type == "publish") out.type = ChatRequest::Type::kPublish;
  else if (type == "presence") out.type = ChatRequest::Type::kPresence;
  else if (type == "refresh") {
    out.type = ChatRequest::Type::kRefresh;
    return root["token"].get_string().get(out.token) == simdjson::SUCCESS ? nullptr : &kBadToken;
  } else return &kUnknownType;
  if (root["room"].get_string().get(out.room) != simdjson::SUCCESS) return &kBadRoom;
  if (out.type == ChatRequest::Type::kPublish) {
    if (root["data"].get(out.data) != simdjson::SUCCESS) return &kMissingData;
  } else if (out.type == ChatRequest::Type::kJoin) {
    simdjson::dom::element since;
    if (root["since"].get(since) == simdjson::SUCCESS && !since.is_null()) {
      uint64_t offset = 0;
      std::string_view epoch;
      if (!since.is_object() || since["offset"].get_uint64().get(offset) != simdjson::SUCCESS ||
          since["epoch"].get_string().get(epoch) != simdjson::SUCCESS || epoch.size() > 64)
        return &kBadSince;
      out.has_since = true;
      out.since_offset = offset;
      out.since_epoch = epoch;
    }
    simdjson::dom::element events;
    if (root["events"].get(events) == simdjson::SUCCESS) {
      bool on = false;
      if (events.get_bool().get(on) != simdjson::SUCCESS) return &kBadEvents;
      out.events = on;
    }
  }
  return nullptr;
}

const ChatError* check_room_name(std::string_view room, uint32_t max_length) {
  if (room.size() > max_length) return &kRoomTooLong;
  bool ok = !room.empty();
  for (char ch : room) ok = ok && valid_room_char(ch);
  return ok ? nullptr : &kBadRoomName;
}

bool parse_offset(std::string_view text, uint64_t& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

std::string percent_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size() && hex_value(in[i + 1]) >= 0 && hex_value(in[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2]));
      i += 2;
    } else {
      out += in[i] == '+' ? ' ' : in[i];
    }
  }
  return out;
}

std::string hello_text(std::string_view id, std::optional<std::string_view> user) {
  std::string out = "{\"type\":\"hello\",\"id\":";
  append_string(out, id);
  if (user) {
    out += ",\"user\":";
    append_json_string(out, *user);  // the token's text: any UTF-8
  }
  return out += '}';
}

std::string error_text(const ChatError& e) {
  std::string out = "{\"type\":\"error\",\"code\":\"";
  out.append(e.code).append("\",\"reason\":");
  append_string(out, e.reason);
  return out += '}';
}

std::string rate_limited_text(const char* reason, uint32_t retry_after_ms) {
  std::string out = error_text({"rate_limited", reason});
  out.pop_back();  // the closing brace: one field more
  out += ",\"retry_after_ms\":";
  append_u64(out, retry_after_ms);
  return out += '}';
}

std::string joined_text(std::string_view room, uint64_t offset, std::string_view epoch, int recovered) {
  std::string out = "{\"type\":\"joined\",\"room\":";
  append_string(out, room);
  out += ",\"offset\":";
  append_u64(out, offset);
  out += ",\"epoch\":";
  append_string(out, epoch);
  if (recovered >= 0) out += recovered ? ",\"recovered\":true" : ",\"recovered\":false";
  return out += '}';
}

std::string left_text(std::string_view room) {
  std::string out = "{\"type\":\"left\",\"room\":";
  append_string(out, room);
  return out += '}';
}

std::string message_body(std::string_view from, std::optional<std::string_view> user, uint64_t ts_ms,
                         std::string_view data_json) {
  std::string out;
  out.reserve(data_json.size() + from.size() + (user ? user->size() + 10 : 0) + 40);
  out += "\"from\":";
  append_string(out, from);
  if (user) {
    out += ",\"user\":";
    append_json_string(out, *user);  // the token's text: any UTF-8
  }
  out += ",\"ts\":";
  append_u64(out, ts_ms);
  out += ",\"data\":";
  out += data_json;
  return out;
}

std::string message_text(std::string_view room, uint64_t offset, std::string_view epoch, std::string_view body) {
  std::string out;
  out.reserve(body.size() + room.size() + epoch.size() + 64);
  out += "{\"type\":\"message\",\"room\":";
  append_string(out, room);
  out += ",\"offset\":";
  append_u64(out, offset);
  out += ",\"epoch\":";
  append_string(out, epoch);
  out += ',';
  out += body;
  return out += '}';
}

std::string presence_text(std::string_view room, uint64_t count, const std::vector<std::string>* members) {
  std::string out = "{\"type\":\"presence\",\"room\":";
  append_string(out, room);
  out += ",\"count\":";
  append_u64(out, count);
  if (members) {
    out += ",\"members\":[";
    for (size_t i = 0; i < members->size(); ++i) {
      if (i) out += ',';
      append_string(out, (*members)[i]);
    }
    out += ']';
  }
  return out += '}';
}

std::string member_event_text(bool joined, std::string_view room, std::string_view id) {
  std::string out = joined ? "{\"type\":\"member_joined\",\"room\":" : "{\"type\":\"member_left\",\"room\":";
  append_string(out, room);
  out += ",\"id\":";
  append_string(out, id);
  return out += '}';
}

}  // namespace ringws
