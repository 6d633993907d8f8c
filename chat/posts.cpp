#include "chat/posts.h"

namespace ringws {

namespace {

class Writer {
 public:
  template <typename T>
  void put(const T& v) {
    const char* p = reinterpret_cast<const char*>(&v);
    bytes_.append(p, sizeof v);
  }
  void put_string(std::string_view s) {
    put(static_cast<uint32_t>(s.size()));
    bytes_.append(s);
  }
  SharedFrame* frame() const {
    SharedFrame* f = SharedFrame::create(static_cast<uint32_t>(bytes_.size()));
    if (f && !bytes_.empty()) std::memcpy(f->data(), bytes_.data(), bytes_.size());
    return f;
  }

 private:
  std::string bytes_;
};

class Reader {
 public:
  explicit Reader(const SharedFrame& f) : p_(f.data()), end_(f.data() + f.size()) {}
  template <typename T>
  bool get(T& v) {
    if (size_t(end_ - p_) < sizeof v) return false;
    std::memcpy(&v, p_, sizeof v);
    p_ += sizeof v;
    return true;
  }
  bool get_string(std::string& s) {
    uint32_t n = 0;
    if (!get(n) || size_t(end_ - p_) < n) return false;
    s.assign(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return true;
  }
  bool done() const { return p_ == end_; }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

}  // namespace

SharedFrame* encode(const JoinPost& p) {
  Writer w;
  w.put(p.reactor);
  w.put(p.conn.index);
  w.put(p.conn.generation);
  w.put(static_cast<uint8_t>(p.has_since));
  w.put(p.since_offset);
  w.put_string(p.since_epoch);
  w.put_string(p.room);
  return w.frame();
}

bool decode(const SharedFrame& f, JoinPost& p) {
  Reader r(f);
  uint8_t since = 0;
  bool ok = r.get(p.reactor) && r.get(p.conn.index) && r.get(p.conn.generation) && r.get(since) &&
            r.get(p.since_offset) && r.get_string(p.since_epoch) && r.get_string(p.room) && r.done();
  p.has_since = since != 0;
  return ok;
}

SharedFrame* encode(const PublishPost& p) {
  Writer w;
  w.put(p.origin_ns);
  w.put_string(p.room);
  w.put_string(p.body);
  return w.frame();
}

bool decode(const SharedFrame& f, PublishPost& p) {
  Reader r(f);
  return r.get(p.origin_ns) && r.get_string(p.room) && r.get_string(p.body) && r.done();
}

SharedFrame* encode_released(std::string_view room) {
  Writer w;
  w.put_string(room);
  return w.frame();
}

bool decode_released(const SharedFrame& f, std::string& room) {
  Reader r(f);
  return r.get_string(room) && r.done();
}

SharedFrame* encode(JoinAckPost& p) {
  Writer w;
  w.put(p.conn.index);
  w.put(p.conn.generation);
  w.put(p.recovered);
  w.put(p.offset);
  w.put_string(p.epoch);
  w.put_string(p.room);
  w.put(static_cast<uint32_t>(p.replay.size()));
  for (SharedFrame* frame : p.replay) w.put(frame);
  SharedFrame* f = w.frame();
  if (!f)
    for (SharedFrame* frame : p.replay) frame->release();
  p.replay.clear();
  return f;
}

bool decode(const SharedFrame& f, JoinAckPost& p) {
  Reader r(f);
  uint32_t n = 0;
  if (!(r.get(p.conn.index) && r.get(p.conn.generation) && r.get(p.recovered) && r.get(p.offset) &&
        r.get_string(p.epoch) && r.get_string(p.room) && r.get(n)))
    return false;
  p.replay.resize(n);
  for (uint32_t i = 0; i < n; ++i)
    if (!r.get(p.replay[i])) return false;
  return r.done();
}

}  // namespace ringws
