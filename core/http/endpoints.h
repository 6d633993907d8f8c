// The plain HTTP endpoints. The public port serves GET /healthz for the load balancer, the
// demo page at / with --demo, and in dev mode (--dev-token-secret) GET /dev/token?name=NAME;
// the admin listener (--admin-listen, private) serves GET /healthz and GET /metrics, and
// POST /admin/drain (see the engine's HTTP phase). A pure routing function: the engine
// sends what it returns and closes.
#pragma once

#include <string>
#include <string_view>

namespace ringws {

struct ServerState;

struct PlainResponse {
  int status = 404;
  std::string body;  ///< empty: the reason phrase
  std::string_view content_type = "text/plain; charset=utf-8";
};

/// The answer to a GET of `target` (path and query) that is not a WebSocket upgrade.
/// /healthz answers 503 only while draining: an ALB health check that fails makes ECS
/// replace the task, which would cut every connection it holds, so being full (memory or
/// descriptors) is never reported as unhealthy.
PlainResponse route_plain_get(std::string_view target, const ServerState& state, bool admin);

}  // namespace ringws
