"""What a user can change on a wagon (``FIELDS``) and its JSON snapshot (``wagon_state``):
what the history stores and compares, and what a wagon test runs. Below every wagon
service, so that wagons, enabling and trains all use the one definition.
"""

from __future__ import annotations

import copy
from typing import Any

from hyperloop.db.models import Wagon

#: fields a snapshot holds (and an edit may change, besides ``dependencies``)
FIELDS = (
    "name",
    "workflow",
    "tag_id",
    "base_config",
    "subwagons",
    "derived_tables",
    "slim_ready",
    "max_df_size",
    "max_derived_file_size",
    "added_parameters",
    "pull_request_id",
)
#: fields a snapshot holds only when set, so that older snapshots stay comparable
_OPTIONAL = ("added_parameters", "pull_request_id")


def wagon_state(wagon: Wagon) -> dict[str, Any]:
    """A JSON snapshot of everything a user can change (what history stores and compares)."""
    state = {f: copy.deepcopy(getattr(wagon, f)) for f in FIELDS if f not in _OPTIONAL}
    for f in _OPTIONAL:
        if getattr(wagon, f):
            state[f] = copy.deepcopy(getattr(wagon, f))
    state["analysis_id"] = wagon.analysis_id
    state["dependencies"] = sorted(d.id for d in wagon.dependencies)
    return state
