// Why a connection ended, counted per reason in /metrics.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>

namespace ringws {

enum class CloseReason : uint8_t {
  kPeerGone,          ///< EOF or reset without a close frame (the default)
  kNormal,            ///< the peer's close frame (a completed close handshake)
  kShutdown,          ///< our 1001 during a drain
  kProtocolError,     ///< 1002
  kInvalidData,       ///< 1007
  kTooBig,            ///< 1009
  kSlowConsumer,      ///< 1008: over --max-backlog
  kIdleTimeout,       ///< 1001 after --idle-timeout of silence
  kHandshakeTimeout,  ///< no complete request within --handshake-timeout
  kHttp,              ///< a plain HTTP request was answered, or an upgrade refused
  kApplication,       ///< the app closed it
  kInternal,          ///< out of memory or a failed operation
  kOverloaded,        ///< 1013: the memory governor refused a buffer for a message
  kTokenExpired,      ///< 4001: the connection's token ran out (--auth jwt)
  kRateLimited,       ///< 1008: kept asking before retry_after_ms, more than --rate-limit-refusals times
  kCount,
};
static_assert(static_cast<int>(CloseReason::kCount) <= 16, "Connection::close_reason has 4 bits");

inline const char* close_reason_name(CloseReason r) {
  static const char* const kNames[] = {"peer_gone",    "normal",       "shutdown",     "protocol_error",
                                       "invalid_data", "too_big",      "slow_consumer", "idle_timeout",
                                       "handshake_timeout", "http",    "application",  "internal",
                                       "overloaded",   "token_expired", "rate_limited"};
  static_assert(std::size(kNames) == static_cast<size_t>(CloseReason::kCount));
  return kNames[static_cast<int>(r)];
}

/// Why an HTTP request did not become a WebSocket connection.
enum class RefuseReason : uint8_t {
  kBadRequest,  ///< 400
  kMethod,      ///< 405
  kVersion,     ///< 426
  kTooLarge,    ///< 431
  kOrigin,      ///< 403, --allowed-origins
  kCapacity,    ///< 503, --max-connections or the descriptor table's reserve
  kPerAddress,  ///< 429, --max-per-address
  kDraining,    ///< 503 after SIGTERM
  kMemory,      ///< 503 over the memory high-water mark
  kUnauthorized,  ///< 401, --auth jwt: a missing, bad or expired token
  kCount,
};

inline const char* refuse_reason_name(RefuseReason r) {
  static const char* const kNames[] = {"bad_request", "method",     "version",     "too_large",
                                       "origin",      "capacity",   "per_address", "draining",
                                       "memory",      "unauthorized"};
  static_assert(std::size(kNames) == static_cast<size_t>(RefuseReason::kCount));
  return kNames[static_cast<int>(r)];
}

}  // namespace ringws
