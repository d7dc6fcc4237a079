"""Staging a dataset to a target's storage: progress, resume, unstage."""

from __future__ import annotations

from pathlib import Path

from hyperloop.grid.staging import stage, staged_path, unstage, verify


def _catalogue(root: Path) -> dict[int, list[tuple[str, int]]]:
    cat: dict[int, list[tuple[str, int]]] = {}
    for run in (10, 11):
        for i in range(2):
            p = root / f"{run}" / f"sub{i}" / "AO2D.root"  # same name in one run, as in real data
            p.parent.mkdir(parents=True)
            p.write_bytes(bytes([run + i]) * (3000 + 100 * i))
            cat.setdefault(run, []).append((str(p), p.stat().st_size))
    return cat


def test_stage_resumes_skips_complete_restarts_partial_and_unstages(tmp_path):
    cat = _catalogue(tmp_path / "src")
    target = str(tmp_path / "af")
    seen: list[tuple[str, str, int]] = []
    report = stage(
        cat,
        target,
        progress=lambda r: seen.append((r.source, r.state, r.bytes_done)),
        chunk_size=1024,
    )
    assert report.complete and report.count("done") == 4
    assert any(state == "copying" for _, state, _ in seen)  # progress within a transfer
    staged = report.catalogue()
    for run, files in cat.items():
        for (src, size), (dest, dsize) in zip(files, staged[run], strict=True):
            assert Path(dest).read_bytes() == Path(src).read_bytes() and size == dsize

    (src, _), (src2, _) = cat[10]
    Path(staged_path(target, 10, src)).write_bytes(b"trunc")  # wrong size: restarted
    Path(staged_path(target, 10, src2)).unlink()
    Path(staged_path(target, 10, src2) + ".part").write_bytes(b"half")  # interrupted copy
    again = stage(cat, target)
    states = {t.source: (t.state, t.restarted) for t in again.transfers}
    assert states[src] == ("done", True) and states[src2] == ("done", True)
    assert [s for s, _ in states.values()].count("skipped") == 2
    assert Path(staged_path(target, 10, src)).read_bytes() == Path(src).read_bytes()

    removed = unstage(cat, target)
    assert len(removed) == 4 and not list(Path(target).rglob("*.root"))


def test_stage_to_a_non_local_fsspec_target_and_failed_transfer_is_recorded(tmp_path):
    cat = _catalogue(tmp_path / "src")
    cat[12] = [(str(tmp_path / "missing.root"), 10)]
    report = stage(cat, "memory://hyperloop-af")
    assert report.count("done") == 4 and report.count("failed") == 1
    (bad,) = [t for t in report.transfers if t.state == "failed"]
    assert "missing.root" in bad.error
    assert not report.complete
    assert stage(cat, "memory://hyperloop-af").count("skipped") == 4
    unstage(cat, "memory://hyperloop-af")


def test_verify_checks_size_and_checksum_and_removes_a_copy_that_differs(tmp_path):
    cat = _catalogue(tmp_path / "src")
    target = str(tmp_path / "af")
    report = verify(stage(cat, target))
    assert all(t.verified and len(t.checksum) == 64 for t in report.transfers)
    (src, _), _ = cat[11]
    copy = Path(staged_path(target, 11, src))
    copy.write_bytes(b"\0" * copy.stat().st_size)  # same size, other bytes
    again = verify(stage(cat, target))  # skipped (right size), then caught by the checksum
    (bad,) = [t for t in again.transfers if t.state == "failed"]
    assert bad.source == src and "SHA-256" in bad.error and not copy.exists()
    assert [t.state for t in verify(stage(cat, target)).transfers].count("failed") == 0
