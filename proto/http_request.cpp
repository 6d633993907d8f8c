#include "proto/http_request.h"

#include "proto/ws_accept.h"

namespace ringws {
namespace {

// RFC 9110 section 5.6.2: tchar. A table keeps the hot loop to one load per byte.
constexpr bool make_tchar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if (c >= 'a' && c <= 'z') return true;
  if (c >= 'A' && c <= 'Z') return true;
  for (char s : std::string_view("!#$%&'*+-.^_`|~")) {
    if (c == static_cast<unsigned char>(s)) return true;
  }
  return false;
}

struct CharTable {
  bool tchar[256];
  constexpr CharTable() : tchar() {
    for (int c = 0; c < 256; ++c) tchar[c] = make_tchar(static_cast<unsigned char>(c));
  }
};
constexpr CharTable kChars;

bool is_tchar(char c) { return kChars.tchar[static_cast<unsigned char>(c)]; }

// field-vchar or obs-text, plus SP and HTAB inside a value (RFC 9110 section 5.5):
// everything but the controls (including DEL).
bool is_value_char(char c) {
  auto u = static_cast<unsigned char>(c);
  return u == '\t' || (u >= 0x20 && u != 0x7f);
}

// origin-form characters (RFC 3986 pchar, '/', '?', percent escapes) are all visible
// ASCII; rather than re-validate the URI grammar here, accept any VCHAR and leave path
// semantics to the router. What matters for framing is that no space or control sneaks in.
bool is_target_char(char c) {
  auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u < 0x7f;
}

bool is_ows(char c) { return c == ' ' || c == '\t'; }

bool is_hex_digit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// RFC 3986 section 2: unreserved and sub-delims, the characters a reg-name may hold besides
// percent escapes.
bool is_host_char(char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("-._~!$&'()*+,;=").find(c) != std::string_view::npos;
}

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

std::string_view trim_ows(std::string_view v) {
  while (!v.empty() && is_ows(v.front())) v.remove_prefix(1);
  while (!v.empty() && is_ows(v.back())) v.remove_suffix(1);
  return v;
}

/// True while `seen`, the start of a target, can still become "http://" or "https://" in
/// any case (or already begins with one): the only absolute forms ringws accepts.
bool could_be_absolute_form(std::string_view seen) {
  for (std::string_view scheme : {std::string_view("http://"), std::string_view("https://")}) {
    size_t n = seen.size() < scheme.size() ? seen.size() : scheme.size();
    if (iequals(seen.substr(0, n), scheme.substr(0, n))) return true;
  }
  return false;
}

/// RFC 3986 section 3.2.2 and 3.2.3: host [":" port], where host is an IP literal in
/// brackets (hex digits, ':' and '.', not validated further) or a reg-name or IPv4 address
/// of unreserved, sub-delims and percent-escaped characters, and port is digits. The host
/// may not be empty (RFC 9110 section 4.2.1). Userinfo ("user@") is refused: RFC 9110
/// section 4.2.4 asks a recipient to treat it as an error.
bool is_valid_authority(std::string_view authority) {
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (char c : authority.substr(1, close - 1)) {
      if (!is_hex_digit(c) && c != ':' && c != '.') return false;
    }
    port = authority.substr(close + 1);
  } else {
    size_t colon = authority.find(':');
    std::string_view host = authority.substr(0, colon);
    if (host.empty()) return false;
    for (size_t i = 0; i < host.size(); ++i) {
      if (host[i] == '%') {
        if (i + 2 >= host.size() || !is_hex_digit(host[i + 1]) || !is_hex_digit(host[i + 2])) return false;
        i += 2;
      } else if (!is_host_char(host[i])) {
        return false;
      }
    }
    port = colon == std::string_view::npos ? std::string_view{} : authority.substr(colon);
  }
  if (port.empty()) return true;
  if (port.front() != ':') return false;
  for (char c : port.substr(1)) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

/// Splits an absolute-form target into its authority and its origin form: the path and
/// query that follow the authority, or "/" (a static string) when nothing follows it. False
/// for a scheme other than http or https, a bad authority, or a query or fragment straight
/// after the authority (see http_request.h).
bool split_absolute_form(std::string_view uri, std::string_view& authority, std::string_view& origin_form) {
  size_t scheme = 0;
  if (iequals(uri.substr(0, 7), "http://")) {
    scheme = 7;
  } else if (iequals(uri.substr(0, 8), "https://")) {
    scheme = 8;
  } else {
    return false;
  }
  std::string_view rest = uri.substr(scheme);
  size_t end = rest.find_first_of("/?#");
  authority = rest.substr(0, end);
  if (!is_valid_authority(authority)) return false;
  if (end == std::string_view::npos) {
    origin_form = "/";
    return true;
  }
  if (rest[end] != '/') return false;
  origin_form = rest.substr(end);
  return true;
}

constexpr size_t kMaxHeaders = 100;

// The outcome of one step; kOk means "keep going".
enum class Step { kOk, kPartial, kBad, kTooLarge };

class Parser {
 public:
  Parser(std::string_view window, HttpRequest& out)
      : p_(window.data()), begin_(p_), end_(p_ + window.size()), out_(out) {}

  Step run() {
    if (Step s = request_line(); s != Step::kOk) return s;
    for (;;) {
      if (p_ == end_) return Step::kPartial;
      if (*p_ == '\r') {
        ++p_;
        if (p_ == end_) return Step::kPartial;
        if (*p_ != '\n') return Step::kBad;
        ++p_;
        out_.head_bytes = static_cast<size_t>(p_ - begin_);
        return Step::kOk;
      }
      if (Step s = header_line(); s != Step::kOk) return s;
    }
  }

 private:
  // Consumes `lit` as far as the input goes: kPartial if the input ends inside it.
  Step literal(std::string_view lit) {
    for (char c : lit) {
      if (p_ == end_) return Step::kPartial;
      if (*p_ != c) return Step::kBad;
      ++p_;
    }
    return Step::kOk;
  }

  // CR LF. A bare LF is refused: RFC 9112 section 2.2 lets a recipient accept it, but every
  // WebSocket client sends CRLF, and two parsers that disagree on line ends are how
  // request smuggling starts (a proxy in front of us may treat the bytes differently).
  Step crlf() {
    if (Step s = literal("\r"); s != Step::kOk) return s;
    return literal("\n");
  }

  Step request_line() {
    const char* start = p_;
    while (p_ != end_ && is_tchar(*p_)) ++p_;
    if (p_ == end_) return Step::kPartial;
    if (*p_ != ' ' || p_ == start) return Step::kBad;
    out_.method = std::string_view(start, static_cast<size_t>(p_ - start));
    ++p_;

    // origin-form, or absolute-form (RFC 9112 section 3.2.2: a server must accept it,
    // though clients send it only to proxies). authority-form is for CONNECT and
    // asterisk-form for OPTIONS; ringws serves neither.
    start = p_;
    while (p_ != end_ && is_target_char(*p_)) ++p_;
    std::string_view target(start, static_cast<size_t>(p_ - start));
    // Anything that can become neither is refused as soon as it shows, not at the space.
    if ((target.empty() || target.front() != '/') && !could_be_absolute_form(target)) return Step::kBad;
    if (p_ == end_) return Step::kPartial;
    if (*p_ != ' ' || target.empty()) return Step::kBad;
    if (target.front() == '/') {
      out_.target = target;
    } else {
      // The URI's authority replaces the Host header (RFC 9112 section 3.2.2).
      if (!split_absolute_form(target, out_.host, out_.target)) return Step::kBad;
      host_from_target_ = true;
    }
    ++p_;

    if (Step s = literal("HTTP/1."); s != Step::kOk) return s;
    if (p_ == end_) return Step::kPartial;
    if (*p_ < '0' || *p_ > '9') return Step::kBad;
    out_.minor_version = *p_ - '0';
    ++p_;
    return crlf();
  }

  Step header_line() {
    // A line that starts with whitespace is obs-fold (a continuation of the previous
    // value) or, right after the request line, an attempt to hide a header: RFC 9112
    // sections 2.2 and 5.2 let a server reject both.
    const char* start = p_;
    while (p_ != end_ && is_tchar(*p_)) ++p_;
    if (p_ == end_) return Step::kPartial;
    // No whitespace between name and colon (RFC 9112 section 5.1), no empty name.
    if (*p_ != ':' || p_ == start) return Step::kBad;
    std::string_view name(start, static_cast<size_t>(p_ - start));
    ++p_;
    if (++out_.header_count > kMaxHeaders) return Step::kTooLarge;

    start = p_;
    while (p_ != end_ && is_value_char(*p_)) ++p_;
    std::string_view value(start, static_cast<size_t>(p_ - start));
    if (Step s = crlf(); s != Step::kOk) return s;
    return header(name, trim_ows(value));
  }

  // Records a header ringws acts on. Duplicates: see the contract in http_request.h.
  Step header(std::string_view name, std::string_view value) {
    if (iequals(name, "host")) {
      // RFC 9112 section 3.2: more than one Host is a 400.
      if (seen_host_) return Step::kBad;
      seen_host_ = true;
      if (!host_from_target_) out_.host = value;
    } else if (iequals(name, "connection")) {
      keep_naming(out_.connection, seen_connection_, value, "upgrade");
    } else if (iequals(name, "upgrade")) {
      keep_naming(out_.upgrade, seen_upgrade_, value, "websocket");
    } else if (iequals(name, "sec-websocket-key")) {
      if (seen_key_) return Step::kBad;
      seen_key_ = true;
      out_.sec_websocket_key = value;
    } else if (iequals(name, "sec-websocket-version")) {
      keep_first(out_.sec_websocket_version, seen_version_, value);
    } else if (iequals(name, "origin")) {
      keep_first(out_.origin, seen_origin_, value);
    } else if (iequals(name, "sec-websocket-protocol")) {
      // Subprotocols may carry the connection's token: keep every line, within a cap.
      if (out_.sec_websocket_protocol_lines == HttpRequest::kMaxProtocolLines) return Step::kBad;
      out_.sec_websocket_protocol[out_.sec_websocket_protocol_lines++] = value;
    } else if (iequals(name, "x-forwarded-for")) {
      // Last wins: the right-most entry is the one the nearest proxy (the ALB) added, and
      // a proxy that adds its own line adds it after the client's.
      out_.x_forwarded_for = value;
    } else if (iequals(name, "content-length")) {
      // A body would be read as the first WebSocket frames (or the next request): only
      // an explicit zero length is allowed. Digits only, so "+0" or "0x0" are refused.
      if (value.empty()) return Step::kBad;
      for (char c : value) {
        if (c != '0') return Step::kBad;
      }
    } else if (iequals(name, "transfer-encoding")) {
      return Step::kBad;
    }
    return Step::kOk;
  }

  static void keep_first(std::string_view& field, bool& seen, std::string_view value) {
    if (!seen) field = value;
    seen = true;
  }

  // The request holds one view per header and nothing to join into. For a comma-list
  // header the only question ringws asks is whether `token` is in the joined list, so
  // keeping the first line that names it (or else the first line) answers it the same way.
  static void keep_naming(std::string_view& field, bool& seen, std::string_view value,
                          std::string_view token) {
    if (!seen || (!header_list_contains(field, token) && header_list_contains(value, token))) {
      field = value;
    }
    seen = true;
  }

  const char* p_;
  const char* begin_;
  const char* end_;
  HttpRequest& out_;
  bool seen_host_ = false;
  bool host_from_target_ = false;  ///< an absolute-form target named the host
  bool seen_connection_ = false;
  bool seen_upgrade_ = false;
  bool seen_key_ = false;
  bool seen_version_ = false;
  bool seen_origin_ = false;
};

}  // namespace

HttpParseResult parse_http_request(std::string_view bytes, size_t max_head_bytes,
                                   HttpRequest& out) {
  out = HttpRequest{};
  // Only the first max_head_bytes can hold a head we accept; never look past them, so a
  // request that does not end within them is 431 however the rest of it looks.
  std::string_view window = bytes.substr(0, max_head_bytes);
  Parser parser(window, out);
  switch (parser.run()) {
    case Step::kOk:
      return {HttpParse::kComplete};
    case Step::kPartial:
      if (bytes.size() > window.size()) return {HttpParse::kError, 431};
      return {HttpParse::kPartial};
    case Step::kTooLarge:
      return {HttpParse::kError, 431};
    case Step::kBad:
      break;
  }
  return {HttpParse::kError, 400};
}

bool header_list_contains(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = trim_ows(list.substr(0, comma));
    if (iequals(item, token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

RequestVerdict classify_request(const HttpRequest& request) {
  if (request.method != "GET") return {RequestKind::kReject, 405};
  if (!header_list_contains(request.upgrade, "websocket")) {
    // A client that sends Sec-WebSocket-Key or -Version is attempting a WebSocket handshake:
    // without "websocket" in Upgrade (missing, or h2c) that handshake failed, and a page in
    // answer would read as success to some clients. Without them, the Upgrade is one this
    // server does not speak, which it may ignore (RFC 9110 section 7.8): a plain GET.
    if (!request.sec_websocket_key.empty() || !request.sec_websocket_version.empty())
      return {RequestKind::kReject, 400};
    return {RequestKind::kPlainGet};
  }
  // RFC 6455 section 4.1: the handshake is HTTP/1.1 or later.
  if (request.minor_version < 1) return {RequestKind::kReject, 400};
  if (request.host.empty()) return {RequestKind::kReject, 400};
  if (!header_list_contains(request.connection, "upgrade")) return {RequestKind::kReject, 400};
  if (request.sec_websocket_version.empty()) return {RequestKind::kReject, 400};
  // A client of another version can retry with the one the 426 names (section 4.4), so
  // the version is judged before the key, whose form may differ between versions.
  if (request.sec_websocket_version != "13") return {RequestKind::kReject, 426};
  if (!is_valid_websocket_key(request.sec_websocket_key)) return {RequestKind::kReject, 400};
  return {RequestKind::kWebSocketUpgrade};
}

}  // namespace ringws
