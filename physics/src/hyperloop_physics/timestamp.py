"""timestamp: the time of every bunch crossing, as O2's ``o2-analysis-timestamp``.

AO2Ds store bunch crossings by run number and global BC; the ``Timestamps`` table (ms since
the epoch, row-aligned with ``BCs``) follows from the run's orbit reset time in the
conditions: orbit reset + global BC x 24.95 ns. Tasks that look up time-dependent conditions
(``BCsWithTimestamps`` in O2) join it to ``BCs``.
"""

from __future__ import annotations

import numpy as np

from hyperloop.analysis.conditions import bc_timestamp_ms
from hyperloop.analysis.schema import default_registry
from hyperloop.analysis.task import Task, process

TIMESTAMPS = default_registry().get("Timestamps")


class Timestamp(Task):
    """Produces Timestamps: the time (ms since the epoch) of each bunch crossing, from the
    orbit reset time of its run (conditions) and its global BC, as O2's timestamp task."""

    name = "timestamp"
    produces = (TIMESTAMPS,)
    pipeline_safe = True

    @process(BCs=["fRunNumber", "fGlobalBC"])
    def process(self, df) -> None:
        bcs = df.table("BCs")
        runs, gbc = bcs["fRunNumber"], bcs["fGlobalBC"]
        out = np.zeros(len(gbc), dtype=np.uint64)
        for run in np.unique(runs):
            rows = runs == run
            out[rows] = bc_timestamp_ms(int(run), gbc[rows])
        df.produce(TIMESTAMPS, fTimestamp=out)
