// Who may do what in chat rooms, kept apart from the room mechanics in chat_app.cpp: the
// token's room patterns (--auth jwt), --read-only-rooms, and the rate limits on publishes
// and on joins and leaves (the engine limits every message; these are chat's own classes).
// Each admit_* function sends the client its error and returns false when the request is
// refused; the connection stays open unless refusals pass --rate-limit-refusals (1008).
#pragma once

#include <optional>
#include <string_view>

#include "core/engine/connection.h"

namespace ringws {

class Engine;
struct ChatOptions;

/// Chat's rate classes in the engine's limiter (class 0 is the engine's messages).
enum ChatRateClass : unsigned { kPublishClass = 1, kJoinClass = 2 };

/// App::on_attach: defines the publish and join classes from the options.
void define_chat_rates(Engine& engine, const ChatOptions& options);

/// {"type":"error","code":CODE,"reason":REASON}; both fixed ASCII texts.
void send_chat_error(Engine& engine, ConnId conn, const char* code, const char* reason);

/// A join or a leave: the join/leave rate.
bool admit_join_or_leave(Engine& engine, ConnId conn);
/// A join: the token's "rooms" patterns (always true without --auth jwt).
bool admit_join(Engine& engine, ConnId conn, std::string_view room);
/// A publish: the publish rate, then the token's "publish" patterns and --read-only-rooms.
bool admit_publish(Engine& engine, ConnId conn, std::string_view room, const ChatOptions& options);
/// True if the connection may still be in `room` (after a refresh that changed its grants).
bool may_stay(Engine& engine, ConnId conn, std::string_view room);

/// {"type":"refresh","token":...}: replaces the connection's token; answers
/// {"type":"refreshed"} or an error (bad_token, wrong_user, auth_disabled). True on success.
bool handle_refresh(Engine& engine, ConnId conn, std::string_view token);

/// The connection's user (its token's subject) with --auth jwt; nothing without it.
std::optional<std::string_view> user_of(Engine& engine, ConnId conn);

}  // namespace ringws
