"""The one duration formatter of the pages (hyperloop.units.format_duration)."""

from __future__ import annotations

import pytest

from hyperloop.units import format_duration


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (None, "–"),
        (0, "0.0 s"),
        (0.42, "0.4 s"),
        (42, "42 s"),
        (59.4, "59 s"),
        (59.6, "1 min"),
        (720, "12 min"),
        (3569, "59 min"),
        (3590, "1.0 h"),
        (3.4 * 3600, "3.4 h"),
        (36_000, "10.0 h"),
    ],
)
def test_durations_read_as_seconds_minutes_or_hours(seconds, shown) -> None:
    assert format_duration(seconds) == shown


def test_a_short_cpu_time_never_reads_zero_hours() -> None:
    assert format_duration(3.0) == "3.0 s" and "h" not in format_duration(1800)
