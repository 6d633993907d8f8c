// --app echo: every text and binary message goes back to its sender, same opcode. The
// target of conformance testing.
#include "core/engine/app.h"
#include "core/engine/engine.h"

namespace ringws {

class EchoApp final : public App {
 public:
  void on_message(Engine& engine, ConnId conn, Opcode opcode, std::span<const uint8_t> payload) override {
    if (SharedFrame* frame = make_frame(opcode, payload)) engine.send(conn, frame);
  }
};

std::unique_ptr<App> make_echo_app() { return std::make_unique<EchoApp>(); }

}  // namespace ringws
