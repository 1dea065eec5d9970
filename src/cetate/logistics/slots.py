"""A driver's day cut into the stretches the solver plans: before and after the rest break, and
the early feeding run of a van that supplies micro-hubs.

PyVRP has no breaks. Cetate places the break at the vehicle's base at a fixed time (mid-shift
unless the fleet says when) and plans each stretch as its own route slot: the break is then
guaranteed, in full, at a place with facilities, and no stretch of work can exceed the legal
limit. The price: a van comes back to its base for the break. A stretch gets a share of the
day's working time in proportion to its length, so the day's total stays within the limit
whatever the solver does with each stretch; the day's distance limits (maximum distance,
range on one charge) are shared the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from cetate.errors import BadRequestData
from cetate.logistics.clock import format_clock
from cetate.logistics.model import Problem, VehicleType, Window


@dataclass(frozen=True)
class Slot:
    window: Window  # when the vehicle may leave and must be back
    max_work_s: int
    feeding: bool = False  # the early run that supplies micro-hubs
    share: float = 1.0  # its part of the day's limits (working time, distance, range)


def feeding_ends(problem: Problem, vehicle: VehicleType) -> int | None:
    """When a feeder must have supplied every micro-hub it feeds (the latest ready_by)."""
    if not vehicle.feeds:
        return None
    moments = []
    for hub_id in vehicle.feeds:
        hub = problem.site(hub_id)
        moments.append(hub.ready_by if hub.ready_by is not None else hub.hours.start)
    return max(moments)


def day_slots(problem: Problem, vehicle: VehicleType) -> list[Slot]:
    """The stretches of ``vehicle``'s shift, in time order."""
    shift = vehicle.shift
    if shift.end <= shift.start:
        raise BadRequestData(f"vehicle type {vehicle.id}: its shift ends before it starts")
    base = problem.site(vehicle.depot)
    start = max(shift.start, base.hours.start)
    if base.kind == "microhub" and base.ready_by is not None:
        start = max(start, base.ready_by)  # its goods are there from ready_by
    end = min(shift.end, base.hours.end)
    if end <= start:
        raise BadRequestData(
            f"vehicle type {vehicle.id}: its shift {format_clock(shift.start)}-"
            f"{format_clock(shift.end)} leaves no time while {base.id} is open and supplied"
        )
    work = min(vehicle.max_work_s, end - start)
    pause = vehicle.breaks.needed_s(work)
    stretches: list[Window] = []
    if pause == 0:
        stretches.append(Window(start, end))
    else:
        at = vehicle.breaks.at
        if at is None:
            at = start + (end - start - pause) // 2
        before, after = Window(start, at), Window(at + pause, end)
        limit = vehicle.breaks.after_s
        if not (start < at and at + pause < end):
            raise BadRequestData(
                f"vehicle type {vehicle.id}: its break at {format_clock(at)} is not inside its "
                f"shift {format_clock(start)}-{format_clock(end)}"
            )
        if before.end - before.start > limit or after.end - after.start > limit:
            raise BadRequestData(
                f"vehicle type {vehicle.id}: with one break at {format_clock(at)} a stretch of "
                f"work would exceed {limit / 3600:g} h; shorten the shift or move the break"
            )
        stretches.extend([before, after])
    feed_end = feeding_ends(problem, vehicle)
    slots: list[Slot] = []
    if feed_end is not None:
        if feed_end <= stretches[0].start:
            raise BadRequestData(
                f"vehicle type {vehicle.id} feeds {', '.join(vehicle.feeds)} by "
                f"{format_clock(feed_end)} but its shift starts at "
                f"{format_clock(stretches[0].start)}"
            )
        first = stretches[0]
        if feed_end >= first.end:
            raise BadRequestData(
                f"vehicle type {vehicle.id}: feeding until {format_clock(feed_end)} leaves no "
                f"time before its break at {format_clock(first.end)}"
            )
        stretches = [Window(first.start, feed_end), Window(feed_end, first.end), *stretches[1:]]
    total = sum(w.end - w.start for w in stretches)
    for i, window in enumerate(stretches):
        length = window.end - window.start
        feeding = feed_end is not None and i == 0
        slots.append(Slot(window, work * length // total, feeding=feeding, share=length / total))
    return slots
