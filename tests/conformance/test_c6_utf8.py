"""Autobahn 6.x: UTF-8 in text messages. Valid text is echoed however it is fragmented (code
points split across frames included); invalid text fails with 1007, either as soon as the bad
byte arrives or when the message ends (fail-fast is allowed, not required)."""

import time

import pytest

from rawws import OP_CONT, OP_TEXT, build_frame
from wscase import close_normally, expect_echo, send_and_fail

KOSME = "κόσμε".encode()

VALID = {
    "empty": b"",
    "hello": "Hello-µ@ßöäüàá-UTF-8!!".encode(),
    "kosme": KOSME,
    "first-1": b"\x00",
    "first-2": b"\xc2\x80",
    "first-3": b"\xe0\xa0\x80",
    "first-4": b"\xf0\x90\x80\x80",
    "last-1": b"\x7f",
    "last-2": b"\xdf\xbf",
    "last-3": b"\xef\xbf\xbf",
    "last-4": b"\xf4\x8f\xbf\xbf",
    "U+D7FF": b"\xed\x9f\xbf",
    "U+E000": b"\xee\x80\x80",
    "U+FFFD": b"\xef\xbf\xbd",
    "U+FFFE": b"\xef\xbf\xbe",
    "U+1FFFE": b"\xf0\x9f\xbf\xbe",
    "U+10FFFF": b"\xf4\x8f\xbf\xbf",
    "mixed": "aé€😀z".encode() * 20,
}

INVALID = {
    "kosme-surrogate-edited": KOSME + b"\xed\xa0\x80" + b"edited",
    "5-byte": b"\xf8\x88\x80\x80\x80",
    "6-byte": b"\xfc\x84\x80\x80\x80\x80",
    "over-10FFFF": b"\xf4\x90\x80\x80",
    "f7bfbfbf": b"\xf7\xbf\xbf\xbf",
    "cont-80": b"\x80",
    "cont-bf": b"\xbf",
    "cont-80bf80": b"\x80\xbf\x80",
    "all-continuations": bytes(range(0x80, 0xC0)),
    "lonely-c0": b"\xc0\x20",
    "lonely-e0": b"\xe0\x20",
    "lonely-f0": b"\xf0\x20",
    "missing-last-2": b"\xdf",
    "missing-last-3": b"\xef\xbf",
    "missing-last-4": b"\xf4\x8f\xbf",
    "kosme-truncated": KOSME + b"\xce",
    "fe": b"\xfe",
    "ff": b"\xff",
    "fefeffff": b"\xfe\xfe\xff\xff",
    "overlong-slash-2": b"\xc0\xaf",
    "overlong-slash-3": b"\xe0\x80\xaf",
    "overlong-slash-4": b"\xf0\x80\x80\xaf",
    "overlong-max-2": b"\xc1\xbf",
    "overlong-max-3": b"\xe0\x9f\xbf",
    "overlong-max-4": b"\xf0\x8f\xbf\xbf",
    "overlong-nul-2": b"\xc0\x80",
    "overlong-nul-3": b"\xe0\x80\x80",
    "surrogate-d800": b"\xed\xa0\x80",
    "surrogate-dbff": b"\xed\xaf\xbf",
    "surrogate-dc00": b"\xed\xb0\x80",
    "surrogate-dfff": b"\xed\xbf\xbf",
    "surrogate-pair": b"\xed\xa0\x80\xed\xb0\x80",
    "valid-then-bad": b"Hello" + b"\xc3\x28" + b"World",
}


def every_byte(data):
    """A text message as one frame per byte (an empty message is one empty frame)."""
    if not data:
        return build_frame(OP_TEXT, b"")
    return b"".join(build_frame(OP_TEXT if i == 0 else OP_CONT, data[i:i + 1], fin=i == len(data) - 1)
                    for i in range(len(data)))


@pytest.mark.parametrize("name", VALID)
def test_6_valid_whole(ws, name):
    ws.send_frame(OP_TEXT, VALID[name])
    expect_echo(ws, OP_TEXT, VALID[name])
    close_normally(ws)


@pytest.mark.parametrize("name", VALID)
def test_6_valid_fragmented_every_byte(ws, name):
    ws.send_raw(every_byte(VALID[name]))
    expect_echo(ws, OP_TEXT, VALID[name])
    close_normally(ws)


@pytest.mark.parametrize("name", VALID)
def test_6_valid_chopped_every_byte(ws, name):
    # One frame, arriving one TCP write per byte.
    ws.send_raw(build_frame(OP_TEXT, VALID[name]), chop=1)
    expect_echo(ws, OP_TEXT, VALID[name])
    close_normally(ws)


@pytest.mark.parametrize("name", INVALID)
def test_6_invalid_whole_1007(ws, name):
    send_and_fail(ws, build_frame(OP_TEXT, INVALID[name]), 1007)


@pytest.mark.parametrize("name", INVALID)
def test_6_invalid_fragmented_every_byte_1007(ws, name):
    send_and_fail(ws, every_byte(INVALID[name]), 1007)


@pytest.mark.parametrize("name", ["kosme-surrogate-edited", "over-10FFFF", "valid-then-bad"])
def test_6_4_invalid_in_second_fragment_with_pause(ws, name):
    # Autobahn 6.4: the bad bytes come in a later fragment, after a pause; the server may
    # fail at once or at the end of the message, but the message is never echoed.
    data = INVALID[name]
    cut = len(data) // 2
    ws.send_raw(build_frame(OP_TEXT, data[:cut], fin=False))
    time.sleep(0.2)
    ws.send_raw_tolerant(build_frame(OP_CONT, data[cut:], fin=False))
    time.sleep(0.2)
    ws.send_raw_tolerant(build_frame(OP_CONT, b"end"))
    ws.expect_close(1007)


def test_6_code_point_split_across_fragments(ws):
    euro = "€".encode()  # 3 bytes: split 1 + 2 and 2 + 1
    ws.send_raw(build_frame(OP_TEXT, b"a" + euro[:1], fin=False) + build_frame(OP_CONT, euro[1:] + euro[:2], fin=False)
                + build_frame(OP_CONT, euro[2:] + b"z"))
    expect_echo(ws, OP_TEXT, b"a" + euro + euro + b"z")
    close_normally(ws)


def test_6_binary_is_not_validated(ws):
    data = b"\xff\xfe\xc0\xaf\xed\xa0\x80"
    ws.send_frame(0x2, data)
    expect_echo(ws, 0x2, data)
    close_normally(ws)
