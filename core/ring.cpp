#include "core/ring.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>

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
  return s.empty() ? "none" : s;
}

int setup_ring(io_uring& ring, unsigned entries, unsigned files, RingFeatures& features) {
  features = {};
  struct Attempt {
    unsigned flags;
    bool single, defer, coop;
  };
  const Attempt attempts[] = {
      {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL, true, true, false},
      {IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL, false, false, true},
      {0, false, false, false},
  };
  int ret = -ENOSYS;
  for (const Attempt& a : attempts) {
    io_uring_params p;
    std::memset(&p, 0, sizeof p);
    // Completions can outnumber submissions (multishot accept and poll): a deep CQ.
    p.flags = a.flags | IORING_SETUP_CQSIZE;
    p.cq_entries = entries * 8;
    ret = io_uring_queue_init_params(entries, &ring, &p);
    if (ret == 0) {
      features.single_issuer = a.single;
      features.defer_taskrun = a.defer;
      features.coop_taskrun = a.coop;
      break;
    }
    // EINVAL: flags this kernel does not know; anything else (EPERM from a seccomp
    // profile, ENOSYS, ENOMEM) will not improve with fewer flags.
    if (ret != -EINVAL) return ret;
  }
  if (ret != 0) return ret;
  if (io_uring_register_ring_fd(&ring) == 1) features.registered_fd = true;
  if (io_uring_probe* probe = io_uring_get_probe_ring(&ring)) {
    features.fixed_fd_install = io_uring_opcode_supported(probe, kOpFixedFdInstall);
    io_uring_free_probe(probe);
  }
  ret = io_uring_register_files_sparse(&ring, files);
  if (ret < 0) {
    io_uring_queue_exit(&ring);
    return ret;
  }
  return 0;
}

BufferRing::~BufferRing() {
  if (br_) {
    io_uring_unregister_buf_ring(ring_, group_);
    munmap(br_, sizeof(io_uring_buf) * count_);
  }
  if (base_) munmap(base_, size_t(count_) * size_);
}

int BufferRing::init(io_uring& ring, uint16_t group, uint32_t count, uint32_t size) {
  ring_ = &ring;
  group_ = group;
  count_ = count;
  size_ = size;
  // liburing 2.3 lacks io_uring_setup_buf_ring: map the ring ourselves (page aligned).
  void* r = mmap(nullptr, sizeof(io_uring_buf) * count, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (r == MAP_FAILED) return -errno;
  br_ = static_cast<io_uring_buf_ring*>(r);
  io_uring_buf_reg reg;
  std::memset(&reg, 0, sizeof reg);
  reg.ring_addr = reinterpret_cast<uintptr_t>(br_);
  reg.ring_entries = count;
  reg.bgid = group;
  int ret = io_uring_register_buf_ring(&ring, &reg, 0);
  if (ret < 0) {
    munmap(br_, sizeof(io_uring_buf) * count);
    br_ = nullptr;
    return ret;
  }
  // MAP_POPULATE: the ring hands buffers out in turn, so all of them are touched soon
  // anyway; committing them up front makes them a fixed cost of the reactor, visible at
  // start, instead of a cost that seems to grow with the first thousand connections.
  void* b = mmap(nullptr, size_t(count) * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                 -1, 0);
  if (b == MAP_FAILED) return -errno;
  base_ = static_cast<uint8_t*>(b);
  io_uring_buf_ring_init(br_);
  for (uint32_t i = 0; i < count; ++i) recycle(static_cast<uint16_t>(i));
  publish();
  return 0;
}

void BufferRing::recycle(uint16_t id) {
  io_uring_buf_ring_add(br_, buffer(id), size_, id, io_uring_buf_ring_mask(count_), static_cast<int>(pending_));
  ++pending_;
}

void BufferRing::publish() {
  if (pending_ == 0) return;
  io_uring_buf_ring_advance(br_, static_cast<int>(pending_));
  pending_ = 0;
}

}  // namespace ringws
