"""Package tags: an immutable, versioned build of a physics package, unpacked on disk.

``build_tag`` installs the package (without its dependencies) into ``TAGS/<tag>`` the way
``pip install --target`` lays it out, records the workflow introspection in ``tag.json``
(introspected in a child process, so that tags never mix in one interpreter) and makes the
folder read-only. Several tags coexist; a run loads exactly one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import itertools
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

TAG_FILE = "tag.json"


class TagError(RuntimeError):
    """A tag that cannot be built or found."""


def _tree_digest(root: Path) -> str:
    """sha256 over the relative path and bytes of every file of a tag folder, except
    ``__pycache__`` and ``tag.json`` (written after the digest, which it records)."""
    h = hashlib.sha256()
    for path in sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.relative_to(root) != Path(TAG_FILE)
    ):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


tree_digest = _tree_digest


def introspect(directory: str | os.PathLike) -> dict[str, Any]:
    """Workflow introspection of a package directory, computed in a child process."""
    proc = subprocess.run(
        [sys.executable, "-m", "hyperloop", "workflows", "--package", str(directory), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise TagError(
            f"cannot introspect {directory}: {proc.stderr.strip() or proc.stdout.strip()}"
        )
    return json.loads(proc.stdout)


def build_tag(
    source: str | os.PathLike,
    tag: str,
    tags_dir: str | os.PathLike,
    *,
    pull_requests: list[str] | None = None,
    git_ref: str | None = None,
    next_free: bool = False,
) -> dict[str, Any]:
    """Build ``source`` into ``tags_dir/tag``; refuses to overwrite an existing tag.

    With ``git_ref`` the package is built as it was at that commit of its repository
    (how daily tags are cut from a release branch), not from the working tree.
    With ``next_free`` an existing ``tag`` is not an error: the build takes the first free
    name of ``tag``, ``tag.2``, ``tag.3``, ... (two releases of one day never collide, even
    when they finish at the same moment: the final rename into place decides).
    """
    source = Path(source).resolve()
    if git_ref:
        with tempfile.TemporaryDirectory() as checkout:
            return build_tag(
                _git_export(source, git_ref, Path(checkout)),
                tag,
                tags_dir,
                pull_requests=pull_requests,
                next_free=next_free,
            )
    if not (source / "pyproject.toml").is_file():
        raise TagError(f"{source} is not a Python package (no pyproject.toml)")
    if not tag or any(c in tag for c in "/\\ ") or tag.startswith("."):
        raise TagError(f"invalid tag name {tag!r} (no spaces or slashes)")
    tags_dir = Path(tags_dir).resolve()
    dest = tags_dir / tag
    if dest.exists() and not next_free:
        raise TagError(f"tag {tag} already exists at {dest}; tags are immutable")
    tags_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{tag}-", dir=tags_dir))
    try:
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(tmp)]
        if importlib.util.find_spec("setuptools") is not None:
            cmd.append("--no-build-isolation")
        # build from a copy so that build artefacts never land in the source tree
        with tempfile.TemporaryDirectory() as build_src:
            shutil.copytree(
                source,
                build_src,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"),
            )
            proc = subprocess.run([*cmd, build_src], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise TagError(f"building {source} failed:\n{proc.stderr.strip()}")
        described = introspect(tmp)
        info = {
            "tag": tag,
            "package": {k: v for k, v in described["package"].items() if k != "location"},
            "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "pull_requests": list(pull_requests or []),
            "digest": _tree_digest(tmp),
            "workflows": described["workflows"],
        }
        names = (tag if n == 1 else f"{tag}.{n}" for n in itertools.count(1))
        for name in names if next_free else (tag,):
            dest = tags_dir / name
            if dest.exists():
                continue
            info["tag"] = name
            (tmp / TAG_FILE).write_text(json.dumps(info, indent=2) + "\n")
            try:
                tmp.rename(dest)  # refused when another build took the name meanwhile
                break
            except OSError:
                if not dest.exists():
                    raise
        else:
            raise TagError(f"tag {tag} already exists at {tags_dir / tag}; tags are immutable")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _make_read_only(dest)
    info["location"] = str(dest)
    return info


def _git_export(source: Path, ref: str, dest: Path) -> Path:
    """Export ``source`` (a folder of a git repository) as of ``ref`` into ``dest``."""

    def git(*args: str, **kw: Any) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["git", "-C", str(source), *args], capture_output=True, check=False, **kw
        )

    top = git("rev-parse", "--show-toplevel", text=True)
    if top.returncode != 0:
        raise TagError(f"{source} is not inside a git repository; cannot build ref {ref}")
    root = Path(top.stdout.strip()).resolve()
    rel = source.relative_to(root)
    archive = subprocess.run(
        ["git", "-C", str(root), "archive", "--format=tar", ref, "--", str(rel)],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        raise TagError(f"cannot export {rel} at {ref}: {archive.stderr.decode().strip()}")
    import io
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(dest, filter="data")
    return dest / rel


def _make_read_only(root: Path) -> None:
    """Make a built tag immutable and readable by every account (workers may run as another).

    Folders become ``r-xr-xr-x``, files ``r--r--r--`` (``r-xr-xr-x`` if they were executable):
    ``mkdtemp`` creates the tag folder owner-only, which workers under another account
    could not read.
    """
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        executable = path.is_dir() or path.stat().st_mode & stat.S_IXUSR
        path.chmod(0o555 if executable else 0o444)


def read_tag(directory: str | os.PathLike) -> dict[str, Any]:
    path = Path(directory) / TAG_FILE
    if not path.is_file():
        raise TagError(f"{directory} is not a package tag (no {TAG_FILE})")
    info = json.loads(path.read_text())
    info["location"] = str(Path(directory).resolve())
    return info


def remove_tag(directory: str | os.PathLike) -> None:
    """Delete a tag folder (restores write bits first)."""
    root = Path(directory)
    for path in [root, *root.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    shutil.rmtree(root)
