#include "core/app.h"

namespace ringws {

std::unique_ptr<App> make_echo_app();
std::unique_ptr<App> make_shootout_app();
std::unique_ptr<App> make_chat_app(ServerState& state);

std::unique_ptr<App> make_app(std::string_view name, ServerState& state) {
  if (name == "chat") return make_chat_app(state);
  if (name == "echo") return make_echo_app();
  if (name == "shootout") return make_shootout_app();
  return nullptr;
}

}  // namespace ringws
