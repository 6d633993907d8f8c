#include "core/listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace ringws {

namespace {

struct Address {
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family = AF_UNSPEC;
  sockaddr* get() { return reinterpret_cast<sockaddr*>(&storage); }
};

/// An IPv6 or IPv4 literal (no name lookup: a server binds where it is told).
int parse_address(const std::string& host, uint16_t port, Address& out) {
  auto* a6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
  auto* a4 = reinterpret_cast<sockaddr_in*>(&out.storage);
  if (inet_pton(AF_INET6, host.c_str(), &a6->sin6_addr) == 1) {
    a6->sin6_family = out.family = AF_INET6;
    a6->sin6_port = htons(port);
    out.length = sizeof(sockaddr_in6);
  } else if (inet_pton(AF_INET, host.c_str(), &a4->sin_addr) == 1) {
    a4->sin_family = out.family = AF_INET;
    a4->sin_port = htons(port);
    out.length = sizeof(sockaddr_in);
  } else {
    return -EINVAL;
  }
  return 0;
}

}  // namespace

int check_port_free(const std::string& host, uint16_t port) {
  Address addr;
  if (int err = parse_address(host, port, addr); err < 0) return err;
  if (port == 0) return 0;
  int fd = socket(addr.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int ret = bind(fd, addr.get(), addr.length) < 0 ? -errno : 0;
  close(fd);
  return ret;
}

int open_listening_socket(const std::string& host, uint16_t port, uint16_t& bound_port) {
  Address addr;
  if (int err = parse_address(host, port, addr); err < 0) return err;
  int fd = socket(addr.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  // Accepted sockets inherit TCP_NODELAY from the listener on Linux: small frames go out
  // at once, which direct descriptors could otherwise only set through a uring_cmd.
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (bind(fd, addr.get(), addr.length) < 0 || listen(fd, 4096) < 0) {
    int err = -errno;
    close(fd);
    return err;
  }
  // The bound port is what reactors share and the log announces: a failure here must not
  // leave the port reading as 0 (or the requested one) while the socket is bound elsewhere.
  addr.length = sizeof addr.storage;
  if (getsockname(fd, addr.get(), &addr.length) < 0) {
    int err = -errno;
    close(fd);
    return err;
  }
  bound_port = ntohs(addr.family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr.storage)->sin6_port
                                             : reinterpret_cast<sockaddr_in*>(&addr.storage)->sin_port);
  return fd;
}

}  // namespace ringws
