"""Times of the plan's day as people write them, and as the planner counts them.

A time is ``HH:MM`` or ``HH:MM:SS`` and means seconds from midnight of the plan's day. Hours
run up to 48 so a night shift can end after midnight ("22:00-06:30" is written
"22:00-30:30", as GTFS counts trips past midnight). A window is ``start-end`` with the end
not before the start; several windows are separated by ``;`` (or ``,``).

The parsers raise ``BadRequestData`` saying what is wrong with the text; the readers put the
file, line and field in front.
"""

from __future__ import annotations

import itertools
import re

from cetate.errors import BadRequestData
from cetate.logistics.model import Window

MAX_CLOCK_S = 48 * 3600
_CLOCK = re.compile(r"([0-9]{1,2}):([0-5][0-9])(?::([0-5][0-9]))?")
_WINDOW_DASHES = ("-", "\u2013")  # a hyphen, or the en dash spreadsheets put in ranges
_WINDOW_SEPARATORS = re.compile(r"[;,]")


def parse_clock(text: str) -> int:
    """``"08:30"`` -> 30600; ``"08:30:15"`` -> 30615; up to ``"48:00"``."""
    match = _CLOCK.fullmatch(text.strip())
    if match is None:
        raise BadRequestData(f"{text!r} is not a time of day (HH:MM or HH:MM:SS)")
    hours, minutes, seconds = match.groups()
    moment = int(hours) * 3600 + int(minutes) * 60 + int(seconds or 0)
    if moment > MAX_CLOCK_S:
        raise BadRequestData(f"{text!r} is after 48:00")
    return moment


def parse_window(text: str) -> Window:
    """``"09:00-11:00"`` -> ``Window(32400, 39600)``."""
    parts = re.split("|".join(_WINDOW_DASHES), text.strip())
    if len(parts) != 2 or not all(part.strip() for part in parts):
        raise BadRequestData(f"{text!r} is not a time window (HH:MM-HH:MM)")
    try:
        start, end = parse_clock(parts[0]), parse_clock(parts[1])
    except BadRequestData as error:
        raise BadRequestData(f"{text.strip()!r}: {error.detail}") from None
    if end < start:
        raise BadRequestData(f"{text!r} ends before it starts")
    return Window(start, end)


def parse_windows(text: str) -> tuple[Window, ...]:
    """``"09:00-11:00;14:00-16:00"`` -> two windows, earliest first; ``""`` -> none (any time).

    Overlapping windows are refused: they say the same thing twice, or one of them is a typo.
    """
    if not text.strip():
        return ()
    windows = sorted(
        (parse_window(part) for part in _WINDOW_SEPARATORS.split(text)),
        key=lambda window: (window.start, window.end),
    )
    for before, after in itertools.pairwise(windows):
        if after.start < before.end:  # windows that only touch are fine
            raise BadRequestData(
                f"the windows {format_window(before)} and {format_window(after)} overlap"
            )
    return tuple(windows)


def format_clock(seconds: int) -> str:
    """``30615`` -> ``"08:30"``: the minute it falls in, for tables and messages."""
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}"


def format_clock_exact(seconds: int) -> str:
    """``"08:30"``, or ``"08:30:15"`` when the time is not on a whole minute: it parses back to
    the same second, for what is stored rather than shown."""
    if seconds % 60:
        return f"{format_clock(seconds)}:{seconds % 60:02d}"
    return format_clock(seconds)


def format_window(window: Window) -> str:
    """``Window(32400, 39600)`` -> ``"09:00-11:00"``; parses back to the same window."""
    return f"{format_clock_exact(window.start)}-{format_clock_exact(window.end)}"
