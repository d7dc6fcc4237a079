"""One unit convention for memory and sizes, from the metrics files to the pages.

- O2's ``performanceMetrics.json`` gives memory (``proportionalSetSize``,
  ``residentSetSize``, ``virtualMemorySize``) in kB of 1024 bytes, as /proc does:
  ``kib_to_bytes`` converts it once, where the file is read.
- Everything after that (``metrics_summary.json``, the database, the JSON API) is in bytes.
- Pages show bytes with ``format_bytes`` only (the ``ui.bytes`` template macro and every
  message that names a size call it): decimal units, 1 kB = 1000 B, 1 MB = 10^6 B,
  1 GB = 10^9 B, the units of the targets' memory limits (MB) and of the thresholds.
- Durations (CPU and wall times, in seconds everywhere below the pages) are shown with
  ``format_duration`` only (the ``ui.duration`` template macro): seconds under a minute,
  minutes under an hour, hours with one decimal above, so a short test never reads "0.0 h".
"""

from __future__ import annotations

KIB = 1024
KB = 1000
MB = 1000**2
GB = 1000**3
TB = 1000**4


def kib_to_bytes(value: float | str) -> float:
    """A memory value of an O2 metrics file (kB of 1024 bytes) in bytes."""
    return float(value) * KIB


def format_bytes(n: float | int | None) -> str:
    """``n`` bytes for people: ``"–"`` when unknown, ``"512 B"``, ``"70.9 MB"``, ``"3.60 GB"``."""
    if n is None:
        return "–"
    n = float(n)
    a = abs(n)
    if a >= TB:
        return f"{n / TB:.2f} TB"
    if a >= GB:
        return f"{n / GB:.2f} GB"
    if a >= MB:
        return f"{n / MB:.1f} MB"
    if a >= KB:
        return f"{n / KB:.1f} kB"
    return f"{int(n)} B"


MINUTE = 60
HOUR = 3600


def format_duration(seconds: float | int | None) -> str:
    """``seconds`` for people: ``"–"`` when unknown, ``"0.4 s"``, ``"42 s"``, ``"12 min"``, ``"3.4 h"``.

    Under a minute in seconds (one decimal under 10 s), under an hour in whole minutes,
    otherwise in hours with one decimal.
    """
    if seconds is None:
        return "–"
    s = float(seconds)
    a = abs(s)
    if a < 10:
        return f"{s:.1f} s"
    if round(a) < MINUTE:
        return f"{s:.0f} s"
    if round(a / MINUTE) < MINUTE:
        return f"{s / MINUTE:.0f} min"
    return f"{s / HOUR:.1f} h"
