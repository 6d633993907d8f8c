// The hostile modes of ringws-load: clients that misbehave on purpose, to check that a
// server stays up, bounds its memory and keeps serving everyone else.
//
//   ping-flood       handshake, then pings as fast as the socket takes them, never reading
//                    (after the 101): the server's pongs pile up unless it bounds them
//   slowloris        an upgrade request head, one byte every --interval, never finished
//   connect-reset    connect, optionally half a request, then RST (SO_LINGER 0)
//   half-handshake   a whole upgrade request but its final CRLF, held
//   partial-message  handshake, then a frame declaring --size bytes, sent but --tail, held
//
// One worker runs one epoll loop over raw non-blocking sockets (not the client engine: these
// clients must not answer pings, finish frames or reply to closes). Every run is bounded:
// connections start at --rate up to --connections; the attack lasts --duration (ping-flood,
// slowloris, connect-reset) or --hold (half-handshake, partial-message) after every
// connection is resolved, and ends early once the server has closed every connection.
// Workers report through the same pipe records as the other modes (worker.h).
#pragma once

#include "bench/load/options.h"
#include "bench/load/worker.h"

namespace ringws::load {

/// Runs one forked worker of a hostile mode; returns the process exit code.
int run_attack(const Options& o, const WorkerSpec& spec, int report_fd);

}  // namespace ringws::load
