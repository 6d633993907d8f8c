// ringws: a WebSocket server on per-core io_uring reactors. See README.md.
#include "core/config.h"
#include "core/server.h"

int main(int argc, char** argv) {
  ringws::Config config;
  bool exit_now = false;
  int code = ringws::parse_config(argc, argv, config, exit_now);
  if (exit_now) return code;
  return ringws::run_server(config);
}
