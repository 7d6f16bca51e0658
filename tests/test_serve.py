"""The deployments `zspace serve` serves: every preset's pipeline and every stage."""

from __future__ import annotations

from zspace.cli.serve import DEFAULT_CRON, build_deployments


def test_deployments_cover_presets_and_stages(tmp_path) -> None:
    deps = {d.name: d for d in build_deployments(str(tmp_path), celeba="/data/celeba")}
    assert set(deps) == {
        "pipeline-demo", "pipeline-celeba-ae", "pipeline-celeba-ae-1600", "pipeline-celeba-vae",
        *(f"stage-{s}" for s in ("ingest", "train", "encode", "analyze", "project", "generate",
                                 "report")),
    }
    demo = deps["pipeline-demo"]
    assert [s.schedule.cron for s in demo.schedules] == [DEFAULT_CRON]
    assert demo.parameters["params"] == {"preset": "demo", "store": str(tmp_path)}
    vae = deps["pipeline-celeba-vae"]
    assert vae.parameters["params"]["source"] == "/data/celeba"
    assert vae.parameters["params"]["kinds"] == ["vae"]
    assert not vae.schedules
    # each flow takes its parameter model whole, as `params`
    assert all(d.parameters["params"]["store"] == str(tmp_path) for d in deps.values())
