"""Output browsing: listings, histograms of real and our files, THn projection, ranges,
and strict path containment."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.web_pages.sample_outputs import RUN, TRAIN

from hyperloop.analysis.results import read_results
from hyperloop.web.pages.files import PathRefused, contained_path
from hyperloop.web.pages.outputs import list_histograms, project_histogram


def test_real_results_file_lists_its_histograms(outputs_dir: Path):
    hists = list_histograms(outputs_dir / TRAIN / "AnalysisResults_o2.root")
    assert [h.id for h in hists][:3] == [
        "twoparcorcombexample/hZvertex",
        "twoparcorcombexample/hChargedEta",
        "twoparcorcombexample/hChargedPt",
    ]
    assert {h.classname for h in hists} == {"TH1F", "TH2F"}


def test_thnd_projection_sums_the_other_axes(outputs_dir: Path):
    path = outputs_dir / RUN / "AnalysisResults.root"
    assert [h.classname for h in list_histograms(path)] == ["TH1D", "TH2D", "THnT<double>"]
    one = project_histogram(path, "spectra/sparse/hPtEtaCent", [0])
    two = project_histogram(path, "spectra/sparse/hPtEtaCent", [2, 0])
    stored = read_results(path)["spectra/sparse"]["hPtEtaCent"].values()
    assert one["values"] == stored.sum(axis=(1, 2, 3)).tolist()  # in-range bins only
    assert 2900 < sum(one["values"]) <= one["entries"] == 3000
    assert len(two["values"]) == 5 and len(two["values"][0]) == 10  # [centrality][pT]
    assert [sum(col) for col in zip(*two["values"], strict=True)] == one["values"]
    assert two["all_axes"] == ["p_{T}", "#eta", "centrality", "charge"]


@pytest.mark.parametrize("bad", ["../x", "a/../../x", "/etc/passwd", "..", "a\\..\\..\\x"])
def test_traversal_is_refused(outputs_dir: Path, bad: str):
    with pytest.raises(PathRefused):
        contained_path(outputs_dir / TRAIN, bad)


def test_symlink_escape_is_refused(tmp_path: Path):
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "secret.txt").write_text("secret")
    (root / "link.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(PathRefused, match="outside the served folder"):
        contained_path(root, "link.txt")


def test_http_traversal_never_serves_outside(client):
    for url in [
        "/outputs/file?path=../../../../etc/passwd",
        "/outputs/file?path=%2Fetc%2Fpasswd",
        "/outputs/browse?path=..",
        "/api/outputs/browse?path=work/trains/1/../../x",
        "/static/..%2F..%2Fsettings.py",
        "/static/../pages/files.py",
    ]:
        r = client.get(url)
        assert r.status_code in (400, 404), url
        assert "root:" not in r.text and "Settings" not in r.text


def test_file_download_and_range_requests(client, outputs_dir: Path):
    whole = (outputs_dir / TRAIN / "AnalysisResults_o2.root").read_bytes()
    r = client.get(
        "/outputs/file?path=work/trains/1/AnalysisResults_o2.root", headers={"Range": "bytes=0-3"}
    )
    assert r.status_code == 206 and r.content == b"root" == whole[:4]
    assert r.headers["content-range"] == f"bytes 0-3/{len(whole)}"
    r = client.get("/outputs/file?path=work/trains/1/AnalysisResults_o2.root&download=1")
    assert r.content == whole
    assert r.headers["content-disposition"].startswith("attachment")


def test_browse_pages(client):
    top = client.get("/outputs/browse?path=work/trains/1")
    assert top.status_code == 200 and "AnalysisResults_o2.root" in top.text
    listing = client.get("/api/outputs/browse?path=work/trains/1/output").json()
    kinds = {e["name"]: e["kind"] for e in listing["entries"]}
    assert kinds["AnalysisResults.root"] == "root"
    assert kinds["performanceMetrics.json"] == "metrics"
    assert kinds["profile.speedscope.json"] == "profile"
    page = client.get(
        "/outputs/browse?path=work/trains/1/AnalysisResults_o2.root&hist=twoparcorcombexample/hvn"
    )
    assert "<title>Outputs: work/trains/1/AnalysisResults_o2.root · Hyperloop</title>" in page.text
    assert 'data-hist="twoparcorcombexample/hvn"' in page.text
    not_root = client.get("/outputs/browse?path=work/trains/1/output/stdout.log")
    assert not_root.status_code == 200 and "Download" in not_root.text
    bad = client.get(
        "/api/outputs/projection?path=work/trains/1/AnalysisResults_o2.root&hist=nope&axes=0"
    )
    assert bad.status_code == 404 and "no histogram 'nope'" in bad.json()["message"]


def test_active_content_in_outputs_is_only_downloaded(client, outputs_dir: Path):
    (outputs_dir / TRAIN / "report.html").write_text("<script>alert(1)</script>")
    r = client.get("/outputs/file?path=work/trains/1/report.html")
    assert r.headers["content-disposition"].startswith("attachment")
    assert r.headers["x-content-type-options"] == "nosniff"
    log = client.get("/outputs/file?path=work/trains/1/output/stdout.log")
    assert log.headers["content-type"].startswith("text/plain") and log.text == "hello\n"
    assert "attachment" not in log.headers.get("content-disposition", "")


def test_nested_lists_and_same_named_histograms_are_listed(realdata: Path, tmp_path: Path):
    nested = list_histograms(realdata / "results" / "run2_nested_lists_zdc.root")
    assert len(nested) == 1509  # every histogram of every nested list
    deep = next(h for h in nested if h.item and h.item.count("/") >= 2)
    assert deep.key == "myTask/Output" and deep.id.startswith("myTask/Output/")
    twins = [h for h in list_histograms(realdata / "results" / "run2_duplicate_names.root")]
    rdm = [h for h in twins if h.name == "hPsiRDM"]
    assert [h.id for h in rdm] == ["output/hPsiRDM", "output/hPsiRDM (2)"]
    assert rdm[0].item != rdm[1].item  # each reachable by its position
