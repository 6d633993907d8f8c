// --redis URL: redis://[[user]:password@]host[:port][/db]. TLS (rediss://) is refused: the
// hiredis of Debian 12 (0.14.1) has none. The host is resolved once, at start, on the main
// thread (a reactor never blocks on a name lookup): after a failover that moves a DNS name
// to another address, restart the instances.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ringws {

struct RedisTarget {
  std::string host;      ///< as written in the URL
  std::string address;   ///< numeric IPv4 or IPv6 address (resolve_redis_host)
  uint16_t port = 6379;
  uint32_t db = 0;
  std::string user;      ///< AUTH user (Redis 6 ACL), empty for the default user
  std::string password;  ///< AUTH password; empty: no AUTH
};

/// Parses `url`; on failure returns false with `error` saying why.
bool parse_redis_url(std::string_view url, RedisTarget& out, std::string& error);
/// Resolves out.host into out.address (numeric hosts need no lookup); false with `error`.
bool resolve_redis_host(RedisTarget& out, std::string& error);

}  // namespace ringws
