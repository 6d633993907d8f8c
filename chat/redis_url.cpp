#include "chat/redis_url.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <charconv>

namespace ringws {

namespace {

std::string percent_decoded(std::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    unsigned v = 0;
    if (in[i] == '%' && i + 2 < in.size() &&
        std::from_chars(in.data() + i + 1, in.data() + i + 3, v, 16).ptr == in.data() + i + 3) {
      out += static_cast<char>(v);
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

}  // namespace

bool parse_redis_url(std::string_view url, RedisTarget& out, std::string& error) {
  constexpr std::string_view kScheme = "redis://";
  if (url.substr(0, 9) == "rediss://") {
    error = "rediss:// (TLS) is not supported: this build's hiredis has no TLS; use redis:// inside the VPC";
    return false;
  }
  if (url.substr(0, kScheme.size()) != kScheme) {
    error = "must start with redis:// (redis://host:6379/0)";
    return false;
  }
  std::string_view rest = url.substr(kScheme.size());
  std::string_view authority = rest.substr(0, rest.find('/'));
  std::string_view path = authority.size() < rest.size() ? rest.substr(authority.size() + 1) : std::string_view{};
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    size_t colon = userinfo.find(':');
    if (colon == std::string_view::npos) {
      out.password = percent_decoded(userinfo);  // redis://secret@host, as redis-cli reads it
    } else {
      out.user = percent_decoded(userinfo.substr(0, colon));
      out.password = percent_decoded(userinfo.substr(colon + 1));
    }
  }
  std::string_view host = authority, port;
  if (!authority.empty() && authority.front() == '[') {  // [IPv6]:port
    size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      error = "has an unclosed [ in its host";
      return false;
    }
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        error = "has text after ]";
        return false;
      }
      port = after.substr(1);
    }
  } else if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) {
    error = "has no host (redis://host:6379/0)";
    return false;
  }
  out.host.assign(host);
  if (!port.empty() || authority.back() == ':') {
    unsigned v = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
    if (ec != std::errc() || end != port.data() + port.size() || v == 0 || v > 65535) {
      error = "has an invalid port (1-65535)";
      return false;
    }
    out.port = static_cast<uint16_t>(v);
  }
  if (size_t q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
  if (!path.empty()) {
    unsigned v = 0;
    auto [end, ec] = std::from_chars(path.data(), path.data() + path.size(), v);
    if (ec != std::errc() || end != path.data() + path.size() || v > 1000000) {
      error = "has an invalid database number after / (redis://host:6379/0)";
      return false;
    }
    out.db = v;
  }
  return true;
}

bool resolve_redis_host(RedisTarget& out, std::string& error) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  int rc = getaddrinfo(out.host.c_str(), nullptr, &hints, &found);
  if (rc != 0 || !found) {
    error = "host " + out.host + " cannot be resolved: " + gai_strerror(rc);
    return false;
  }
  char text[INET6_ADDRSTRLEN] = "";
  if (found->ai_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr, text, sizeof text);
  else if (found->ai_family == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(found->ai_addr)->sin6_addr, text, sizeof text);
  freeaddrinfo(found);
  if (!text[0]) {
    error = "host " + out.host + " has no IPv4 or IPv6 address";
    return false;
  }
  out.address = text;
  return true;
}

}  // namespace ringws
