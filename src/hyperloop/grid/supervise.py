"""Attempt supervisor: runs the job command and takes its whole process group down with it.

``execute_attempt`` starts ``python -m hyperloop.grid.supervise -- CMD...`` in a new
session with a parent-death signal (SIGTERM). If the worker dies, the supervisor gets
SIGTERM and SIGKILLs its process group: the job and every process the job started (device
processes of multi-core runs), so a lost attempt leaves nothing running. Exit status: the
command's, or 128 + N when it died of signal N. Only the standard library is imported.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        print("usage: python -m hyperloop.grid.supervise -- COMMAND...", file=sys.stderr)
        return 2

    def stop(signum: int, _frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.killpg(0, signal.SIGKILL)  # the job, its children, and this supervisor

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    if os.getppid() == 1:  # the worker died before the death signal was armed
        return 128 + signal.SIGTERM
    proc = subprocess.Popen(argv)
    while True:
        try:
            code = proc.wait()
            break
        except InterruptedError:
            continue
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
