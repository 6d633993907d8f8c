#include "core/http/endpoints.h"

#include "core/auth/dev_token.h"
#include "core/clock.h"
#include "core/demo_page.h"
#include "core/http/metrics.h"
#include "core/server_state.h"

namespace ringws {

namespace {

/// Dev mode: GET /dev/token?name=NAME answers a fresh token for NAME (400 for a bad name).
PlainResponse mint_for_query(std::string_view target, const ServerState& state) {
  size_t q = target.find('?');
  std::string_view query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
  std::string_view name;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    if (pair.starts_with("name=")) name = pair.substr(5);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
  }
  std::string token = mint_dev_token(state.auth.dev_secret, name, static_cast<int64_t>(wall_ms() / 1000));
  if (token.empty()) return {400, "name: 1 to 32 of A-Z a-z 0-9 . _ -\n"};
  return {200, "{\"token\":\"" + token + "\",\"expires_in\":" + std::to_string(kDevTokenSeconds) + "}\n",
          "application/json"};
}

}  // namespace

PlainResponse route_plain_get(std::string_view target, const ServerState& state, bool admin) {
  std::string_view path = target.substr(0, target.find('?'));
  if (path == "/healthz") {
    bool draining = state.draining.load(std::memory_order_relaxed);
    return {draining ? 503 : 200, draining ? "draining\n" : "ok\n"};
  }
  // /metrics tells an attacker how loaded the server is and what it refuses: never through
  // the balancer, only on the private admin listener.
  if (admin && path == "/metrics") return {200, render_prometheus(state), "text/plain; version=0.0.4; charset=utf-8"};
  if (!admin && state.config.demo && (path == "/" || path == "/index.html"))
    return {200, std::string(demo_page()), "text/html; charset=utf-8"};
  if (!admin && !state.auth.dev_secret.empty() && path == "/dev/token") return mint_for_query(target, state);
  return {404, {}};
}

}  // namespace ringws
