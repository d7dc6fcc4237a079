"""The web servers' read-through mirror of a remote storage (``grid.store.Mirror``): a
storage folder brought to a local folder, only what is new or changed fetched again, big
ROOT files fetched when first opened, nothing placed outside the mirror, and a storage that
cannot be reached named in one error. The storage here is fsspec's in-memory filesystem
(a URL like any remote one); the S3 server is exercised end to end in
``tests/e2e/test_s3_browse.py``."""

from __future__ import annotations

import uuid
from pathlib import Path

import fsspec
import pytest
from tests.served import free_port

from hyperloop.grid import store


@pytest.fixture
def remote():
    url = f"memory://mirror-{uuid.uuid4().hex}/work"
    fs, root = fsspec.core.url_to_fs(url)
    yield url, fs, root
    fs.rm(root, recursive=True)


def _mirror(url: str, tmp_path: Path, **kw) -> store.Mirror:
    return store.Mirror.under(url, tmp_path / "cache", listing_s=0, **kw)


def test_a_folder_is_fetched_then_only_what_changed(remote, tmp_path: Path):
    url, fs, root = remote
    job = f"{root}/trains/5/jobs/job-1/attempt-1"
    fs.pipe_file(f"{job}/console.log", b"line 1\n")
    fs.pipe_file(f"{job}/record.json", b'{"state": "done"}')
    fs.pipe_file(f"{root}/trains/6/console.log", b"another train\n")
    mirror = _mirror(url, tmp_path)

    folder = mirror.sync("trains/5")
    assert folder == mirror.local / "trains" / "5"
    assert mirror.local.is_relative_to(tmp_path / "cache" / "storage-mirror")
    assert sorted(mirror.fetched) == [
        "trains/5/jobs/job-1/attempt-1/console.log",
        "trains/5/jobs/job-1/attempt-1/record.json",
    ]
    assert (folder / "jobs/job-1/attempt-1/console.log").read_bytes() == b"line 1\n"
    assert not (mirror.local / "trains" / "6").exists()  # only the folder asked for

    mirror.fetched.clear()
    mirror.sync("trains/5")
    assert mirror.fetched == []  # nothing changed: nothing fetched

    fs.pipe_file(f"{job}/console.log", b"line 1\nline 2\n")
    fs.pipe_file(f"{root}/trains/5/jobs/job-1/attempt-2/console.log", b"second\n")
    mirror.sync("trains/5")
    assert sorted(mirror.fetched) == [
        "trains/5/jobs/job-1/attempt-1/console.log",
        "trains/5/jobs/job-1/attempt-2/console.log",
    ]
    assert (folder / "jobs/job-1/attempt-1/console.log").read_bytes() == b"line 1\nline 2\n"

    fs.rm_file(f"{job}/record.json")  # gone from the storage: gone from the mirror
    mirror.sync("trains/5")
    assert not (folder / "jobs/job-1/attempt-1/record.json").exists()


def test_a_listing_is_trusted_briefly(remote, tmp_path: Path):
    url, fs, root = remote
    fs.pipe_file(f"{root}/trains/7/a.txt", b"a")
    store.forget_listings()
    mirror = store.Mirror.under(url, tmp_path / "cache", listing_s=3600)
    mirror.sync("trains/7")
    fs.pipe_file(f"{root}/trains/7/b.txt", b"b")
    mirror.sync("trains/7")
    assert not (mirror.local / "trains/7/b.txt").exists()  # the listing of a moment ago
    store.forget_listings()
    mirror.sync("trains/7")
    assert (mirror.local / "trains/7/b.txt").read_bytes() == b"b"


def test_a_big_root_file_is_fetched_when_first_opened(remote, tmp_path: Path):
    url, fs, root = remote
    data = bytes(range(256)) * 64  # 16 kB
    fs.pipe_file(f"{root}/trains/8/merged/final/AnalysisResults.root", data)
    fs.pipe_file(f"{root}/trains/8/merged/final/small.root", b"tiny")
    mirror = _mirror(url, tmp_path, lazy_bytes=1024)
    mirror.sync("trains/8")
    big = mirror.local / "trains/8/merged/final/AnalysisResults.root"
    assert mirror.fetched == ["trains/8/merged/final/small.root"]
    assert big.stat().st_size == len(data)  # listed with its size, content not fetched yet
    mirror.ensure(big)
    assert big.read_bytes() == data
    assert mirror.fetched[-1] == "trains/8/merged/final/AnalysisResults.root"
    mirror.fetched.clear()
    mirror.ensure(big)
    mirror.sync("trains/8")
    assert mirror.fetched == []  # once fetched, kept until it changes


def test_nothing_is_placed_outside_the_mirror(remote, tmp_path: Path):
    url, fs, root = remote
    fs.pipe_file(f"{root}/trains/9/a.txt", b"a")
    mirror = _mirror(url, tmp_path)
    for scope in ("../x", "trains/../../x", "/etc", "", "trains/9/../../.."):
        assert mirror.sync(scope) is None, scope
    assert mirror.local_of(f"{url}/trains/9/a.txt") == mirror.local / "trains/9/a.txt"
    assert mirror.local_of(f"{url}/trains/9/../../../x") is None
    assert mirror.local_of("memory://elsewhere/trains/9/a.txt") is None
    assert mirror.local_of(f"{url}-other/trains/9/a.txt") is None
    mirror.ensure(tmp_path / "outside.root")  # outside the mirror: nothing fetched
    assert mirror.fetched == []
    # what the mirror knows of each file is kept beside the served folder, not in it
    mirror.sync("trains/9")
    assert mirror.index_dir.parent == mirror.local.parent
    assert sorted(p.name for p in mirror.local.iterdir()) == ["trains"]


def test_the_way_to_the_owners_folders_is_listed(remote, tmp_path: Path):
    url, fs, root = remote
    fs.pipe_file(f"{root}/trains/3/a.txt", b"a")
    fs.pipe_file(f"{root}/tests/train-test-3/sample/x.txt", b"x")
    mirror = _mirror(url, tmp_path)
    assert mirror.children("") == ["tests", "trains"]
    assert mirror.children("trains") == ["3"]
    assert not (mirror.local / "trains/3/a.txt").exists()  # folders only


def test_a_storage_that_cannot_be_reached_is_named(tmp_path: Path):
    url = f"ftp://127.0.0.1:{free_port()}/work"  # nothing listens there
    mirror = _mirror(url, tmp_path)
    with pytest.raises(store.StorageUnreachable, match=f"storage {url} cannot be read"):
        mirror.sync("trains/1")
    with pytest.raises(store.StorageUnreachable, match=f"storage {url}"):
        mirror.children("trains")


def test_a_part_of_a_folder_is_synced_alone(remote, tmp_path: Path):
    url, fs, root = remote
    for job in (1, 2):
        fs.pipe_file(f"{root}/trains/4/jobs/job-{job}/attempt-1/console.log", b"log %d" % job)
    fs.pipe_file(f"{root}/trains/4/merged/final/a.txt", b"merged")
    mirror = _mirror(url, tmp_path)
    mirror.sync("trains/4/jobs/job-1")  # the jobs tab of job 1: only its folder
    assert mirror.fetched == ["trains/4/jobs/job-1/attempt-1/console.log"]
    mirror.fetched.clear()
    mirror.sync("trains/4", recursive=False)  # the output browser on the train's folder
    assert mirror.fetched == []
    assert sorted(p.name for p in (mirror.local / "trains/4").iterdir()) == ["jobs", "merged"]
    mirror.sync("trains/4")  # everything: what job 1's sync fetched is not fetched again
    assert sorted(mirror.fetched) == [
        "trains/4/jobs/job-2/attempt-1/console.log",
        "trains/4/merged/final/a.txt",
    ]
    fs.rm_file(f"{root}/trains/4/merged/final/a.txt")
    mirror.sync("trains/4/jobs/job-2")  # a part's sync removes nothing outside it
    assert (mirror.local / "trains/4/merged/final/a.txt").exists()
    mirror.sync("trains/4/merged")
    assert not (mirror.local / "trains/4/merged/final/a.txt").exists()


def test_an_s3_storage_that_does_not_answer_is_named(tmp_path: Path, monkeypatch):
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    monkeypatch.setitem(
        fsspec.config.conf, "s3", {"endpoint_url": endpoint, "key": "k", "secret": "s"}
    )
    mirror = _mirror("s3://hyperloop-nowhere/work", tmp_path)
    with pytest.raises(store.StorageUnreachable) as err:
        mirror.sync("trains/1/merged")
    assert str(err.value).startswith("storage s3://hyperloop-nowhere/work cannot be read:")
    assert endpoint in str(err.value)
