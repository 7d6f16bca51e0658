"""The HTML report and the report flow, on real statistics and real figures of a small latent array."""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import pytest
from prefect import get_client
from test_figures import PARAMS, make_latents, write_latents

from zspace.cli.main import main
from zspace.flows.report import report_flow
from zspace.storage import RunLayout, Store
from zspace.tasks.analyze import analyze_latents
from zspace.tasks.common.figures import SECTIONS
from zspace.tasks.report.drawing import stats_figures_current
from zspace.tasks.report.params import ReportParams
from zspace.tasks.report.stage import write_report
from zspace.tasks.report.tables import components_table, radius_rows

TRAIN = {"run": "r1", "dataset": "faces", "preset": "demo", "kind": "vae", "epochs": 2, "z_dim": 12,
         "input_size": 32, "n_train": 64, "n_val": 16, "loss": 1200.5, "val_loss": 1250.25,
         "model_fingerprint": "0123456789abcdef0123"}
HISTORY = [{"epoch": 1, "loss": 1500.0, "val_loss": 1400.0, "kl": 40.0, "kl_share": 0.03},
           {"epoch": 2, "loss": 1200.5, "val_loss": 1250.25, "kl": 35.0, "kl_share": 0.029}]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A run with latents and statistics; training records written by hand (no model here)."""
    st = Store(tmp_path_factory.mktemp("report") / "store")
    url = write_latents(st, st.run("r1").latents(), make_latents(2)[:1500])
    analyze_latents(url, st, st.run("r1").stats.root, PARAMS, show_progress=False)
    st.write_json(RunLayout("r1").train_record, TRAIN)
    st.write_json(RunLayout("r1").history, HISTORY)
    return st


def embedded(doc: str, png: bytes) -> bool:
    return f"data:image/png;base64,{base64.b64encode(png).decode()}" in doc


def test_flow_draws_figures_and_writes_a_self_contained_report(store):
    assert not stats_figures_current(store.url, "r1")
    state = report_flow(ReportParams(store=store.url, run="r1", sample=1200), return_state=True)
    assert state.is_completed()
    res = state.result()
    assert res["figures_drawn"] and stats_figures_current(store.url, "r1")
    doc = Path(res["report"]).read_text(encoding="utf-8")
    assert res["report"] == str(store.local_path(RunLayout("r1").report))

    # every section with something in it, in report order; empty ones are left out
    present = ["findings", "overview", "components", "radius", "correlations", "pca", "artificial",
               "projections", "generation", "reconstruction", "missing"]
    assert res["sections"] == [SECTIONS[k] for k in present]
    rows = store.read_json(RunLayout("r1").findings)
    assert len(rows) == 15 and all({"claim", "study", "ours", "verdict", "rule"} <= set(r)
                                   for r in rows)  # rows may add fields (id, calibration)
    assert doc.index("<h2>Findings</h2>") < doc.index("<h2>Run overview</h2>")
    for k, heading in SECTIONS.items():
        assert (f"<h2>{heading}</h2>" in doc) == (k in present), k
    manifest = store.read_json(RunLayout("r1").manifest("stats"))
    assert len(manifest) == 14 == res["n_figures"]
    for e in manifest:
        assert embedded(doc, store.read_bytes(RunLayout("r1").figure(e['file']))), e["file"]
        assert e["title"] in doc
    assert not re.search(r"""(src|href)=["'](https?:|//|file:)""", doc)
    assert "<link" not in doc and "<script" not in doc

    # our numbers beside the study's
    sm = store.read_json(RunLayout("r1").stats.summary)
    assert f"<td>{sm['correlation_counts']['0.1']:,}</td><td>1,456</td>" in doc
    assert "<td>&gt; 0.6</td>" in doc and "<td>16.5</td>" in doc and "<td>5,015</td>" in doc
    for i, j, _ in sm["correlated_pairs"]:
        assert f"<tr><td>{i}</td><td>{j}</td>" in doc
    assert "<td>1,200</td>" in doc or "1,200.5" in doc  # final loss from history.json

    # what has not run is listed
    assert any("zspace project" in m for m in res["missing"])
    assert any("zspace generate" in m for m in res["missing"])

    with get_client(sync_client=True) as client:
        arts = {a.key: a for a in client.read_artifacts() if a.key}
    assert "Report: r1" in arts["report-r1"].data
    rows = json.loads(arts["correlated-pairs-r1"].data)
    assert [[r["i"], r["j"]] for r in rows] == [p[:2] for p in sm["correlated_pairs"]]
    assert Path(res["report"]).as_uri() in arts["report-link-r1"].data == f"[report.html of r1]({res['link']})"

    again = report_flow(ReportParams(store=store.url, run="r1", sample=1200))
    assert not again["figures_drawn"]  # figures are current: not redrawn


def test_report_embeds_every_manifest_of_every_stage(store, tmp_path):
    """Other stages' manifests (figures/<stage>.json) land in their sections; absent files are listed."""
    if not stats_figures_current(store.url, "r1"):
        report_flow(ReportParams(store=store.url, run="r1", sample=1200))
    st = Store(tmp_path / "copy")
    shutil.copytree(store.local_path(RunLayout("r1").root), st.local_path(RunLayout("r1").root))
    stats = st.read_json(RunLayout("r1").manifest("stats"))
    # a second stage's manifest over real figures (copies of two statistics figures)
    for e in stats[:2]:
        shutil.copy(st.local_path(RunLayout("r1").figure(e['file'])), st.local_path(RunLayout("r1").figure(f"p_{e['file']}")))
    st.write_json(RunLayout("r1").manifest("project"), [
        {"file": f"p_{e['file']}", "title": f"Projection test {k}", "caption": "c",
         "section": "projections"}
        for k, e in enumerate(stats[:2])] + [{"file": "gone.png", "title": "Gone", "caption": "",
                                               "section": "projections"}])
    st.write_json(RunLayout("r1").scores, {"normal": {"nn_pixel": 0.1, "sharpness": 2.0}})
    res = write_report(st.url, "r1")
    doc = Path(res["report"]).read_text(encoding="utf-8")
    assert res["n_figures"] == len(stats) + 2 and res["manifests"] == ["project", "stats"]
    proj = doc.index("<h2>Projections (t-SNE)</h2>")
    gen = doc.index("<h2>Generation</h2>")
    for k in range(2):
        assert proj < doc.index(f"Projection test {k}") < gen
    assert any("gone.png" in m for m in res["missing"])
    assert not any("zspace project" in m for m in res["missing"])
    assert "<td>nn_pixel</td>" not in doc and "<th>nn_pixel</th>" in doc  # scores as a table
    assert "<h2>Findings</h2>" in doc and "<h2>Other figures</h2>" not in doc


def test_figures_are_filed_by_their_section_id_only(store, tmp_path):
    """No per-stage override: a stage's entries land where their section id says, whatever the
    stage is called; an unknown id lands in "Other figures"; an empty section is left out."""
    if not stats_figures_current(store.url, "r1"):
        report_flow(ReportParams(store=store.url, run="r1", sample=1200))
    st = Store(tmp_path / "copy")
    shutil.copytree(store.local_path(RunLayout("r1").root), st.local_path(RunLayout("r1").root))
    src = st.read_json(RunLayout("r1").manifest("stats"))[0]["file"]
    for name in ("a.png", "b.png", "c.png", "d.png"):
        shutil.copy(st.local_path(RunLayout("r1").figure(src)), st.local_path(RunLayout("r1").figure(name)))
    st.write_json(RunLayout("r1").manifest("project"),
                  [{"file": "a.png", "title": "Filed in generation", "section": "generation"}])
    st.write_json(RunLayout("r1").manifest("reconstruction"),
                  [{"file": "b.png", "title": "Filed in findings", "section": "findings"},
                   {"file": "c.png", "title": "Filed nowhere known", "section": "no-such-id"}])
    st.write_json(RunLayout("r1").manifest("meaning"),
                  [{"file": "d.png", "title": "Filed in meaning", "section": "meaning"}])
    res = write_report(st.url, "r1")
    doc = Path(res["report"]).read_text(encoding="utf-8")

    def within(title: str, section: str) -> bool:
        start = doc.index(f'<section id="{section}">')
        return start < doc.index(title) < doc.index("</section>", start)

    assert within("Filed in generation", "generation")
    assert within("Filed in findings", "findings")
    assert within("Filed nowhere known", "other")
    assert within("Filed in meaning", "meaning")
    assert res["sections"][0] == SECTIONS["findings"] and SECTIONS["other"] in res["sections"]
    assert SECTIONS["fragmentation"] not in res["sections"]
    # the project stage ran (project.json) but filed nothing under projections: left out
    assert SECTIONS["projections"] not in res["sections"]
    assert not any("zspace project" in m for m in res["missing"])
    assert any("zspace generate" in m for m in res["missing"])  # generate.json is absent


def _summary_for(z_dim: int, peak: float) -> dict:
    hw = [1.0 + k for k in range(z_dim)]
    return {"n": 100, "z_dim": z_dim, "mean": [0.1 * k for k in range(z_dim)], "half_width": hw,
            "std": [1.0] * z_dim, "dominant_components": [], "dominant_rule": "r",
            "histogram": {"bin_width": 0.25},
            "radius": {"peak": peak, "sqrt_z_dim": z_dim ** 0.5, "mean": peak, "std": 1.0,
                       "min": 0.0, "max": 2 * peak, "peak_rule": "p"}}


def test_medians_and_radius_ratio_for_an_even_z_dim():
    """Median over an even number of components is the mean of the two middle ones; the peak
    is compared with sqrt(z_dim) of the run's own z_dim, the study's with sqrt(256)."""
    sm = _summary_for(4, 3.0)  # half-widths 1, 2, 3, 4 -> 2.5; means 0, .1, .2, .3 -> 0.15
    html = components_table(sm)
    assert "mean +0.150, half-width 2.500" in html
    rows = {r[0]: r[1:] for r in radius_rows(sm)}
    assert rows["sqrt(z_dim)"] == [2.0, 16.0]
    assert rows["peak / sqrt(z_dim)"] == [1.5, 16.5 / 16.0]
    sm = _summary_for(100, 10.5)
    assert {r[0]: r[1:] for r in radius_rows(sm)}["peak / sqrt(z_dim)"][0] == 1.05
    assert "half-width 50.500" in components_table(sm)


def test_cli_and_missing_stages(tmp_path, capsys):
    st = Store(tmp_path / "store")
    st.write_json(RunLayout("empty").train_record, TRAIN)
    assert main(["report", "--store", st.url, "--run", "empty"]) == 0
    out = capsys.readouterr().out
    assert "report:" in out and "zspace analyze" in out and "zspace encode" in out
    doc = st.read_text(RunLayout("empty").report)
    assert "<h2>Missing</h2>" in doc and "No statistics yet" in doc
    assert main(["report", "--store", st.url, "--run", "nope"]) == 2
    assert "no run 'nope'" in capsys.readouterr().err
