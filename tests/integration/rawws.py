"""A raw-socket WebSocket client for tests that must send what a polite client never would.

It builds frames bit by bit (any opcode, RSV bits, mask or none, any length encoding), sends
them whole or in chops, and reads the server's frames incrementally. Every read has a
deadline, so a server that stops answering fails a test instead of hanging it.
"""

import base64
import hashlib
import os
import socket
import struct
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

DEFAULT_TIMEOUT = 10.0


class Closed(Exception):
    """The server closed the TCP connection (EOF or reset) before a full frame arrived."""


class Frame:
    __slots__ = ("fin", "rsv", "opcode", "masked", "payload")

    def __init__(self, fin, rsv, opcode, masked, payload):
        self.fin, self.rsv, self.opcode, self.masked, self.payload = fin, rsv, opcode, masked, payload

    @property
    def close_code(self):
        """The status code of a close frame, or None when its payload is empty."""
        assert self.opcode == OP_CLOSE
        if len(self.payload) < 2:
            return None
        return struct.unpack("!H", self.payload[:2])[0]

    @property
    def close_reason(self):
        return self.payload[2:]

    def __repr__(self):
        p = self.payload if len(self.payload) <= 40 else self.payload[:40] + b"..."
        return f"Frame(fin={self.fin}, rsv={self.rsv}, opcode={self.opcode:#x}, len={len(self.payload)}, {p!r})"


def build_frame(opcode, payload=b"", fin=True, rsv=0, mask=True, mask_key=None, length_bytes=None):
    """Encodes one frame. length_bytes forces the length encoding: 0 (7-bit), 2 or 8;
    None picks the minimal one. The payload is masked with mask_key (random by default)."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload)
    head = bytearray([(0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0xF)])
    if length_bytes is None:
        length_bytes = 0 if n <= 125 else 2 if n <= 0xFFFF else 8
    mbit = 0x80 if mask else 0
    if length_bytes == 0:
        assert n <= 125
        head.append(mbit | n)
    elif length_bytes == 2:
        head.append(mbit | 126)
        head += struct.pack("!H", n)
    else:
        head.append(mbit | 127)
        head += struct.pack("!Q", n)
    if not mask:
        return bytes(head) + payload
    key = mask_key if mask_key is not None else os.urandom(4)
    return bytes(head) + key + apply_mask(payload, key)


def apply_mask(data, key):
    # XOR through one big integer: fast enough for the multi-megabyte cases.
    n = len(data)
    if n == 0:
        return b""
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")).to_bytes(n, "little")


def close_payload(code=None, reason=b""):
    if code is None:
        return b""
    if isinstance(reason, str):
        reason = reason.encode()
    return struct.pack("!H", code) + reason


def server_frames(data):
    """Splits bytes a server sent into (opcode, payload) tuples (server frames are unmasked); a
    truncated tail is dropped (the server may close with bytes still queued)."""
    out, pos = [], 0
    while pos + 2 <= len(data):
        n, p = data[pos + 1] & 0x7F, pos + 2
        if n == 126:
            if p + 2 > len(data):
                break
            n, p = struct.unpack_from("!H", data, p)[0], p + 2
        elif n == 127:
            if p + 8 > len(data):
                break
            n, p = struct.unpack_from("!Q", data, p)[0], p + 8
        if p + n > len(data):
            break
        out.append((data[pos] & 0xF, bytes(data[p:p + n])))
        pos = p + n
    return out


def handshake_request(host, port, path="/", key=None, extra=(), version="13"):
    key = key if key is not None else base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        f"Sec-WebSocket-Version: {version}",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), key


def expected_accept(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def parse_response_head(head):
    """Splits b'HTTP/1.1 101 ...\\r\\nA: b\\r\\n' into (status, {lower-name: value})."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    assert parts[0].startswith("HTTP/1."), f"not an HTTP status line: {lines[0]!r}"
    headers = {}
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


class RawWS:
    """One TCP connection, upgraded (or not) by hand."""

    def __init__(self, host, port, timeout=DEFAULT_TIMEOUT, rcvbuf=None):
        self.host, self.port, self.timeout = host, port, timeout
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            # Before connect, so the window the server sees is small from the start.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.buf = bytearray()
        self.eof = False

    # --- connection set-up -------------------------------------------------------------

    @classmethod
    def connect(cls, host, port, path="/", timeout=DEFAULT_TIMEOUT, extra=(), trailing=b"", rcvbuf=None):
        """Connects and upgrades; `trailing` bytes go out in the same write as the request."""
        ws = cls(host, port, timeout=timeout, rcvbuf=rcvbuf)
        req, key = handshake_request(host, port, path=path, extra=extra)
        ws.sock.sendall(req + trailing)
        status, headers = ws.read_http_head()
        assert status == 101, f"upgrade refused: {status} {headers}"
        assert headers.get("upgrade", "").lower() == "websocket", headers
        assert "upgrade" in headers.get("connection", "").lower(), headers
        assert headers.get("sec-websocket-accept") == expected_accept(key), headers
        return ws

    def read_http_head(self, deadline=None):
        deadline = deadline or time.monotonic() + self.timeout
        while b"\r\n\r\n" not in self.buf:
            if not self._fill(deadline):
                raise Closed(f"connection closed before a full HTTP response head: {bytes(self.buf)!r}")
        end = self.buf.index(b"\r\n\r\n")
        head = bytes(self.buf[:end])
        del self.buf[: end + 4]
        return parse_response_head(head)

    # --- sending -----------------------------------------------------------------------

    def send_raw(self, data, chop=None, delay=0.0):
        """Sends bytes, optionally in writes of `chop` bytes (each its own TCP segment with
        TCP_NODELAY, and a pause of `delay` seconds between them)."""
        if not chop:
            self.sock.sendall(data)
            return
        for i in range(0, len(data), chop):
            self.sock.sendall(data[i : i + chop])
            if delay:
                time.sleep(delay)

    def send_raw_tolerant(self, data, chop=None, delay=0.0):
        """Like send_raw, but a server that already failed the connection is no error: the
        test then judges what it read back."""
        try:
            self.send_raw(data, chop=chop, delay=delay)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def send_frame(self, opcode, payload=b"", chop=None, **kw):
        self.send_raw(build_frame(opcode, payload, **kw), chop=chop)

    def send_text(self, text, **kw):
        self.send_frame(OP_TEXT, text.encode() if isinstance(text, str) else text, **kw)

    def send_binary(self, data, **kw):
        self.send_frame(OP_BINARY, data, **kw)

    def send_close(self, code=None, reason=b"", **kw):
        self.send_frame(OP_CLOSE, close_payload(code, reason), **kw)

    # --- receiving ---------------------------------------------------------------------

    def _fill(self, deadline):
        """Reads more bytes into buf; False on EOF or reset. Raises TimeoutError at the deadline."""
        if self.eof:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no data from the server before the deadline")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(1 << 20)
        except socket.timeout:
            raise TimeoutError("no data from the server before the deadline") from None
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def _need(self, n, deadline):
        while len(self.buf) < n:
            if not self._fill(deadline):
                raise Closed(f"connection closed with {len(self.buf)} of {n} bytes of a frame")

    def recv_frame(self, timeout=None):
        """The next frame from the server. Raises Closed on EOF, TimeoutError on silence."""
        deadline = time.monotonic() + (timeout or self.timeout)
        self._need(2, deadline)
        b0, b1 = self.buf[0], self.buf[1]
        n = b1 & 0x7F
        pos = 2
        if n == 126:
            self._need(4, deadline)
            n = struct.unpack_from("!H", self.buf, 2)[0]
            pos = 4
        elif n == 127:
            self._need(10, deadline)
            n = struct.unpack_from("!Q", self.buf, 2)[0]
            pos = 10
        masked = bool(b1 & 0x80)
        if masked:
            self._need(pos + 4, deadline)
            key = bytes(self.buf[pos : pos + 4])
            pos += 4
        self._need(pos + n, deadline)
        payload = bytes(self.buf[pos : pos + n])
        del self.buf[: pos + n]
        if masked:
            payload = apply_mask(payload, key)
        return Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF, masked, payload)

    def recv_server_frame(self, timeout=None):
        """recv_frame, plus what RFC 6455 requires of any server frame: unmasked, no RSV bits
        (no extension is negotiated), a known opcode, control frames whole and <= 125 bytes."""
        f = self.recv_frame(timeout)
        assert not f.masked, f"server frame is masked: {f}"
        assert f.rsv == 0, f"server frame has RSV bits: {f}"
        assert f.opcode in (OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG), f
        if f.opcode >= 0x8:
            assert f.fin and len(f.payload) <= 125, f"bad server control frame: {f}"
        return f

    def recv_message(self, timeout=None, skip_pings=True):
        """The next data message, reassembled: (opcode, payload). Server pings are answered;
        a close frame raises AssertionError with its code, so a test sees why."""
        deadline = time.monotonic() + (timeout or self.timeout)
        opcode, parts = None, []
        while True:
            f = self.recv_server_frame(max(0.001, deadline - time.monotonic()))
            if f.opcode == OP_PING and skip_pings:
                self.send_frame(OP_PONG, f.payload)
                continue
            if f.opcode == OP_CLOSE:
                raise AssertionError(f"expected a message, got close {f.close_code} {f.close_reason!r}")
            if f.opcode == OP_CONT:
                assert opcode is not None, "server sent a continuation frame without a message"
            else:
                assert opcode is None, f"server started a new message inside a fragmented one: {f}"
                opcode = f.opcode
            parts.append(f.payload)
            if f.fin:
                return opcode, b"".join(parts)

    def expect_close(self, codes, timeout=None, reply=True):
        """Reads until the server's close frame, asserting that no data frame comes first and that
        its code is one of `codes` (None stands for an empty close payload); answers it, then
        asserts that the server closes TCP. Returns the close frame."""
        if isinstance(codes, int) or codes is None:
            codes = {codes}
        deadline = time.monotonic() + (timeout or self.timeout)
        try:
            f = self.recv_server_frame(max(0.001, deadline - time.monotonic()))
        except Closed:
            raise AssertionError(f"server closed TCP without a close frame (expected close {sorted(codes, key=str)})")
        assert f.opcode == OP_CLOSE, f"expected close {sorted(codes, key=str)}, got {f}"
        assert f.close_code in codes, (
            f"expected close {sorted(codes, key=str)}, got {f.close_code} reason {f.close_reason!r}"
        )
        assert len(f.payload) != 1, "server close frame with a 1-byte payload"
        f.close_reason.decode("utf-8")  # a server's close reason must be UTF-8 too
        if reply:
            # Echo the code, as a client completing the closing handshake does; the server may
            # have closed TCP already, which is fine.
            self.send_raw_tolerant(build_frame(OP_CLOSE, f.payload[:2]))
        self.expect_tcp_close(max(0.5, deadline - time.monotonic()))
        return f

    def expect_tcp_close(self, timeout=None):
        """Asserts that the server closes TCP (EOF or reset) with nothing more sent."""
        deadline = time.monotonic() + (timeout or self.timeout)
        try:
            while self._fill(deadline):
                pass
        except TimeoutError:
            raise AssertionError("server did not close the TCP connection") from None
        assert not self.buf, f"server sent bytes after its close frame: {bytes(self.buf[:64])!r}"

    def read_until_closed(self, timeout):
        """Reads and keeps everything until EOF or reset; raises TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while self._fill(deadline):
            pass
        return bytes(self.buf)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def http_exchange(host, port, request, timeout=DEFAULT_TIMEOUT, chop=None):
    """Sends a raw HTTP request and returns (status, headers, body). Returns (None, {}, b'')
    when the server closes without a response."""
    c = RawWS(host, port, timeout=timeout)
    try:
        try:
            c.send_raw(request, chop=chop)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            status, headers = c.read_http_head()
        except Closed:
            return None, {}, b""
        deadline = time.monotonic() + timeout
        if "content-length" in headers:
            n = int(headers["content-length"])
            while len(c.buf) < n and c._fill(deadline):
                pass
            body = bytes(c.buf[:n])
        else:
            while c._fill(deadline):
                pass
            body = bytes(c.buf)
        return status, headers, body
    finally:
        c.close()
