// The chat protocol's text (docs/protocol.md): client requests parsed from JSON, and the
// server's messages written. Pure functions over strings, with no connection or room in
// sight, so each can be tested alone and checks (permissions, rate limits) can be put
// between parsing and acting.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ringws {

/// A client's request, viewing the parsed document and the message text.
struct ChatRequest {
  enum class Type : uint8_t { kJoin, kLeave, kPublish, kPresence, kRefresh };
  Type type = Type::kJoin;
  std::string_view room;
  simdjson::dom::element data;  ///< publish: the value to send
  bool has_since = false;       ///< join: "since" was given (recovery)
  uint64_t since_offset = 0;
  std::string_view since_epoch;
  bool events = false;  ///< join: "events":true asks for member_joined / member_left
  std::string_view token;  ///< refresh: the new token (no room)
};

/// Why a request was refused: `code` and `reason` are fixed ASCII texts.
struct ChatError {
  const char* code;
  const char* reason;
};

/// Reads a request from a parsed JSON message; null on success, else the error to send.
/// The room name is not checked here (see valid_room_name).
const ChatError* parse_request(simdjson::dom::element root, ChatRequest& out);
/// Checks a room name against docs/protocol.md; null when acceptable.
const ChatError* check_room_name(std::string_view room, uint32_t max_length);
/// Parses "since=N&epoch=E" values from a URL join; false when N is not a number.
bool parse_offset(std::string_view text, uint64_t& out);
/// Percent-decodes a query value ('+' is a space); malformed escapes are kept as they are.
std::string percent_decode(std::string_view in);

// ---- Server messages ------------------------------------------------------------------
/// `user`: the token's subject with --auth jwt, written as "user" beside "id".
std::string hello_text(std::string_view id, std::optional<std::string_view> user = std::nullopt);
std::string error_text(const ChatError& e);
/// {"type":"error","code":"rate_limited","reason":REASON,"retry_after_ms":N}
std::string rate_limited_text(const char* reason, uint32_t retry_after_ms);
/// `recovered`: -1 leaves the field out (a join without since), 0 false, 1 true.
std::string joined_text(std::string_view room, uint64_t offset, std::string_view epoch, int recovered);
std::string left_text(std::string_view room);
/// The part of a message that every copy shares, stored in history and sent over the
/// backplane: "from":"<id>"[,"user":"<sub>"],"ts":<ms>,"data":<compact JSON>. `user` is the
/// publisher's token subject with --auth jwt, so nobody can publish as someone else.
std::string message_body(std::string_view from, std::optional<std::string_view> user, uint64_t ts_ms,
                         std::string_view data_json);
/// {"type":"message","room":R,"offset":N,"epoch":E,<body>}
std::string message_text(std::string_view room, uint64_t offset, std::string_view epoch, std::string_view body);
std::string presence_text(std::string_view room, uint64_t count, const std::vector<std::string>* members);
/// {"type":"member_joined"|"member_left","room":R,"id":ID}
std::string member_event_text(bool joined, std::string_view room, std::string_view id);

}  // namespace ringws
