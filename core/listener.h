// The listening sockets: one per reactor, sharing the port with SO_REUSEPORT.
#pragma once

#include <cstdint>
#include <string>

namespace ringws {

/// Fails with -EADDRINUSE if another socket holds host:port. SO_REUSEPORT would otherwise let
/// a second server (same user, same option) share the port silently: probe once without it.
/// Port 0 always succeeds. Returns 0 or -errno (-EINVAL for a host that is not an address).
int check_port_free(const std::string& host, uint16_t port);

/// Opens a listening socket on host:port with SO_REUSEADDR, SO_REUSEPORT and TCP_NODELAY
/// (which accepted sockets inherit). Returns the descriptor, storing the bound port (the
/// one picked for port 0) in `bound_port`, or -errno from any step (socket, bind, listen,
/// getsockname), with the socket closed and `bound_port` untouched.
int open_listening_socket(const std::string& host, uint16_t port, uint16_t& bound_port);

}  // namespace ringws
