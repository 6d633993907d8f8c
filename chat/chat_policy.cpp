#include "chat/chat_policy.h"

#include "chat/chat_options.h"
#include "chat/protocol.h"
#include "core/config.h"
#include "core/engine/engine.h"
#include "core/log.h"
#include "proto/jwt.h"

namespace ringws {

namespace {

void send_text(Engine& engine, ConnId conn, std::string_view text) {
  if (SharedFrame* f = make_text_frame(text)) engine.send(conn, f);
}

/// Takes a token of `klass`; on a refusal sends rate_limited with retry_after_ms (unless the
/// refusal closed the connection).
bool admit_rate(Engine& engine, ConnId conn, unsigned klass, const char* reason) {
  Engine::RateResult r = engine.take_token(conn, klass);
  if (r.allowed) return true;
  if (r.closed) return false;
  send_text(engine, conn, rate_limited_text(reason, r.retry_after_ms));
  return false;
}

}  // namespace

void define_chat_rates(Engine& engine, const ChatOptions& options) {
  engine.define_rate(kPublishClass, {options.publish_rate, options.publish_burst, "publish"});
  engine.define_rate(kJoinClass, {options.join_rate, options.join_burst, "join"});
  // The guarantee the publish limit gives a room's readers: one publisher's burst fits a
  // reader's backlog. Say so once when the settings break it.
  uint64_t burst_bytes = uint64_t(options.publish_burst) * options.max_publish_bytes;
  if (engine.id() == 0 && options.publish_rate && burst_bytes > engine.config().max_backlog)
    log_event(LogLevel::kWarn, "publish_burst_over_backlog",
              "\"burst_bytes\":%llu,\"max_backlog\":%llu,\"detail\":\"--publish-burst x --max-publish-bytes is more than "
              "--max-backlog: one publisher's burst can get members closed as slow consumers\"",
              static_cast<unsigned long long>(burst_bytes), static_cast<unsigned long long>(engine.config().max_backlog));
}

void send_chat_error(Engine& engine, ConnId conn, const char* code, const char* reason) {
  send_text(engine, conn, error_text({code, reason}));
}

bool admit_join_or_leave(Engine& engine, ConnId conn) {
  return admit_rate(engine, conn, kJoinClass, "more than --join-rate joins and leaves a second");
}

bool admit_join(Engine& engine, ConnId conn, std::string_view room) {
  if (!engine.auth_enabled()) return true;
  const Grants* g = engine.grants(conn);
  if (g && g->may_join(room)) return true;
  send_chat_error(engine, conn, "forbidden", "the token does not allow joining this room");
  return false;
}

bool admit_publish(Engine& engine, ConnId conn, std::string_view room, const ChatOptions& options) {
  if (!admit_rate(engine, conn, kPublishClass, "more than --publish-rate publishes a second")) return false;
  if (any_pattern_matches(options.read_only_rooms, room)) {
    send_chat_error(engine, conn, "forbidden", "the room is read-only (--read-only-rooms)");
    return false;
  }
  if (!engine.auth_enabled()) return true;
  const Grants* g = engine.grants(conn);
  if (g && g->may_publish(room)) return true;
  send_chat_error(engine, conn, "forbidden", "the token does not allow publishing to this room");
  return false;
}

bool may_stay(Engine& engine, ConnId conn, std::string_view room) {
  if (!engine.auth_enabled()) return true;
  const Grants* g = engine.grants(conn);
  return g && g->may_join(room);
}

bool handle_refresh(Engine& engine, ConnId conn, std::string_view token) {
  switch (engine.refresh_token(conn, token)) {
    case Engine::Refresh::kOk:
      send_text(engine, conn, R"({"type":"refreshed"})");
      return true;
    case Engine::Refresh::kAuthOff:
      send_chat_error(engine, conn, "auth_disabled", "the server runs without --auth jwt");
      return false;
    case Engine::Refresh::kOtherUser:
      send_chat_error(engine, conn, "wrong_user", "the token is for another user");
      return false;
    case Engine::Refresh::kInvalid:
      send_chat_error(engine, conn, "bad_token", "the token was refused");
      return false;
    case Engine::Refresh::kClosed:
      return false;
  }
  return false;
}

std::optional<std::string_view> user_of(Engine& engine, ConnId conn) {
  if (!engine.auth_enabled()) return std::nullopt;
  return engine.user(conn);
}

}  // namespace ringws
