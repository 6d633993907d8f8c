// Applications run on the connection API. One App object per reactor (behaviour per
// context, STYLE.md habit 8): no object or closure per connection.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "alloc/shared_frame.h"
#include "core/connection.h"
#include "proto/ws_framer.h"

namespace ringws {

class Reactor;
struct Config;

class App {
 public:
  virtual ~App() = default;
  /// The WebSocket handshake completed; `target` is the request's path and query.
  virtual void on_open(Reactor&, ConnId, std::string_view /*target*/) {}
  /// A complete text (valid UTF-8) or binary message. `payload` is valid during the call.
  virtual void on_message(Reactor&, ConnId, Opcode, std::span<const uint8_t> payload) = 0;
  /// The connection is going away (close frame, error, timeout or shutdown).
  virtual void on_close(Reactor&, ConnId) {}
  /// A frame another reactor handed this one with Reactor::post(); owns one reference.
  virtual void on_posted(Reactor&, SharedFrame* frame, uint32_t /*tag*/) { frame->release(); }
};

struct ServerState;

/// The app named by --app for one reactor; nullptr for an unknown name. Called once per
/// reactor, from one thread, before any reactor runs.
std::unique_ptr<App> make_app(std::string_view name, ServerState& state);

}  // namespace ringws
