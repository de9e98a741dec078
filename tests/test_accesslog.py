"""LineBuffer: lines recorded now, formatted and written a block at a time, all by close."""

from __future__ import annotations

import asyncio
import io

from customergroup_rpc.accesslog import FLUSH_AFTER, FLUSH_LINES, LineBuffer


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
