// --app echo: every text and binary message goes back to its sender, same opcode. The
// target of conformance testing.
#include "core/app.h"
#include "core/reactor.h"

namespace ringws {

class EchoApp final : public App {
 public:
  void on_message(Reactor& reactor, ConnId conn, Opcode opcode, std::span<const uint8_t> payload) override {
    if (SharedFrame* frame = make_frame(opcode, payload)) reactor.send(conn, frame);
  }
};

std::unique_ptr<App> make_echo_app() { return std::make_unique<EchoApp>(); }

}  // namespace ringws
