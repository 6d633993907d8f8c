// Where a connection's token rides in its upgrade request. Browsers cannot set headers on a
// WebSocket, so a token comes either in the query (`?token=JWT`) or as an element of
// Sec-WebSocket-Protocol: `Sec-WebSocket-Protocol: ringws.v1, bearer.JWT`. A JWT is made of
// token characters (base64url and dots), so it is a valid subprotocol name as it stands.
// The server answers with the subprotocol `ringws.v1` when the client offered it (browsers
// fail a connection whose offered subprotocols get no answer) and never echoes the token.
// Pure functions over the parsed request (STYLE.md habit 1).
#pragma once

#include <string>
#include <string_view>

#include "proto/http_request.h"

namespace ringws {

inline constexpr std::string_view kSubprotocol = "ringws.v1";
inline constexpr std::string_view kBearerPrefix = "bearer.";

struct TokenSource {
  enum Where { kNone, kQuery, kProtocol, kAmbiguous };
  Where where = kNone;           ///< kAmbiguous: more than one token (two places, or twice in one)
  std::string_view token;        ///< views the request, or the caller's scratch (a percent-decoded query)
  std::string_view subprotocol;  ///< kSubprotocol if the client offered it, else empty
};

/// Finds the token and the subprotocol to answer with. The query's `token` value is
/// percent-decoded into `scratch` when it holds escapes ('+' stays '+': base64url has none).
TokenSource find_token(const HttpRequest& request, std::string& scratch);

/// `target` without its `token` query parameters, for logs and apps; views `target` when it
/// has none, else `scratch`.
std::string_view strip_token(std::string_view target, std::string& scratch);

}  // namespace ringws
