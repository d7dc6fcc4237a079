"""A train driver process (the scheduler's role), which a test SIGKILLs and restarts.

python tests/grid/driver.py '{"config": ..., "catalogue": ..., "out": ..., ...}'
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from hyperloop.grid.engine import Engine
from hyperloop.grid.pipeline import run_train_on_engine
from hyperloop.grid.targets import Target


def main() -> None:
    args = json.loads(sys.argv[1])
    catalogue = {int(run): [tuple(f) for f in files] for run, files in args["catalogue"].items()}
    targets = {"single-core": Target("single-core", 1, 2 * 1024**3, 300)}
    with Engine.local(n_workers=2) as engine:
        result = run_train_on_engine(
            args["config"],
            catalogue,
            engine,
            targets,
            args["out"],
            target="single-core",
            train_id="driven",
            package_dir=args["package"],
            max_files_per_job=2,
            resume=args["resume"],
        )
    summary = {
        "state": result.state,
        "final": result.final.outputs.get("AnalysisResults") if result.final else None,
        "attempts": [a.to_dict() for a in result.attempts],
    }
    Path(args["summary"]).write_text(json.dumps(summary))


if __name__ == "__main__":
    main()
