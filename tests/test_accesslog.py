"""LineBuffer: lines recorded now, formatted and written a block at a time, all by close."""

from __future__ import annotations

import asyncio
import io
import json

from customergroup_rpc.accesslog import FLUSH_AFTER, FLUSH_LINES, LineBuffer, json_line


def written(out: io.BytesIO) -> list[str]:
    return [line.split(" INFO ", 1)[1] for line in out.getvalue().decode().splitlines()]


async def test_lines_wait_for_the_timer_then_come_in_order() -> None:
    out = io.BytesIO()
    lines = LineBuffer(out)
    lines.add("{}-{}".format, "a", 1)
    lines.write("b")
    assert out.getvalue() == b""  # not yet: formatted when written
    await asyncio.sleep(FLUSH_AFTER * 2)
    assert written(out) == ["a-1", "b"]


async def test_a_full_block_is_written_at_once() -> None:
    out = io.BytesIO()
    lines = LineBuffer(out)
    for i in range(FLUSH_LINES):
        lines.add(str, i)
    assert written(out) == [str(i) for i in range(FLUSH_LINES)]
    lines.write("last")
    lines.close()
    assert written(out)[-1] == "last"


def test_lines_carry_their_own_time_and_bytes_that_are_no_utf8_are_escaped() -> None:
    out = io.BytesIO()
    lines = LineBuffer(out)  # no event loop: written at once
    lines.write("lone \udc80 surrogate")
    stamp, rest = out.getvalue().decode().rstrip("\n").split(" INFO ", 1)
    assert rest == "lone \\udc80 surrogate"
    assert len(stamp) == len("2026-11-22 07:00:00")


def test_json_lines_are_one_object_each_with_time_and_level() -> None:
    out = io.BytesIO()
    lines = LineBuffer(out, json=True)  # no event loop: written at once
    lines.add(lambda n: {"event": "request", "n": n, "text": 'a "quoted"\nline'}, 1)
    lines.write("lone \udc80 surrogate")
    [first, second] = [json.loads(line) for line in out.getvalue().decode().splitlines()]
    assert first["time"].endswith("Z")
    assert {k: v for k, v in first.items() if k != "time"} == {
        "level": "INFO",
        "event": "request",
        "n": 1,
        "text": 'a "quoted"\nline',
    }
    assert second["message"] == "lone \udc80 surrogate"  # escaped: the line stays JSON


def test_json_time_is_utc_with_milliseconds() -> None:
    record = json.loads(json_line(1_700_000_000.5, "WARNING", {"message": "m"}))
    assert record == {"time": "2023-11-14T22:13:20.500Z", "level": "WARNING", "message": "m"}
