// The bytes the hostile modes send, as pure functions: no sockets, so each can be checked
// byte by byte in the unit tests. Client frames are masked, as RFC 6455 requires of a
// client, so that a server refuses them for what they mean, not for a missing mask.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ringws::load {

/// Bytes of one masked ping frame with `payload` bytes (at most 125): 2 + 4 + payload.
constexpr size_t ping_frame_size(size_t payload) { return 6 + payload; }

/// `count` masked ping frames back to back, each with `payload` bytes of 'p' (at most 125)
/// under the masking key `mask`. A whole number of frames: a flood writes it round and round.
std::string make_ping_burst(size_t payload, size_t count, uint32_t mask);

/// An upgrade request without its final CRLF: every header is there and ends its line, the
/// blank line that ends the head never comes.
std::string make_half_request(std::string_view host, std::string_view path, std::string_view key);

/// Byte `i` of an endless request head: `head` (a half request), then header lines of
/// filler ("X-Slowloris: x\r\n") over and over, so that the head never ends.
char slowloris_byte(std::string_view head, uint64_t i);

/// The first half of an upgrade request (at least one byte): what connect-reset
/// --send-partial writes before its RST.
std::string make_partial_request(std::string_view host, std::string_view path, std::string_view key);

/// A masked binary frame (FIN set) whose header declares `size` payload bytes, followed by
/// all of its payload but the last `tail` (1 <= tail <= size): size + header - tail bytes.
/// The payload is 'm' bytes, masked with `mask`.
std::string make_partial_message(uint64_t size, uint64_t tail, uint32_t mask);

}  // namespace ringws::load
