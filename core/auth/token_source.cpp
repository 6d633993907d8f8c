#include "core/auth/token_source.h"

namespace ringws {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string_view trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

/// Calls `each(key, value, whole)` for each `&`-separated parameter of the query.
template <typename Each>
void for_each_param(std::string_view query, Each&& each) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    size_t eq = pair.find('=');
    each(pair.substr(0, eq), eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1), pair);
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
}

}  // namespace

TokenSource find_token(const HttpRequest& request, std::string& scratch) {
  TokenSource found;
  int tokens = 0;
  size_t q = request.target.find('?');
  if (q != std::string_view::npos) {
    for_each_param(request.target.substr(q + 1), [&](std::string_view key, std::string_view value, std::string_view) {
      if (key != "token") return;
      ++tokens;
      found.where = TokenSource::kQuery;
      found.token = value;
    });
  }
  for (size_t i = 0; i < request.sec_websocket_protocol_lines; ++i) {
    std::string_view list = request.sec_websocket_protocol[i];
    while (!list.empty()) {
      size_t comma = list.find(',');
      std::string_view item = trim(list.substr(0, comma));
      if (item == kSubprotocol) {
        found.subprotocol = kSubprotocol;
      } else if (item.starts_with(kBearerPrefix)) {
        ++tokens;
        found.where = TokenSource::kProtocol;
        found.token = item.substr(kBearerPrefix.size());
      }
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  if (tokens > 1) {
    found.where = TokenSource::kAmbiguous;
    found.token = {};
  } else if (found.where == TokenSource::kQuery && found.token.find('%') != std::string_view::npos) {
    scratch.clear();
    std::string_view v = found.token;
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i] == '%' && i + 2 < v.size() && hex_value(v[i + 1]) >= 0 && hex_value(v[i + 2]) >= 0) {
        scratch += static_cast<char>(hex_value(v[i + 1]) * 16 + hex_value(v[i + 2]));
        i += 2;
      } else {
        scratch += v[i];  // kept as it is; the token then fails its base64url check
      }
    }
    found.token = scratch;
  }
  return found;
}

std::string_view strip_token(std::string_view target, std::string& scratch) {
  size_t q = target.find('?');
  if (q == std::string_view::npos) return target;
  bool has_token = false;
  for_each_param(target.substr(q + 1), [&](std::string_view key, std::string_view, std::string_view) {
    has_token = has_token || key == "token";
  });
  if (!has_token) return target;
  scratch.assign(target.substr(0, q));
  char separator = '?';
  for_each_param(target.substr(q + 1), [&](std::string_view key, std::string_view, std::string_view whole) {
    if (key == "token") return;
    scratch += separator;
    scratch.append(whole);
    separator = '&';
  });
  return scratch;
}

}  // namespace ringws
