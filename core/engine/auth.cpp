// --auth jwt in the engine, and the rate limits it keeps for every connection.
//
// Tokens: the upgrade's token (query or Sec-WebSocket-Protocol, core/auth/token_source.h) is
// verified in admit_upgrade; a missing, bad or expired one gets 401 with the reason in the
// log only. An open connection's identity is one 24-byte row of a side table indexed by its
// slot (core/auth/identity.h): the token's expiry as a tick, its interned grants, its
// subject. Expiry rides the connection's one timer-wheel entry: token_expiring is sent
// --token-grace seconds before the expiry tick, and at that tick the connection is closed
// with 4001. Deadlines are rounded up like every other engine deadline, so a connection is
// never closed before its token (plus the leeway) has run out.
//
// Rate limits: RateLimiter buckets (core/rate_limit.h) whose record handle lives in the
// slot's last three bytes; class 0 counts every message, ping and pong (ws_phase.cpp).
#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "core/config.h"
#include "core/engine/engine.h"
#include "core/json_text.h"
#include "core/log.h"

namespace ringws {

namespace {
constexpr uint32_t kNoDue = UINT32_MAX;
constexpr uint64_t kNsPerTick = 1000000000ull;
constexpr int64_t kLatestExp = 100000000000ll;  // year 5138: keeps exp * 1000 in range
}  // namespace

uint64_t Engine::now_wall_ms() const { return static_cast<uint64_t>(int64_t(now_ns_ / 1000000) + wall_offset_ms_); }

void Engine::set_wall_ms(uint64_t wall_ms) {
  wall_fixed_ = true;
  wall_offset_ms_ = int64_t(wall_ms) - int64_t(now_ns_ / 1000000);
}

// ---------------------------------------------------------------------------------------
// The upgrade

bool Engine::authenticate(Connection& c, ConnId id, const TokenSource& token, std::string_view address) {
  if (!auth_enabled()) return true;
  const char* detail = nullptr;
  size_t counter = 0;  // auth_failures: 0 missing, 1..14 a JwtError, 15 two tokens or no key
  if (token.where == TokenSource::kNone) {
    detail = "missing_token";
  } else if (token.where == TokenSource::kAmbiguous) {
    detail = "two_tokens";
    counter = 15;
  } else if (!verifier_) {
    detail = "no_key";
    counter = 15;
  } else if (JwtError e = verifier_->verify(token.token, int64_t(now_wall_ms() / 1000), claims_); e != JwtError::kOk) {
    detail = jwt_error_name(e);
    counter = static_cast<size_t>(e);
  }
  if (!detail) return true;
  stats_.auth_failures[counter].fetch_add(1, std::memory_order_relaxed);
  refuse(c, id, 401, RefuseReason::kUnauthorized, address, detail);
  return false;
}

void Engine::install_identity(ConnId id) {
  if (!identities_) return;
  Identity& row = identities_->at(id.index);
  row.user.assign(claims_.sub);
  row.grants = grants_->acquire(claims_.rooms, claims_.publish) & 0x7fffffffu;
  row.expires = expiry_tick(claims_.exp);
  row.warned = 0;
}

void Engine::release_identity(uint32_t index) {
  if (identities_) grants_->release(identities_->clear(index));
}

uint32_t Engine::expiry_tick(int64_t exp) const {
  exp = std::min(exp, kLatestExp);
  int64_t remaining_ms = (exp + int64_t(config_.jwt_leeway)) * 1000 - int64_t(now_wall_ms());
  uint64_t seconds = remaining_ms <= 0 ? 0 : (uint64_t(remaining_ms) + 999) / 1000;
  // Ticks are 32-bit seconds since the reactor started: a century is plenty.
  seconds = std::min<uint64_t>(seconds, 100ull * 365 * 86400);
  return std::max(1u, tick_after(static_cast<uint32_t>(seconds)));
}

// ---------------------------------------------------------------------------------------
// Deadlines

uint32_t Engine::token_due(uint32_t index) const {
  if (!identities_) return kNoDue;
  const Identity& row = identities_->at(index);
  if (!row.expires) return kNoDue;
  if (row.warned) return row.expires;
  return row.expires > config_.token_grace ? row.expires - config_.token_grace : 0;
}

bool Engine::on_token_deadline(Connection& c, ConnId id) {
  if (!identities_) return false;
  Identity& row = identities_->at(id.index);
  if (!row.expires) return false;
  if (static_cast<int32_t>(now_ - row.expires) >= 0) {
    start_close(c, id, 4001, "token expired", true, CloseReason::kTokenExpired);
    return true;
  }
  if (!row.warned && now_ >= token_due(id.index)) {
    row.warned = 1;
    uint64_t expires_ns = start_ns_ + uint64_t(row.expires) * kNsPerTick;
    uint64_t left_ms = expires_ns > now_ns_ ? (expires_ns - now_ns_) / 1000000 : 0;
    char text[96];
    int n = std::snprintf(text, sizeof text, "{\"type\":\"token_expiring\",\"expires_in_ms\":%" PRIu64 "}", left_ms);
    if (SharedFrame* f = make_text_frame({text, static_cast<size_t>(n)})) enqueue(c, id, f);
    return c.state != ConnState::kOpen;  // a client too slow to take it was closed
  }
  return false;
}

// ---------------------------------------------------------------------------------------
// The API apps use

std::string_view Engine::user(ConnId id) const {
  if (!identities_ || !is_open(id)) return {};
  return identities_->at(id.index).user.view();
}

const Grants* Engine::grants(ConnId id) const {
  if (!identities_ || !is_open(id)) return nullptr;
  return grants_->get(identities_->at(id.index).grants);
}

Engine::Refresh Engine::refresh_token(ConnId id, std::string_view token) {
  Connection* c = connection(id);
  if (!c || c->state != ConnState::kOpen) return Refresh::kClosed;
  if (!auth_enabled()) return Refresh::kAuthOff;
  JwtError e = verifier_ ? verifier_->verify(token, int64_t(now_wall_ms() / 1000), claims_) : JwtError::kBadSignature;
  Identity& row = identities_->at(id.index);
  const char* refused = e != JwtError::kOk               ? jwt_error_name(e)
                        : claims_.sub != row.user.view() ? "other_user"
                                                         : nullptr;
  if (refused) {
    if (e != JwtError::kOk) stats_.auth_failures[static_cast<size_t>(e)].fetch_add(1, std::memory_order_relaxed);
    log_event(LogLevel::kInfo, "token_refresh_refused", "\"conn\":\"%u.%u.%u\",\"detail\":\"%s\"", id_, id.index,
              id.generation, refused);
    return e != JwtError::kOk ? Refresh::kInvalid : Refresh::kOtherUser;
  }
  uint32_t grants = grants_->acquire(claims_.rooms, claims_.publish) & 0x7fffffffu;
  grants_->release(row.grants);
  row.grants = grants;
  row.expires = expiry_tick(claims_.exp);
  row.warned = 0;
  stats_.token_refreshes.fetch_add(1, std::memory_order_relaxed);
  schedule_next_deadline(*c, id);
  return Refresh::kOk;
}

// ---------------------------------------------------------------------------------------
// Rate limits

Engine::RateResult Engine::take_token(ConnId id, unsigned klass) {
  Connection* c = connection(id);
  if (!c || c->state != ConnState::kOpen) return {false, true, 0};
  return take(*c, id, klass);
}

Engine::RateResult Engine::take(Connection& c, ConnId id, unsigned klass) {
  uint32_t handle = c.rate_handle();
  RateLimiter::Verdict v = limiter_.take(handle, id.index, klass, now_ns_);
  c.set_rate_handle(handle);
  if (v.allowed) return {};
  stats_.rate_refusals[klass].fetch_add(1, std::memory_order_relaxed);
  RateResult r{false, false, v.retry_after_ms};
  // Closed only for refusals the client did not wait out (a client that waits as told
  // is never closed).
  if (config_.rate_limit_refusals && v.ignored > config_.rate_limit_refusals) {
    start_close(c, id, 1008, "rate limit", false, CloseReason::kRateLimited);
    r.closed = true;
  }
  return r;
}

bool Engine::admit_message(Connection& c, ConnId id, bool reply) {
  if (!limiter_.spec(0).limited()) return true;
  RateResult r = take(c, id, 0);
  if (r.allowed) return true;
  if (r.closed || !reply) return false;
  char text[160];
  int n = std::snprintf(text, sizeof text,
                        "{\"type\":\"error\",\"code\":\"rate_limited\",\"reason\":\"more than --message-rate "
                        "messages a second\",\"retry_after_ms\":%u}",
                        r.retry_after_ms);
  if (SharedFrame* f = make_text_frame({text, static_cast<size_t>(n)})) enqueue(c, id, f);
  return false;
}

void Engine::return_rate_records() {
  limiter_.sweep(now_ns_, [this](uint32_t owner) {
    if (Connection* c = slab_.get(owner)) c->set_rate_handle(0);
  });
}

}  // namespace ringws
