#include "core/listener.h"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>

// getsockname, interposed for this test binary: a definition in the executable wins over
// libc's, so the listener's call lands here. It fails with ENOBUFS while armed and forwards
// to libc otherwise.
namespace {
std::atomic<bool> fail_getsockname{false};
}

extern "C" int getsockname(int fd, sockaddr* addr, socklen_t* len) {
  if (fail_getsockname.load()) {
    errno = ENOBUFS;
    return -1;
  }
  using Fn = int (*)(int, sockaddr*, socklen_t*);
  static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "getsockname"));
  return real(fd, addr, len);
}

namespace ringws {
namespace {

size_t open_descriptors() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

TEST(Listener, PicksAPortForPortZero) {
  uint16_t bound = 0;
  int fd = open_listening_socket("127.0.0.1", 0, bound);
  ASSERT_GE(fd, 0) << -fd;
  EXPECT_NE(bound, 0);
  close(fd);
}

TEST(Listener, FailedGetsocknameIsAnErrorAndClosesTheSocket) {
  const size_t before = open_descriptors();
  uint16_t bound = 12345;
  fail_getsockname.store(true);
  int ret = open_listening_socket("127.0.0.1", 0, bound);
  fail_getsockname.store(false);
  if (ret >= 0) close(ret);
  EXPECT_EQ(ret, -ENOBUFS);
  EXPECT_EQ(bound, 12345) << "the port is not reported when it is unknown";
  EXPECT_EQ(open_descriptors(), before) << "the socket was left open";
}

}  // namespace
}  // namespace ringws
