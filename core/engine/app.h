// Applications run on the connection API (Engine). One App object per reactor (behaviour
// per context, STYLE.md habit 8): no object or closure per connection. Apps name
// connections only by ConnId; every Engine call checks the id, so an id kept past a close
// never reaches the slot's next occupant.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "alloc/shared_frame.h"
#include "core/engine/connection.h"
#include "proto/ws_framer.h"

namespace ringws {

class Engine;

class App {
 public:
  virtual ~App() = default;
  /// Once, when the reactor's engine is built: the app defines its rate-limit classes here
  /// (Engine::define_rate).
  virtual void on_attach(Engine&) {}
  /// The WebSocket handshake completed; `target` is the request's path and query. The
  /// connection can be closed by anything this callback does (a reply over --max-backlog
  /// closes it as a slow consumer): check Engine::is_open before acting on it again.
  virtual void on_open(Engine&, ConnId, std::string_view /*target*/) {}
  /// A complete text (valid UTF-8) or binary message. `payload` is valid during the call.
  virtual void on_message(Engine&, ConnId, Opcode, std::span<const uint8_t> payload) = 0;
  /// The connection is no longer open (close frame, error, timeout, drain or shutdown):
  /// `app_word` is the word it held; the id no longer resolves. Called once per on_open.
  virtual void on_close(Engine&, ConnId, uint32_t /*app_word*/) {}
  /// A frame another reactor handed this one with Engine::post(); owns one reference.
  virtual void on_posted(Engine&, SharedFrame* frame, uint32_t /*tag*/) { frame->release(); }
  /// Once a second, on the reactor's thread (retries, expiries, backoff).
  virtual void on_tick(Engine&) {}
  /// The process is exiting: the last moment to close what the app watches (Engine::unwatch_fd).
  virtual void on_exit(Engine&) {}
};

struct ServerState;

/// One per process: makes each reactor's App and contributes the app's own figures to
/// /metrics. Built on the main thread before any reactor runs.
class AppModule {
 public:
  virtual ~AppModule() = default;
  /// The App of reactor `reactor`; called once per reactor, on the main thread.
  virtual std::unique_ptr<App> make_app(unsigned reactor) = 0;
  /// Appends Prometheus text (# HELP, # TYPE and samples) for the app's own gauges.
  virtual void render_metrics(std::string& /*out*/) const {}
};

}  // namespace ringws
