#include "bench/load/ws_client.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace ringws::load {

namespace {

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

std::string base64(const unsigned char* data, size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, int(n));
  out.resize(size_t(len));
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return std::tolower(uint8_t(x)) == std::tolower(uint8_t(y)); });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// True if the comma-separated header value holds `token` (case-insensitive).
bool has_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    if (iequals(trim(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

std::string make_websocket_key() {
  unsigned char raw[16];
  if (RAND_bytes(raw, sizeof raw) != 1) throw std::runtime_error("RAND_bytes failed");
  return base64(raw, sizeof raw);
}

std::string expected_accept(std::string_view key) {
  std::string input(key);
  input.append(kGuid);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  return base64(digest, sizeof digest);
}

std::string make_upgrade_request(std::string_view host, std::string_view path, std::string_view key) {
  std::string r;
  r.reserve(160 + host.size() + path.size());
  r.append("GET ").append(path).append(" HTTP/1.1\r\nHost: ").append(host);
  r.append("\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ").append(key);
  r.append("\r\nSec-WebSocket-Version: 13\r\n\r\n");
  return r;
}

HandshakeResult parse_upgrade_response(std::string_view bytes, std::string_view key, size_t max_head) {
  HandshakeResult r;
  size_t end = bytes.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (bytes.size() > max_head) {
      r.status = ParseStatus::kError;
      r.error = "response head too long";
    }
    return r;
  }
  r.status = ParseStatus::kError;
  std::string_view head = bytes.substr(0, end);
  size_t eol = head.find("\r\n");
  std::string_view status_line = head.substr(0, eol);
  // "HTTP/1.1 101 Switching Protocols"
  if (status_line.size() < 12 || status_line.substr(0, 5) != "HTTP/" || status_line.find(' ') == std::string_view::npos) {
    r.error = "not an HTTP response";
    return r;
  }
  std::string_view code = status_line.substr(status_line.find(' ') + 1, 3);
  if (code.size() == 3 && std::all_of(code.begin(), code.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
    r.http_status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
  if (code != "101") {
    r.error = "status " + std::string(code) + " instead of 101";
    return r;
  }
  bool upgrade = false, connection = false, accept_ok = false, accept_seen = false;
  std::string want = expected_accept(key);
  std::string_view rest = eol == std::string_view::npos ? std::string_view{} : head.substr(eol + 2);
  while (!rest.empty()) {
    size_t e = rest.find("\r\n");
    std::string_view line = rest.substr(0, e);
    rest = e == std::string_view::npos ? std::string_view{} : rest.substr(e + 2);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      r.error = "malformed header line";
      return r;
    }
    std::string_view name = line.substr(0, colon), value = trim(line.substr(colon + 1));
    if (iequals(name, "upgrade")) upgrade = iequals(value, "websocket");
    else if (iequals(name, "connection")) connection = has_token(value, "upgrade");
    else if (iequals(name, "sec-websocket-accept")) {
      accept_seen = true;
      accept_ok = value == want;
    } else if (iequals(name, "sec-websocket-extensions")) {
      r.error = "server chose an extension the client did not offer";
      return r;
    }
  }
  if (!upgrade) r.error = "missing Upgrade: websocket";
  else if (!connection) r.error = "missing Connection: upgrade";
  else if (!accept_seen) r.error = "missing Sec-WebSocket-Accept";
  else if (!accept_ok) r.error = "wrong Sec-WebSocket-Accept";
  else {
    r.status = ParseStatus::kDone;
    r.consumed = end + 4;
  }
  return r;
}

void encode_frame(std::string& out, WsOp op, std::span<const uint8_t> payload, uint32_t mask, bool fin) {
  uint8_t h[14];
  size_t n = 0;
  h[n++] = uint8_t((fin ? 0x80 : 0) | uint8_t(op));
  uint64_t len = payload.size();
  if (len < 126) {
    h[n++] = uint8_t(0x80 | len);
  } else if (len <= 0xffff) {
    h[n++] = 0x80 | 126;
    h[n++] = uint8_t(len >> 8);
    h[n++] = uint8_t(len);
  } else {
    h[n++] = 0x80 | 127;
    for (int i = 7; i >= 0; --i) h[n++] = uint8_t(len >> (8 * i));
  }
  uint8_t m[4] = {uint8_t(mask >> 24), uint8_t(mask >> 16), uint8_t(mask >> 8), uint8_t(mask)};
  for (uint8_t b : m) h[n++] = b;
  size_t at = out.size();
  out.resize(at + n + payload.size());
  std::copy(h, h + n, reinterpret_cast<uint8_t*>(out.data() + at));
  uint8_t* p = reinterpret_cast<uint8_t*>(out.data() + at + n);
  for (size_t i = 0; i < payload.size(); ++i) p[i] = payload[i] ^ m[i & 3];
}

DecodeResult decode_frame(std::span<const uint8_t> b, uint64_t max_payload) {
  DecodeResult r;
  if (b.size() < 2) return r;
  auto fail = [&](const char* why) {
    r.status = ParseStatus::kError;
    r.error = why;
    return r;
  };
  uint8_t b0 = b[0], b1 = b[1];
  if (b0 & 0x70) return fail("reserved bits set");
  uint8_t op = b0 & 0x0f;
  bool control = op & 0x8;
  if (!(op <= 2 || (op >= 8 && op <= 10))) return fail("unknown opcode");
  if (b1 & 0x80) return fail("masked server frame");
  bool fin = b0 & 0x80;
  uint64_t len = b1 & 0x7f;
  size_t hl = 2;
  if (len == 126) {
    if (b.size() < 4) return r;
    len = (uint64_t(b[2]) << 8) | b[3];
    if (len < 126) return fail("non-minimal length");
    hl = 4;
  } else if (len == 127) {
    if (b.size() < 10) return r;
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | b[2 + i];
    if (len >> 63) return fail("length with the top bit set");
    if (len <= 0xffff) return fail("non-minimal length");
    hl = 10;
  }
  if (control && (!fin || len > 125)) return fail("fragmented or oversized control frame");
  if (len > max_payload) return fail("frame larger than the client's limit");
  if (b.size() - hl < len) return r;
  r.status = ParseStatus::kDone;
  r.header = {fin, WsOp(op), hl, len};
  return r;
}

bool parse_close_payload(std::span<const uint8_t> payload, uint16_t& code) {
  if (payload.empty()) {
    code = 1005;
    return true;
  }
  if (payload.size() == 1) return false;
  code = uint16_t((payload[0] << 8) | payload[1]);
  return true;
}

}  // namespace ringws::load
