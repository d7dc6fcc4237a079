"""Demo AO2D data: PYTHIA 8 pp events through a simple, documented detector response."""

from hyperloop.demo.detector import (
    TPC_SIGNAL_RESOLUTION,
    efficiency,
    expected_tpc_signal,
)
from hyperloop.demo.generator import FileEntry, Manifest, generate_dataset

__all__ = [
    "TPC_SIGNAL_RESOLUTION",
    "FileEntry",
    "Manifest",
    "efficiency",
    "expected_tpc_signal",
    "generate_dataset",
]
