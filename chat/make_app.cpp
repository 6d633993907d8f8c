// The app named by --app, as a module that makes one App per reactor.
#include "chat/make_app.h"

namespace ringws {

std::unique_ptr<App> make_echo_app();
std::unique_ptr<App> make_shootout_app();
std::unique_ptr<AppModule> make_chat_module(const ChatOptions& options);

namespace {

/// An app with no process-wide state: each reactor gets a fresh one from `make`.
class StatelessModule final : public AppModule {
 public:
  explicit StatelessModule(std::unique_ptr<App> (*make)()) : make_(make) {}
  std::unique_ptr<App> make_app(unsigned) override { return make_(); }

 private:
  std::unique_ptr<App> (*make_)();
};

}  // namespace

std::unique_ptr<AppModule> make_app_module(std::string_view name, const ChatOptions& chat) {
  if (name == "chat") return make_chat_module(chat);
  if (name == "echo") return std::make_unique<StatelessModule>(&make_echo_app);
  if (name == "shootout") return std::make_unique<StatelessModule>(&make_shootout_app);
  return nullptr;
}

}  // namespace ringws
