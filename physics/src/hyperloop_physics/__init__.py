"""hyperloop-physics: the analysis workflows Hyperloop trains run (services, spectra,
correlations, strangeness, ultra-peripheral rho0, skims)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hyperloop-physics")
except PackageNotFoundError:  # imported from a source tree that is not installed
    __version__ = "unknown"
