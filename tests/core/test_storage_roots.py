"""Storage roots: which dataset file paths are accepted, and in which normalised form."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hyperloop.core.storage_roots import StorageRootError, StorageRoots

EOS = "root://EOS.example.org//eos/alice/"


def test_paths_are_normalised_and_must_lie_strictly_under_a_root(tmp_path: Path):
    (tmp_path / "store" / "544013").mkdir(parents=True)
    roots = StorageRoots.parse([tmp_path / "store", EOS])
    inside = f"{tmp_path}/store/./544013//x/../AO2D.root"
    assert roots.check(inside) == f"{tmp_path}/store/544013/AO2D.root"
    assert (
        roots.check(f"{EOS}a/544013/AO2D.root")
        == "root://eos.example.org//eos/alice/a/544013/AO2D.root"
    )
    for bad in (
        f"{tmp_path}/store",  # the root itself is not a file under it
        f"{tmp_path}/store/../store-b/544013/AO2D.root",
        f"{tmp_path}/storefront/544013/AO2D.root",
        "store/544013/AO2D.root",
        f"{EOS}../x/544013/AO2D.root",
        f"{EOS}%2E%2E/x/544013/AO2D.root",
        "root://eos.example.org//eos/alicex/544013/AO2D.root",
        f"{tmp_path}/store/544013/AO2D\n.root",
    ):
        with pytest.raises(StorageRootError):
            roots.check(bad)


def test_symlinks_are_judged_by_where_they_lead(tmp_path: Path):
    real = tmp_path / "mnt" / "data"
    (real / "544013").mkdir(parents=True)
    (real / "544013" / "AO2D.root").write_bytes(b"root")
    os.symlink(real, tmp_path / "data")  # the root is configured through a symlink
    os.symlink("/etc/passwd", real / "544013" / "AO2D_out.root")
    roots = StorageRoots.parse([tmp_path / "data"])
    assert roots.check(f"{tmp_path}/data/544013/AO2D.root") == f"{tmp_path}/data/544013/AO2D.root"
    with pytest.raises(StorageRootError, match="not under a storage root"):
        roots.check(f"{tmp_path}/data/544013/AO2D_out.root")


@pytest.mark.parametrize("entry", ["relative/folder", "https://", "", "ftp:///x"])
def test_a_bad_setting_is_refused(entry: str):
    with pytest.raises(StorageRootError):
        StorageRoots.parse([entry])
