"""Guided tours of the main pages (as the original Hyperloop has): per page a few steps,
each pointing at a part of the page (a CSS selector) with a title and a text. The page's
script (``static/js/tour.js``) offers the tour, walks through it (next / exit) and says
"don't show again" through the API, which remembers it per user (``core.preferences``).
Steps whose part is not on the page (an empty list, a read-only view) are skipped."""

from __future__ import annotations

import re
from typing import Any

from hyperloop.core import preferences
from hyperloop.db.models import User

Step = dict[str, str]

#: page key -> its steps (``selector``, ``title``, ``text``); the keys are TOUR_PAGES
TOURS: dict[str, list[Step]] = {
    "my-analyses": [
        {
            "selector": "#analyses-list details.analysis > summary",
            "title": "Your analyses",
            "text": "Each analysis you belong to is a block: click its title to collapse or "
            "expand it, reorder with ▲▼ or drag the title onto another analysis. Your "
            "layout is saved. Service analyses are shown read-only on top.",
        },
        {
            "selector": "#analyses-list table.grid",
            "title": "Wagons × datasets",
            "text": "One row per wagon, one column per dataset. Click ❌ to enable a wagon on "
            "a dataset (a test starts), ✅ to disable it; hover ✅ to see the tag, time "
            "and user. The icon next to it opens the test.",
        },
        {
            "selector": "#analyses-list .analysis-tools",
            "title": "Datasets and settings",
            "text": "Add datasets to the analysis, set who gets e-mails, read the "
            "analysis's notifications, or add a wagon.",
        },
        {
            "selector": "header .bell",
            "title": "Notifications",
            "text": "Failed tests, disabled wagons and dataset changes arrive here.",
        },
    ],
    "wagon": [
        {
            "selector": "#wagon-editor .tabs",
            "title": "The wagon's tabs",
            "text": "Configuration, settings (workflow, dependencies, package tag), derived "
            "data and test statistics.",
        },
        {
            "selector": "#panel-configuration",
            "title": "Configuration",
            "text": "Every configurable of the workflow with its default: edit values of the "
            "base and of subwagons, or upload an O2 JSON configuration.",
        },
        {
            "selector": "#settings-form",
            "title": "Settings",
            "text": "Name, workflow and dependencies; tables the workflow reads that no "
            "dependency provides are listed here before a test fails.",
        },
    ],
    "train-submission": [
        {
            "selector": "#ds-select",
            "title": "Dataset",
            "text": "Trains are composed per dataset; the page opens on the dataset of the "
            "train you composed last.",
        },
        {
            "selector": "#submission-wagons",
            "title": "Enabled wagons",
            "text": "Wagons whose test is done or warning. Pick one: the others are marked "
            "compatible or not, with the reason.",
        },
        {
            "selector": "#compose-form",
            "title": "Compose",
            "text": "Target, type, slow train and automatic submission, then Compose: the "
            "train test starts.",
        },
        {
            "selector": "#composed-trains",
            "title": "Composed trains",
            "text": "Trains waiting for submission on this dataset, with their test status.",
        },
    ],
    "train-run": [
        {
            "selector": ".train-head",
            "title": "The train's state",
            "text": "Its state and job progress, updated while it runs.",
        },
        {
            "selector": "nav.tabs",
            "title": "Tabs",
            "text": "Overview, jobs (errors grouped), merging, outputs (histograms drawn in "
            "the page), test results and derived data. Tabs open in place.",
        },
    ],
    "datasets": [
        {
            "selector": "form.filters",
            "title": "Find a dataset",
            "text": "Filter by name, data type, collision system, period and state.",
        },
        {
            "selector": "main table",
            "title": "Datasets",
            "text": "Open a dataset to see its productions, files and limits, and add it to "
            "one of your analyses.",
        },
    ],
    "dashboard": [
        {
            "selector": "#now-h",
            "title": "Now",
            "text": "Wagons waiting for a train, running tests and trains, jobs: each "
            "number links to the list behind it.",
        },
        {
            "selector": "#interval",
            "title": "Interval",
            "text": "Choose the period of the statistics and graphs below.",
        },
        {
            "selector": "#g-jobs",
            "title": "Graphs",
            "text": "Per-day graphs: drag across one to zoom, double-click to reset.",
        },
    ],
}

_PAGES = {
    "/": "my-analyses",
    "/wagon/{id}": "wagon",
    "/train-submission": "train-submission",
    "/train-run/{id}": "train-run",
    "/datasets": "datasets",
    "/dashboard": "dashboard",
}


def tour_page(path: str) -> str | None:
    """The tour of a page path (``/wagon/12`` -> ``wagon``), None when it has none."""
    path = path.split("?", 1)[0].rstrip("/") or "/"
    return _PAGES.get(re.sub(r"/\d+(?=/|$)", "/{id}", path))


def tour_data(user: User, page: str) -> dict[str, Any]:
    """The tour of ``page`` and whether the user said "don't show again" for it."""
    return {
        "page": page,
        "steps": TOURS[page],
        "dismissed": page in preferences.tours_dismissed(user),
    }
