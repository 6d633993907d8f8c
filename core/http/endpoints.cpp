#include "core/http/endpoints.h"

#include "core/demo_page.h"
#include "core/http/metrics.h"
#include "core/server_state.h"

namespace ringws {

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
  return {404, {}};
}

}  // namespace ringws
