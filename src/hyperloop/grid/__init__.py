"""Jobs on a distributed engine: targets, splitting, attempts, Dask, merging, staging.

Plain data in (train spec as JSON dict, catalogue, targets), plain records out
(``AttemptRecord``, ``MergeRecord``, ``TrainRunResult``); the scheduler maps them to the
database. Modules are imported directly (``hyperloop.grid.engine`` etc.) so that the
attempt supervisor stays free of heavy imports.
"""
