#include "core/server.h"

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstring>
#include <latch>
#include <memory>
#include <thread>
#include <vector>

#include "core/backend_choice.h"
#include "core/clock.h"
#include "core/engine/app.h"
#include "core/engine/engine.h"
#include "core/epoll/epoll_backend.h"
#include "core/http/metrics.h"
#include "core/json_text.h"
#include "core/listener.h"
#include "core/log.h"
#include "core/memory_governor.h"
#include "core/server_state.h"
#include "core/uring/uring_backend.h"
#include "proto/ws_accept.h"

namespace ringws {

namespace {

constexpr uint64_t kKernelBytesPerConnection = 3630;  // DESIGN.md section 5: the kernel's floor

/// One reactor: an engine driven by a backend on a thread of its own.
struct Reactor {
  std::unique_ptr<Engine> engine;
  std::unique_ptr<Backend> backend;
};

uint64_t open_descriptor_count() {
  uint64_t n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d)) ++n;
    closedir(d);
  }
  return n > 2 ? n - 2 : n;  // "." and ".."
}

uint32_t nofile_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
  return rl.rlim_cur > (1u << 24) ? (1u << 24) : static_cast<uint32_t>(rl.rlim_cur);
}

/// What became of starting the reactors on one backend.
struct Started {
  int exit_code = -1;  ///< -1: running; else the process must exit with this
  bool io_uring_failed = false;
  int error = 0;
  const char* step = "";
  std::string missing;
};

class Process {
 public:
  Process(const Config& config, AppModule& app, ServerState& state, unsigned threads)
      : config_(config), app_(app), state_(state), threads_(threads), admin_port_(config.admin_port) {}
  ~Process() { stop_threads(); }

  /// Opens listeners, builds the reactors on `kind` and sets each up on its own thread.
  Started start(BackendKind kind, uint16_t& port) {
    Started result;
    uint32_t nofile = nofile_limit();
    budget_.limit = 0;
    for (unsigned i = 0; i < threads_; ++i) {
      uint16_t bound = 0;
      int fd = open_listening_socket(config_.host, port, bound);
      if (fd < 0) {
        log_event(LogLevel::kError, "listen_failed", "\"host\":%s,\"port\":%u,\"error\":\"%s\"",
                  JsonEscaped<128>(config_.host).c_str(), port, strerror(-fd));
        std::fprintf(stderr, "ringws: cannot listen on %s:%u: %s\n", config_.host.c_str(), port, strerror(-fd));
        result.exit_code = kExitListen;
        return result;
      }
      port = bound;  // the first listener resolves port 0; the others join it (SO_REUSEPORT)
      listeners_.push_back(fd);
    }
    if (config_.admin_enabled) {
      uint16_t bound = 0;
      int err = check_port_free(config_.admin_host, admin_port_);
      int fd = err < 0 ? err : open_listening_socket(config_.admin_host, admin_port_, bound);
      if (fd < 0) {
        log_event(LogLevel::kError, "listen_failed", "\"admin\":true,\"host\":%s,\"port\":%u,\"error\":\"%s\"",
                  JsonEscaped<128>(config_.admin_host).c_str(), admin_port_, strerror(-fd));
        std::fprintf(stderr, "ringws: cannot listen on %s:%u (--admin-listen): %s\n", config_.admin_host.c_str(),
                     admin_port_, strerror(-fd));
        result.exit_code = kExitListen;
        return result;
      }
      admin_port_ = bound;  // kept for a second start (the fallback to epoll)
      admin_fd_ = fd;
    }
    // epoll's descriptors come from the process's one table: what is left of RLIMIT_NOFILE
    // after what is open now and three per reactor (epoll, eventfd, spare).
    int64_t base = static_cast<int64_t>(open_descriptor_count()) + 3 * threads_ + 16;
    budget_.limit = std::max<int64_t>(64, int64_t(nofile) - base);
    budget_.reserve = std::min<int64_t>(32, budget_.limit / 8);
    uint32_t capacity = kind == BackendKind::kIoUring ? nofile : static_cast<uint32_t>(budget_.limit);
    // Receive buffers are a total for the process: each io_uring reactor gets its share.
    uint32_t share = std::bit_floor(std::max<uint32_t>(16, config_.buffer_count / threads_));
    for (unsigned i = 0; i < threads_; ++i) {
      Reactor r;
      r.engine = std::make_unique<Engine>(state_, i, app_.make_app(i), capacity);
      int admin = i == 0 ? admin_fd_ : -1;  // reactor 0 serves the admin listener
      if (kind == BackendKind::kIoUring)
        r.backend = std::make_unique<UringBackend>(*r.engine, listeners_[i], capacity, uring_settings(share), admin);
      else
        r.backend = std::make_unique<EpollBackend>(
            *r.engine, listeners_[i],
            EpollSettings{std::max<uint32_t>(65536, config_.buffer_size), config_.epoll_edge_triggered}, budget_, admin);
      r.engine->attach(*r.backend);
      engines_.push_back(r.engine.get());
      reactors_.push_back(std::move(r));
    }
    listeners_.clear();  // the backends own them now
    admin_fd_ = -1;
    for (auto& r : reactors_) r.engine->set_peers(engines_);
    state_.engines = engines_;

    // Each backend is set up on its own thread (a SINGLE_ISSUER ring belongs to the thread
    // that made it); main waits for all, and lets them run only if every one succeeded.
    struct SetupResult {
      int err = 0;
      const char* what = "";
    };
    std::vector<SetupResult> results(threads_);
    set_up_ = std::make_unique<std::latch>(threads_);
    go_ = std::make_unique<std::latch>(1);
    running_.store(threads_);
    for (unsigned i = 0; i < threads_; ++i) {
      Backend* backend = reactors_[i].backend.get();
      workers_.emplace_back([this, backend, i, &results] {
        results[i].err = backend->setup(results[i].what);
        set_up_->count_down();
        go_->wait();
        if (!proceed_.load()) {
          running_.fetch_sub(1);
          return;
        }
        backend->run();
        running_.fetch_sub(1, std::memory_order_release);
        // Other reactors may still post here (a chat room's home, a broadcast) until theirs end.
        backend->take_late_posts(running_);
      });
    }
    set_up_->wait();
    for (unsigned i = 0; i < threads_; ++i) {
      if (results[i].err == 0) continue;
      int err = -results[i].err;
      result.error = err;
      result.step = results[i].what;
      if (kind == BackendKind::kIoUring) {
        result.io_uring_failed = true;
        result.missing = static_cast<UringBackend&>(*reactors_[i].backend).missing_feature();
      } else {
        log_event(LogLevel::kError, "setup_failed", "\"reactor\":%u,\"step\":\"%s\",\"error\":\"%s\"", i,
                  results[i].what, strerror(err));
        std::fprintf(stderr, "ringws: %s: %s\n", results[i].what, strerror(err));
        result.exit_code = kExitRuntime;
      }
      stop_threads();
      return result;
    }
    proceed_.store(true);
    go_->count_down();
    return result;
  }

  /// Joins the threads and destroys the reactors: backends first (their kernel objects
  /// name the engines' slots), then engines.
  uint16_t admin_port() const { return config_.admin_enabled ? admin_port_ : 0; }

  UringSettings uring_settings(uint32_t buffer_share) const {
    UringSettings s;
    s.buffer_count = buffer_share;
    s.buffer_size = config_.buffer_size;
    s.ring = ring_options(config_);
    switch (config_.uring_idle_wait) {
      case Config::UringIdleWait::kPoll: s.idle_wait = UringSettings::IdleWait::kPoll; break;
      case Config::UringIdleWait::kRecv: s.idle_wait = UringSettings::IdleWait::kRecv; break;
      case Config::UringIdleWait::kRecvMultishot: s.idle_wait = UringSettings::IdleWait::kRecvMultishot; break;
    }
    return s;
  }

  void stop_threads() {
    if (go_) go_->count_down();
    for (auto& w : workers_) w.join();
    workers_.clear();
    for (auto& r : reactors_) r.backend.reset();
    reactors_.clear();
    engines_.clear();
    state_.engines = {};
    for (int fd : listeners_) ::close(fd);
    listeners_.clear();
    if (admin_fd_ >= 0) ::close(admin_fd_);
    admin_fd_ = -1;
    go_.reset();
    set_up_.reset();
    proceed_.store(false);
  }

  void wake_all() {
    for (auto& r : reactors_) r.backend->wake();
  }
  unsigned running() const { return running_.load(); }
  uint64_t websocket_open() const {
    uint64_t open = 0;
    for (const Engine* e : engines_) open += e->stats().websocket_open.load(std::memory_order_relaxed);
    return open;
  }
  const std::vector<Engine*>& engines() const { return engines_; }
  UringBackend* first_uring() {
    return reactors_.empty() || reactors_[0].backend->kind() != BackendKind::kIoUring
               ? nullptr
               : static_cast<UringBackend*>(reactors_[0].backend.get());
  }

 private:
  const Config& config_;
  AppModule& app_;
  ServerState& state_;
  unsigned threads_;
  DescriptorBudget budget_;
  std::vector<int> listeners_;
  int admin_fd_ = -1;
  uint16_t admin_port_ = 0;
  std::vector<Reactor> reactors_;
  std::vector<Engine*> engines_;
  std::vector<std::thread> workers_;
  std::unique_ptr<std::latch> set_up_, go_;
  std::atomic<bool> proceed_{false};
  std::atomic<unsigned> running_{0};
};

void log_fallback(const BackendDecision& d) {
  log_event(LogLevel::kWarn, "backend_fallback",
            "\"from\":\"io_uring\",\"to\":\"epoll\",\"step\":\"%s\",\"error\":\"%s\",\"reason\":\"%s\"", d.step.c_str(),
            d.error.c_str(), d.explanation.c_str());
}

int refuse_forced_io_uring(const BackendDecision& d) {
  log_event(LogLevel::kError, "setup_failed", "\"backend\":\"io_uring\",\"step\":\"%s\",\"error\":\"%s\",\"reason\":\"%s\"",
            d.step.c_str(), d.error.c_str(), d.explanation.c_str());
  std::fprintf(stderr, "ringws: --backend io_uring: %s failed with %s: %s\n", d.step.c_str(), d.error.c_str(),
               d.explanation.c_str());
  return kExitIoUring;
}

/// Once at start: what --auth leaves open.
void log_auth_warnings(const Config& config, const ServerState& state) {
  if (config.auth == AuthMode::kNone) {
    log_event(LogLevel::kWarn, "auth_disabled",
              "\"detail\":\"--auth none: anyone who reaches the port can join any room and publish under any name; "
              "use --auth jwt in production\"");
    return;
  }
  log_event(LogLevel::kInfo, "auth", "\"mode\":\"jwt\",\"alg\":\"%s\",\"leeway\":%u,\"token_grace\":%u,\"dev_mode\":%s",
            jwt_alg_name(state.auth.key->alg()), config.jwt_leeway, config.token_grace,
            state.auth.dev_secret.empty() ? "false" : "true");
  if (config.allowed_origins.empty())
    log_event(LogLevel::kWarn, "origins_unchecked",
              "\"detail\":\"--auth jwt without --allowed-origins: any web page can use a token it holds to connect; "
              "list your pages' origins\"");
  if (!state.auth.dev_secret.empty())
    log_event(LogLevel::kWarn, "dev_tokens",
              "\"detail\":\"--dev-token-secret: GET /dev/token mints a token for any name to anyone who asks; "
              "never in production\"");
}

}  // namespace

int run_server(const Config& config, AppModule& app) {
  // Direct-descriptor tables (io_uring) and the process's table (epoll) are capped by
  // RLIMIT_NOFILE: take all the hard limit allows.
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    log_event(LogLevel::kWarn, "rlimit_unreadable", "\"error\":\"%s\"", strerror(errno));
  } else if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
      log_event(LogLevel::kWarn, "rlimit_not_raised", "\"limit\":%llu,\"error\":\"%s\"",
                static_cast<unsigned long long>(rl.rlim_max), strerror(errno));
  }
  unsigned threads = config.threads ? config.threads : std::max(1u, std::thread::hardware_concurrency());
  // Page in the handshake's code (OpenSSL's SHA-1 and base64, ~2 MB of libcrypto) now, so
  // it is a fixed cost visible at start rather than growth that looks per-connection.
  char warm[kWebSocketAcceptLength];
  websocket_accept("dGhlIHNhbXBsZSBub25jZQ==", warm);

  // Signals go to the main thread only: reactors block them, main waits for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGUSR1);  // drain without exiting: the load balancer deregisters us
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  JsonEscaped<128> host_json(config.host);  // the command line's text, as a JSON string
  if (int err = check_port_free(config.host, config.port); err < 0) {
    log_event(LogLevel::kError, "listen_failed", "\"host\":%s,\"port\":%u,\"error\":\"%s\"", host_json.c_str(),
              config.port, strerror(-err));
    std::fprintf(stderr, "ringws: cannot listen on %s:%u: %s\n", config.host.c_str(), config.port, strerror(-err));
    return kExitListen;
  }

  MemoryGovernor governor(GovernorOptions{config.memory_limit, config.memory_high_water});
  governor.sample();
  ServerState state(config, governor);
  state.start_ms = wall_ms();
  if (std::string error; !load_auth_keys(config, state.auth, error)) {
    log_event(LogLevel::kError, "auth_key_unusable", "\"error\":%s", JsonEscaped<512>(error).c_str());
    std::fprintf(stderr, "ringws: %s\n", error.c_str());
    return kExitUsage;
  }
  if (state.auth.key) warm_up_jwt(*state.auth.key);
  state.app = &app;
  if (!state.max_connections) state.max_connections = static_cast<uint32_t>(
      std::min<uint64_t>(1u << 30, governor.limit() / kKernelBytesPerConnection));

  if (config.uring_sqpoll && std::thread::hardware_concurrency() <= 2)
    log_event(LogLevel::kWarn, "sqpoll_on_few_cores",
              "\"cpus\":%u,\"detail\":\"each ring's SQ thread polls a core while busy: on 2 cores it competes with "
              "the reactors and the clients\"",
              std::thread::hardware_concurrency());
  BackendDecision decision = choose_backend(config);
  if (decision.kind == BackendKind::kEpoll && config.backend == BackendChoice::kIoUring)
    return refuse_forced_io_uring(decision);
  if (decision.kind == BackendKind::kEpoll && config.backend == BackendChoice::kAuto) log_fallback(decision);

  Process process(config, app, state, threads);
  uint16_t port = config.port;
  Started started = process.start(decision.kind, port);
  if (started.io_uring_failed) {
    // The probe passed but a reactor's own ring did not (its table or buffers are larger).
    decision = io_uring_refused(started.step, started.error, started.missing);
    if (config.backend == BackendChoice::kIoUring) return refuse_forced_io_uring(decision);
    log_fallback(decision);
    started = process.start(BackendKind::kEpoll, port);
  }
  if (started.exit_code >= 0) return started.exit_code;
  state.backend = decision.kind;
  state.backend_reason = decision.reason;

  UringBackend* uring = process.first_uring();
  if (config.needs_peer_address() && uring && !uring->features().fixed_fd_install)
    log_event(LogLevel::kWarn, "peer_address_unavailable",
              "\"detail\":\"this kernel lacks IORING_OP_FIXED_FD_INSTALL (6.8+): direct clients have no address, "
              "so --max-per-address applies only to X-Forwarded-For addresses (with --trust-proxy)\"");
  log_event(LogLevel::kInfo, "listening",
            "\"host\":%s,\"port\":%u,\"threads\":%u,\"app\":\"%s\",\"backend\":\"%s\",\"backend_reason\":\"%s\","
            "\"ring_flags\":\"%s\",\"idle_wait\":\"%s\",\"connections_per_reactor\":%u,\"memory_limit\":%llu,"
            "\"memory_limit_source\":\"%s\",\"max_connections\":%u,\"admin_port\":%u,\"instance\":\"%s\"",
            host_json.c_str(), port, threads, config.app.c_str(), backend_name(decision.kind),
            decision.reason.c_str(), uring ? uring->features().describe().c_str() : "",
            decision.kind == BackendKind::kEpoll          ? (config.epoll_edge_triggered ? "epoll_edge" : "epoll_level")
            : config.uring_idle_wait == Config::UringIdleWait::kPoll ? "poll"
            : config.uring_idle_wait == Config::UringIdleWait::kRecv ? "recv"
                                                                      : "recv-multishot",
            process.engines().empty() ? 0 : process.engines()[0]->capacity(),
            static_cast<unsigned long long>(governor.limit()), governor.limit_source().c_str(), state.max_connections,
            process.admin_port(), state.instance.c_str());

  log_auth_warnings(config, state);

  int exit_code = kExitOk;
  bool draining = false;
  bool exit_after_drain = false;  // SIGTERM/SIGINT; SIGUSR1 drains and keeps serving HTTP
  bool exiting = false;
  uint64_t drain_started_ns = 0;
  EmfCounters emf_previous;
  uint64_t next_emf_ms = state.start_ms + uint64_t(config.emf_interval) * 1000;
  auto start_drain = [&] {
    draining = true;
    state.draining.store(true);
    drain_started_ns = monotonic_ns();
    process.wake_all();
  };
  // The main thread waits for signals, samples memory, prints EMF lines, and notices
  // reactors that end.
  for (;;) {
    timespec wait{0, 100 * 1000 * 1000};
    int sig = sigtimedwait(&stop_signals, nullptr, &wait);
    governor.sample();
    if (sig == SIGINT || sig == SIGTERM || sig == SIGUSR1) {
      const char* name = sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "SIGUSR1";
      bool exit_too = sig != SIGUSR1;
      if (!draining || (exit_too && !exit_after_drain))
        log_event(LogLevel::kInfo, "draining", "\"signal\":\"%s\",\"drain_seconds\":%u,\"exit\":%s", name,
                  config.drain_seconds, exit_too ? "true" : "false");
      exit_after_drain = exit_after_drain || exit_too;
      if (!draining) start_drain();
    }
    if (state.drain_requested.load() && !draining) {
      log_event(LogLevel::kInfo, "draining", "\"request\":\"POST /admin/drain\",\"drain_seconds\":%u,\"exit\":false",
                config.drain_seconds);
      start_drain();
    }
    if (draining && exit_after_drain && !exiting) {
      // Exit once no reactor holds a WebSocket connection, or when the window and the close
      // deadline have passed; until then every reactor answers HTTP (503 on /healthz).
      bool overdue = monotonic_ns() - drain_started_ns >
                     (uint64_t(config.drain_seconds) + config.close_timeout + 1) * 1000000000ull;
      if (process.websocket_open() == 0 || overdue) {
        exiting = true;
        state.exit_now.store(true, std::memory_order_release);
        process.wake_all();
      }
    }
    if (uint64_t now = wall_ms(); config.emf_interval && now >= next_emf_ms) {
      log_line(render_emf(state, now, emf_previous).c_str());
      next_emf_ms = now + uint64_t(config.emf_interval) * 1000;
    }
    if (process.running() == 0) break;
    if (!exiting && process.running() < threads) {
      // A reactor returned without being asked to: drain the rest and report it.
      exit_code = kExitRuntime;
      exit_after_drain = true;
      if (!draining) start_drain();
    }
  }
  uint64_t accepted = 0, closed = 0;
  for (const Engine* e : process.engines()) {
    accepted += e->stats().accepted.load();
    closed += e->stats().closed.load();
  }
  process.stop_threads();
  log_event(LogLevel::kInfo, "stopped", "\"accepted\":%llu,\"closed\":%llu,\"exit_code\":%d",
            static_cast<unsigned long long>(accepted), static_cast<unsigned long long>(closed), exit_code);
  return exit_code;
}

}  // namespace ringws
