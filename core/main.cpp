// ringws: a WebSocket server on per-core reactors (io_uring, or epoll where io_uring is
// refused). See README.md.
#include <cstdio>

#include "chat/chat_options.h"
#include "chat/make_app.h"
#include "core/config.h"
#include "core/server.h"

int main(int argc, char** argv) {
  ringws::Config config;
  ringws::ChatOptions chat;
  ringws::OptionGroup* app_groups[] = {&chat};
  bool exit_now = false;
  int code = ringws::parse_config(argc, argv, config, exit_now, app_groups);
  if (exit_now) return code;
  auto app = ringws::make_app_module(config.app, chat);
  if (!app) {
    std::fprintf(stderr, "ringws: unknown app %s\n", config.app.c_str());
    return ringws::kExitUsage;
  }
  return ringws::run_server(config, *app);
}
