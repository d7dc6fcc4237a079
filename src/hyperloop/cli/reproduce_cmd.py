"""``hyperloop reproduce URL``: re-run a wagon test, train test or job of a Hyperloop server
on this machine (SPEC §7).

Downloads the ``full_config.json`` and input list through the JSON API with the user's
token, fetches inputs that are not readable here, then runs ``hyperloop run-train`` on them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer

TOKEN_ENV = "HYPERLOOP_TOKEN"
PAGES = {"wagon-test": "wagon-tests", "train-test": "train-tests", "job": "jobs"}
_PATH = re.compile(r"^(?P<prefix>.*?)/(?P<page>wagon-test|train-test|job)/(?P<id>\d+)/?$")
ACCEPTED = ", ".join(f"/{p}/ID" for p in PAGES)


class ReproduceError(RuntimeError):
    """A URL, token or server answer that prevents reproducing (the message says why)."""


@dataclass(frozen=True)
class Target:
    """A parsed page URL: server base URL (with any path prefix), page kind and id."""

    base: str
    page: str
    ident: int

    @property
    def api(self) -> str:
        return f"{self.base}/api/{PAGES[self.page]}/{self.ident}/reproduce"

    @property
    def label(self) -> str:
        return f"{self.page.replace('-', ' ')} {self.ident}"


def parse_url(url: str) -> Target:
    """Split a page URL such as ``https://host/job/12`` into base, page and id."""
    parts = urlsplit(url.strip())
    match = _PATH.match(parts.path)
    if parts.scheme not in ("http", "https") or not parts.netloc or match is None:
        raise ReproduceError(
            f"cannot reproduce {url!r}: expected the URL of a Hyperloop page "
            f"(http[s]://HOST{ACCEPTED.replace(', ', ' or http[s]://HOST')})"
        )
    base = f"{parts.scheme}://{parts.netloc}{match.group('prefix')}".rstrip("/")
    return Target(base, match.group("page"), int(match.group("id")))


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/hyperloop`` (default ``~/.config/hyperloop``)."""
    root = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(root) / "hyperloop"


def find_token(option: str | None) -> tuple[str | None, str]:
    """The API token and where it came from: ``--token``, $HYPERLOOP_TOKEN, or the file
    ``~/.config/hyperloop/token``."""
    if option:
        return option.strip(), "--token"
    if os.environ.get(TOKEN_ENV, "").strip():
        return os.environ[TOKEN_ENV].strip(), f"${TOKEN_ENV}"
    path = config_dir() / "token"
    if path.is_file():
        text = path.read_text().strip()
        if text:
            return text, str(path)
    return None, ""


def _explain(status: int, target: Target, body: Any, token_source: str) -> str:
    message = body.get("message") if isinstance(body, dict) else None
    message = message or (str(body)[:300] if body else "")
    if status == 401:
        how = (
            f"the token from {token_source} was refused"
            if token_source
            else f"no token given (use --token, ${TOKEN_ENV} or {config_dir() / 'token'})"
        )
        return (
            f"{target.base} needs a valid API token: {how}; create one on your profile page "
            f"({target.base}/profile) ({status}: {message})"
        )
    if status == 403:
        return f"you may not read {target.label} on {target.base} (403: {message})"
    if status == 404:
        return f"{target.label} does not exist on {target.base} (404: {message})"
    return f"{target.base} answered {status} for {target.label}: {message}"


def fetch(target: Target, token: str | None, token_source: str = "") -> dict[str, Any]:
    """GET the reproduce document of ``target``; ReproduceError names what went wrong."""
    import httpx

    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        response = httpx.get(target.api, headers=headers, timeout=60, follow_redirects=True)
    except httpx.HTTPError as exc:
        raise ReproduceError(f"cannot reach {target.base}: {exc}") from None
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if response.status_code != 200:
        raise ReproduceError(_explain(response.status_code, target, body, token_source))
    if not isinstance(body, dict) or "full_config" not in body:
        raise ReproduceError(f"{target.api} did not answer with a reproduce document")
    return body


def local_inputs(
    doc: dict[str, Any], target: Target, token: str | None, folder: Path
) -> tuple[list[str], int]:
    """Input paths usable here: readable local files and URLs as they are; server-local
    catalogue files downloaded into ``folder`` (once). Returns (paths, downloaded)."""
    import httpx

    out, downloaded = [], 0
    downloads = doc.get("input_downloads") or {}
    for path in doc["inputs"]:
        if "://" in path or Path(path).is_file():
            out.append(path)
            continue
        api = downloads.get(path)
        if not api:
            raise ReproduceError(
                f"input {path} is not readable here and the server offers no download for it"
            )
        dest = folder / f"{len(out):04d}_{Path(path).name}"
        if not dest.is_file():
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            tmp = dest.with_suffix(dest.suffix + ".part")
            with httpx.stream("GET", target.base + api, headers=headers, timeout=300) as r:
                if r.status_code != 200:
                    raise ReproduceError(f"downloading {path}: {r.status_code} {r.read()[:200]!r}")
                with tmp.open("wb") as fh:
                    for chunk in r.iter_bytes():
                        fh.write(chunk)
            tmp.replace(dest)
            downloaded += 1
        out.append(str(dest))
    return out, downloaded


def package_option(doc: dict[str, Any], package: Path | None) -> Path | None:
    """--package given, else the tag folder if it exists here (same machine or shared
    filesystem), else $HYPERLOOP_TAGS/<tag> or the installed package (run-train decides)."""
    if package is not None:
        return package
    artifact = doc.get("package_artifact")
    if artifact and Path(artifact).is_dir():
        return Path(artifact)
    return None


def register(app: typer.Typer) -> None:
    """Add the ``reproduce`` command."""

    @app.command("reproduce")
    def reproduce(
        url: Annotated[str, typer.Argument(help="URL of a wagon test, train test or job page")],
        token: Annotated[
            str | None,
            typer.Option(help=f"API token (default: ${TOKEN_ENV} or ~/.config/hyperloop/token)"),
        ] = None,
        out: Annotated[
            Path | None, typer.Option("--out", "-o", help="folder (default: reproduce-<page>-<id>)")
        ] = None,
        cores: Annotated[int, typer.Option(help="cores (default: as in the configuration)")] = 0,
        package: Annotated[
            Path | None, typer.Option(help="package tag directory (default: the server's tag)")
        ] = None,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="download and check; print the plan only")
        ] = False,
    ) -> None:
        """Download a test's or job's full_config.json and inputs and run it here."""
        try:
            target = parse_url(url)
            tok, source = find_token(token)
            doc = fetch(target, tok, source)
            folder = out or Path(f"reproduce-{target.page}-{target.ident}")
            folder.mkdir(parents=True, exist_ok=True)
            inputs, downloaded = (
                ([], 0) if dry_run else local_inputs(doc, target, tok, folder / "inputs")
            )
        except ReproduceError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        config_path = folder / "full_config.json"
        config_path.write_text(json.dumps(doc["full_config"], indent=2) + "\n")
        input_path = folder / "input_data.txt"
        input_path.write_text("".join(f"{p}\n" for p in (inputs or doc["inputs"])))
        typer.echo(
            f"{target.label} on {target.base}: package tag {doc['package_tag']}, "
            f"{len(doc['inputs'])} input files ({downloaded} downloaded), from {doc['source']}"
        )
        cmd = [sys.executable, "-m", "hyperloop", "run-train", str(config_path)]
        cmd += ["--input", str(input_path), "--out", str(folder / "output")]
        pkg = package_option(doc, package)
        if pkg is not None:
            cmd += ["--package", str(pkg)]
        if cores:
            cmd += ["--cores", str(cores)]
        if dry_run:
            cmd.append("--dry-run")
        typer.echo("running: hyperloop " + " ".join(cmd[3:]))
        code = subprocess.run(cmd, check=False).returncode
        if dry_run:
            raise typer.Exit(code)
        results = folder / "output" / "AnalysisResults.root"
        typer.echo(f"\nOutputs in {folder / 'output'}:")
        for name in (
            "AnalysisResults.root",
            "AO2D.root",
            "performanceMetrics.json",
            "metrics_summary.json",
            "stdout.log",
            "stderr.log",
        ):
            if (folder / "output" / name).exists():
                typer.echo(f"  {folder / 'output' / name}")
        if doc.get("results"):
            typer.echo(f"The server's output of {target.label}: {doc['results']}")
            if results.is_file() and Path(doc["results"]).is_file():
                typer.echo(_compare_summary(Path(doc["results"]), results))
        raise typer.Exit(code)


def _compare_summary(original: Path, reproduced: Path) -> str:
    """One line: how many histograms are identical / compatible / different."""
    from hyperloop.analysis.compare import compare_files

    try:
        result = compare_files(original, reproduced)
    except (OSError, ValueError) as exc:
        return f"(could not compare with the original: {exc})"
    counts: dict[str, int] = {}
    for r in result:
        counts[r.verdict] = counts.get(r.verdict, 0) + 1
    text = ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
    return f"compared with the original: {text} histograms"
