// A descriptor the app watches on the reactor's loop (FdWatcher), on both real backends: a
// pipe becomes readable, the watcher hears it on the reactor's thread, a change of interest
// takes effect, and after unwatch_fd nothing more is heard.
#include <unistd.h>

#include <atomic>
#include <thread>

#include "core/epoll/epoll_backend.h"
#include "core/listener.h"
#include "core/uring/uring_backend.h"
#include "tests/unit/core/engine/engine_harness.h"

namespace ringws::test {
namespace {

/// Counts readiness; on the first readable event it switches to watching for writability
/// of the same pipe's other end, and on that it stops the reactor.
class PipeWatcher final : public FdWatcher {
 public:
  PipeWatcher(Engine& engine, ServerState& state, int read_fd, int write_fd)
      : engine_(engine), state_(state), read_fd_(read_fd), write_fd_(write_fd) {}
  void on_fd_ready(int fd, bool readable, bool writable, bool) override {
    if (fd == read_fd_ && readable) {
      char b[16];
      [[maybe_unused]] ssize_t n = ::read(fd, b, sizeof b);
      ++reads;
      engine_.unwatch_fd(read_fd_);
      engine_.watch_fd(write_fd_, false, true, *this);
    } else if (fd == write_fd_ && writable) {
      ++writes;
      engine_.unwatch_fd(write_fd_);
      state_.exit_now.store(true);  // ends the loop at the end of this iteration
    }
  }
  std::atomic<int> reads{0}, writes{0};

 private:
  Engine& engine_;
  ServerState& state_;
  int read_fd_, write_fd_;
};

template <typename MakeBackend>
void run_pipe_case(MakeBackend make_backend) {
  Config config;
  MemoryGovernor governor;
  ServerState state(config, governor);
  RecordingApp::Log log;
  uint16_t port = 0;
  int listen_fd = open_listening_socket("127.0.0.1", 0, port);
  ASSERT_GE(listen_fd, 0);
  Engine engine(state, 0, std::make_unique<RecordingApp>(log), 64);
  std::unique_ptr<Backend> backend = make_backend(engine, listen_fd);
  engine.attach(*backend);
  std::vector<Engine*> peers{&engine};
  engine.set_peers(peers);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  PipeWatcher watcher(engine, state, fds[0], fds[1]);
  int setup = 0;
  std::atomic<bool> watching{false};
  std::thread reactor([&] {
    const char* what = "";
    setup = backend->setup(what);
    if (setup == 0) {
      engine.watch_fd(fds[0], true, false, watcher);
      watching = true;
      backend->run();
    }
    watching = true;
  });
  while (!watching) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (setup == 0) {
    ASSERT_EQ(::write(fds[1], "x", 1), 1);
  }
  reactor.join();
  ::close(fds[0]);
  ::close(fds[1]);
  backend.reset();
  if (setup != 0) GTEST_SKIP() << "backend set-up failed here: " << setup;
  EXPECT_EQ(watcher.reads, 1);
  EXPECT_EQ(watcher.writes, 1);
}

TEST(FdWatch, EpollBackendWatchesAnAppDescriptor) {
  DescriptorBudget budget;
  budget.limit = 1000;
  run_pipe_case([&](Engine& engine, int fd) -> std::unique_ptr<Backend> {
    return std::make_unique<EpollBackend>(engine, fd, EpollSettings{}, budget);
  });
}

TEST(FdWatch, UringBackendWatchesAnAppDescriptor) {
  run_pipe_case([](Engine& engine, int fd) -> std::unique_ptr<Backend> {
    return std::make_unique<UringBackend>(engine, fd, 64, UringSettings{16, 512});
  });
}

}  // namespace
}  // namespace ringws::test
