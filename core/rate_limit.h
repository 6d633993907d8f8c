// Token buckets per connection that cost nothing while they are full (DESIGN.md: an idle
// connection is its slot and no more). A connection holds only a record handle, 0 while
// every bucket is full; its first take lends it a record from this reactor's slab, and
// sweep() gives the record back once time has refilled every bucket. So the memory is per
// connection that used its buckets within the last burst/rate seconds, not per connection.
//
// Classes are the kinds of request a bucket counts: the engine's class 0 counts every
// message (pings included), and an app defines its own (chat: publishes, joins and leaves).
// A refusal tells the client when to retry; the record counts the refusals of a client that
// asked again before that time, which is what a policy can close on (Verdict::ignored).
// Tokens are kept in billionths, so refills are exact at any rate and call frequency.
// Time is an input (STYLE.md habit 7).
#pragma once

#include <cstdint>

#include "alloc/slab.h"

namespace ringws {

struct RateSpec {
  uint32_t per_second = 0;  ///< tokens added per second; 0: this class is not limited
  uint32_t burst = 0;       ///< bucket size, at least 1 when limited
  const char* name = "";    ///< for /metrics and logs
  bool limited() const { return per_second > 0; }
};

class RateLimiter {
 public:
  static constexpr unsigned kClasses = 4;
  /// Handles fit 24 bits (Connection::rate): at most this many records.
  static constexpr uint32_t kMaxRecords = (1u << 24) - 1;
  /// The largest rate and burst define() keeps (larger values are clamped).
  static constexpr uint32_t kMaxRate = 1000000;

  struct Verdict {
    bool allowed = true;
    uint32_t retry_after_ms = 0;  ///< when refused: until the bucket holds one token (rounded up)
    /// Refusals since the record was lent that came before the retry time of the previous
    /// refusal of the same class (this one included): requests of a client that did not wait
    /// as told. A client that always waits retry_after_ms keeps this at 0.
    uint32_t ignored = 0;
  };

  /// `max_records`: connections that can hold a record at once (capped at kMaxRecords).
  explicit RateLimiter(uint32_t max_records);

  /// Sets class `klass` (< kClasses); a burst of 0 becomes 1, values over kMaxRate are clamped.
  void define(unsigned klass, RateSpec spec);
  const RateSpec& spec(unsigned klass) const { return specs_[klass]; }

  /// Takes one token of `klass` for the connection whose handle is `handle` (0: every
  /// bucket full), lending it a record when it has none (`owner` names the connection for
  /// sweep()). An unlimited class always allows and lends nothing. If no record can be lent
  /// (never, with max_records at least the connection capacity) the request is allowed.
  Verdict take(uint32_t& handle, uint32_t owner, unsigned klass, uint64_t now_ns);
  /// The connection is gone: its record (if any) goes back; `handle` becomes 0.
  void release(uint32_t& handle);
  /// Refills every lent record to `now_ns`; each one whose buckets are all full again goes
  /// back, after `returned(owner)`, which must set that connection's handle to 0.
  template <typename Returned>
  void sweep(uint64_t now_ns, Returned&& returned) {
    for (uint32_t i = 0; i < records_.high_water(); ++i) {
      Record* r = records_.get(i);
      if (!r || !refill(*r, now_ns)) continue;
      returned(r->owner);
      records_.free(i);
    }
  }
  uint32_t lent() const { return records_.live_count(); }

 private:
  struct Record {
    uint64_t refilled_ns;       ///< when the buckets were last brought up to date
    uint64_t tokens[kClasses];  ///< in billionths of a token
    uint64_t retry_at_ns;       ///< when the last refused class has a token again
    uint32_t owner;             ///< the connection's slot index
    uint16_t ignored;           ///< refusals before retry_at_ns of their class (saturating)
    uint8_t retry_class;        ///< the class retry_at_ns is for
  };
  /// Brings `r` up to `now_ns`; true if every limited bucket is full.
  bool refill(Record& r, uint64_t now_ns) const;

  Slab<Record> records_;
  RateSpec specs_[kClasses];
};

}  // namespace ringws
