#include "core/uring/ring.h"

#include <cerrno>
#include <cstring>
#include <vector>

#include "core/uring/buffer_ring.h"

namespace ringws {

std::string RingFeatures::describe() const {
  std::string s;
  auto add = [&](bool on, const char* name) {
    if (!on) return;
    if (!s.empty()) s += '|';
    s += name;
  };
  add(single_issuer, "SINGLE_ISSUER");
  add(defer_taskrun, "DEFER_TASKRUN");
  add(coop_taskrun, "COOP_TASKRUN");
  add(registered_fd, "REGISTERED_FD");
  add(fixed_fd_install, "FIXED_FD_INSTALL");
  add(sqpoll, "SQPOLL");
  return s.empty() ? "none" : s;
}

namespace {

/// The opcodes a reactor submits, with the kernel release that brought each (5.19 is also
/// what multishot accept and provided-buffer rings need).
struct RequiredOp {
  uint8_t op;
  const char* name;
};
constexpr RequiredOp kRequiredOps[] = {
    {IORING_OP_ACCEPT, "IORING_OP_ACCEPT"},       {IORING_OP_POLL_ADD, "IORING_OP_POLL_ADD"},
    {IORING_OP_RECV, "IORING_OP_RECV"},           {IORING_OP_SENDMSG, "IORING_OP_SENDMSG"},
    {IORING_OP_CLOSE, "IORING_OP_CLOSE"},         {IORING_OP_SHUTDOWN, "IORING_OP_SHUTDOWN"},
    {IORING_OP_ASYNC_CANCEL, "IORING_OP_ASYNC_CANCEL"}, {IORING_OP_TIMEOUT, "IORING_OP_TIMEOUT"},
    {IORING_OP_READ, "IORING_OP_READ"},           {IORING_OP_MSG_RING, "IORING_OP_MSG_RING"},
};

}  // namespace

int setup_ring(io_uring& ring, unsigned entries, unsigned files, RingFeatures& features, std::string& missing,
               const RingOptions& options) {
  features = {};
  struct Attempt {
    unsigned flags;
    bool single, defer, coop;
    const char* name;
  };
  constexpr Attempt kDefer{IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL, true,
                           true, false, "IORING_SETUP_DEFER_TASKRUN"};
  constexpr Attempt kCoop{IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL, false, false, true,
                          "IORING_SETUP_COOP_TASKRUN"};
  constexpr Attempt kPlain{0, false, false, false, "io_uring"};
  // The kernel refuses the task-running flags (DEFER_TASKRUN, COOP_TASKRUN, TASKRUN_FLAG)
  // beside SQPOLL with EINVAL: they steer task work around interrupting the submitter, which
  // an SQ thread does not need. Measured on 6.18: SQPOLL | SINGLE_ISSUER | COOP_TASKRUN is
  // EINVAL, SQPOLL | SINGLE_ISSUER is accepted.
  constexpr Attempt kSqpoll{IORING_SETUP_SQPOLL | IORING_SETUP_SINGLE_ISSUER, true, false, false,
                            "IORING_SETUP_SQPOLL"};
  std::vector<Attempt> attempts;
  if (options.sqpoll) {
    attempts = {kSqpoll};
  } else {
    switch (options.setup) {
      case RingOptions::Setup::kBest: attempts = {kDefer, kCoop, kPlain}; break;
      case RingOptions::Setup::kDeferTaskrun: attempts = {kDefer}; break;
      case RingOptions::Setup::kCoopTaskrun: attempts = {kCoop}; break;
      case RingOptions::Setup::kPlain: attempts = {kPlain}; break;
    }
  }
  int ret = -ENOSYS;
  io_uring_params p;
  for (const Attempt& a : attempts) {
    std::memset(&p, 0, sizeof p);
    // Completions can outnumber submissions (multishot accept and poll): a deep CQ.
    p.flags = a.flags | IORING_SETUP_CQSIZE;
    p.cq_entries = entries * 8;
    p.sq_thread_idle = options.sqpoll_idle_ms;
    ret = io_uring_queue_init_params(entries, &ring, &p);
    if (ret == 0) {
      features.single_issuer = a.single;
      features.defer_taskrun = a.defer;
      features.coop_taskrun = a.coop;
      features.sqpoll = options.sqpoll;
      break;
    }
    // EINVAL: flags this kernel does not know; anything else (EPERM or ENOSYS from a
    // seccomp profile, ENOMEM) will not improve with fewer flags.
    if (ret != -EINVAL) return ret;
    if (attempts.size() == 1) {
      missing = a.name;  // a setup the options asked for, which this kernel refuses
      return -EOPNOTSUPP;
    }
  }
  if (ret != 0) return ret;
  // Sends gather their iovecs in a scratch area reused after each submission: the kernel
  // must have consumed a request's data when it has consumed the request.
  if (!(p.features & IORING_FEAT_SUBMIT_STABLE)) {
    missing = "IORING_FEAT_SUBMIT_STABLE";
    io_uring_queue_exit(&ring);
    return -EOPNOTSUPP;
  }
  if (io_uring_probe* probe = io_uring_get_probe_ring(&ring)) {
    for (const RequiredOp& r : kRequiredOps)
      if (missing.empty() && !io_uring_opcode_supported(probe, r.op)) missing = r.name;
    features.fixed_fd_install = io_uring_opcode_supported(probe, kOpFixedFdInstall);
    io_uring_free_probe(probe);
  } else {
    missing = "IORING_REGISTER_PROBE";
  }
  if (!missing.empty()) {
    io_uring_queue_exit(&ring);
    return -EOPNOTSUPP;
  }
  if (options.register_ring_fd && io_uring_register_ring_fd(&ring) == 1) features.registered_fd = true;
  ret = io_uring_register_files_sparse(&ring, files);
  if (ret < 0) {
    if (ret == -EINVAL) missing = "sparse fixed-file tables (IORING_RSRC_REGISTER_SPARSE)";
    io_uring_queue_exit(&ring);
    return ret == -EINVAL ? -EOPNOTSUPP : ret;
  }
  return 0;
}

int probe_io_uring(const char*& step, std::string& missing, const RingOptions& options) {
  io_uring ring;
  RingFeatures features;
  step = "io_uring_setup";
  int ret = setup_ring(ring, 8, 16, features, missing, options);
  if (ret < 0) return ret;
  step = "provided buffer ring";
  {
    BufferRing buffers;
    ret = buffers.init(ring, 0, 16, 512);
    if (ret == -EINVAL) {
      missing = "provided-buffer rings (IORING_REGISTER_PBUF_RING)";
      ret = -EOPNOTSUPP;
    }
  }
  io_uring_queue_exit(&ring);
  return ret;
}

}  // namespace ringws
