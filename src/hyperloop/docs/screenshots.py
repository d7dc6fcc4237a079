"""Screenshots of the user guide: which ones the pages expect and where they come from.

The browser tests save screenshots into ``ci-artifacts/screenshots/``; the guide shows them
from ``docs/images/``. :func:`copy_screenshots` brings the expected ones over (run by
``hyperloop docs screenshots`` and by ``hyperloop docs build``); an image that was never
captured is shown in the built page as a visible note, never silently dropped.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from hyperloop.docs.paths import repo_root


@dataclass(frozen=True)
class Screenshot:
    """One expected screenshot: file stem and what it must show."""

    name: str
    shows: str


EXPECTED: tuple[Screenshot, ...] = (
    Screenshot("analyses-my", "My Analyses: wagons x datasets grid with test status icons"),
    Screenshot("wagon-edit", "Wagon edit, configuration tab (base and subwagons)"),
    Screenshot("wagon-upload-diff", "JSON upload: per-value overview and diff before saving"),
    Screenshot("wagon-test", "Wagon test result: general tab, metrics per device, warnings"),
    Screenshot("dashboard", "Dashboard: waiting wagons, running tests and trains"),
    Screenshot("journey-3-compose", "Train Submission: composing a train from compatible wagons"),
    Screenshot("train-runs", "Train Runs list with filters"),
    Screenshot("train-run-jobs", "Train run result, submitted jobs tab with error groups"),
    Screenshot("train-run-outputs", "Train run result, merged output tab"),
    Screenshot("train-compare", "Comparison of two train runs"),
    Screenshot("datasets", "Datasets list"),
    Screenshot("dataset-view", "One dataset: productions, runs, mergelists, limits"),
    Screenshot("runlists", "DPG runlists"),
    Screenshot("derived-data", "Derived data outputs grouped by dataset and analysis"),
    Screenshot("staging-status", "Staging transfers with progress"),
    Screenshot("admin", "Admin page: users, roles, targets"),
    Screenshot("profile", "Profile page: API tokens"),
    Screenshot("notifications", "Notifications of the current user"),
    Screenshot("performance-graphs", "Performance graphs of an uploaded metrics file"),
    Screenshot("outputs-1280x800", "Output browser with a histogram drawn by JSROOT"),
    Screenshot("speedscope-profile", "A test's profile in speedscope"),
)

SOURCE_DIR = Path("ci-artifacts") / "screenshots"
IMAGES_DIR = Path("docs") / "images"


def copy_screenshots(
    source: Path | None = None, dest: Path | None = None
) -> tuple[list[str], list[str]]:
    """Copy expected screenshots present in ``source`` into ``dest``.

    Returns (copied names, names still missing in ``dest``).
    """
    root = repo_root()
    source = source or root / SOURCE_DIR
    dest = dest or root / IMAGES_DIR
    dest.mkdir(parents=True, exist_ok=True)
    copied, missing = [], []
    for shot in EXPECTED:
        src = source / f"{shot.name}.png"
        if src.is_file():
            shutil.copyfile(src, dest / src.name)
            copied.append(shot.name)
        if not (dest / f"{shot.name}.png").is_file():
            missing.append(shot.name)
    return copied, missing
