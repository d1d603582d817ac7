"""`headwater footprint estimate`: rich table or one JSON object with the five criteria keys."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from headwater.cli import app
from headwater.footprint import EcologitsEstimator, load_factors

runner = CliRunner()
KEYS = {"energy_kwh", "gwp_kgco2e", "water_m3eq", "pe_mj", "adpe_kgsbeq"}


def test_cluster_estimate_as_json():
    result = runner.invoke(app, ["footprint", "estimate", "--use-case", "chat", "--size", "405B", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert KEYS <= set(data) and data["estimator"] == "capgemini"
    assert data["energy_kwh"] == pytest.approx(1.73e-2, rel=0.05)


def test_custom_workload_and_factor_file(tmp_path):
    (tmp_path / "f.yaml").write_text("pue: 1.0\n")
    base = json.loads(
        runner.invoke(
            app, ["footprint", "estimate", "--model-params", "70e9", "--output-tokens", "208", "--json"]
        ).stdout
    )
    lean = json.loads(
        runner.invoke(
            app,
            [
                "footprint",
                "estimate",
                "--model-params",
                "70e9",
                "--output-tokens",
                "208",
                "--factors",
                str(tmp_path / "f.yaml"),
                "--json",
            ],
        ).stdout
    )
    assert lean["energy_kwh"] < base["energy_kwh"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model-params", "-5"], "model_params"),
        (["--use-case", "chat", "--size", "7B"], "allowed: 8B, 70B, 405B"),
        (["--use-case", "poetry", "--size", "8B"], "allowed: chat, rag, agents"),
        (["--use-case", "chat", "--model-params", "8e9"], "--use-case"),
        (["--model-params", "8e9", "--estimator", "guess"], "allowed: capgemini, ecologits"),
        (["--model-params", "8e9", "--region", "mars"], "allowed: portfolio"),
        (["--model-params", "8e9", "--estimator", "ecologits", "--latency", "0"], "--latency must be a positive"),
        (["--model-params", "8e9", "--estimator", "ecologits", "--latency", "-2"], "--latency must be a positive"),
        (["--model-params", "8e9", "--latency", "1"], "--latency applies to --estimator ecologits only"),
    ],
)
def test_bad_input_exits_2_with_the_reason(args, message):
    result = runner.invoke(app, ["footprint", "estimate", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_traditional_and_ecologits():
    vision = json.loads(runner.invoke(app, ["footprint", "estimate", "--use-case", "vision", "--json"]).stdout)
    assert vision["energy_kwh"] == pytest.approx(3.17e-4, rel=0.05)
    eco = json.loads(
        runner.invoke(
            app, ["footprint", "estimate", "--model-params", "70e9", "--estimator", "ecologits", "--json"]
        ).stdout
    )
    assert eco["estimator"] == "ecologits" and eco["energy_kwh"] > 0


def test_latency_caps_the_ecologits_generation_time():
    """135M parameters, 100 tokens: the fit says 3.95 s; measured at 1 s, EcoLogits charges 1 s of server time."""
    args = ["footprint", "estimate", "--model-params", "135e6", "--output-tokens", "100", "--estimator", "ecologits"]
    fitted, measured, slow = (
        json.loads(runner.invoke(app, [*args, *extra, "--json"]).stdout)
        for extra in ([], ["--latency", "1"], ["--latency", "60"])
    )
    estimator = EcologitsEstimator(load_factors())
    server_kwh_per_s = 1.15 * 1.2 / 8 / 64 / 3600
    expected = 1.15 * estimator.gpu_kwh(0.135, 100) + server_kwh_per_s
    assert measured["energy_kwh"] == pytest.approx(expected, rel=1e-12)
    assert fitted["energy_kwh"] - measured["energy_kwh"] == pytest.approx(server_kwh_per_s * 2.953, rel=1e-3)
    assert slow == fitted


def test_table_output():
    result = runner.invoke(app, ["footprint", "estimate", "--use-case", "rag", "--size", "8B"])
    assert result.exit_code == 0 and "gwp_kgco2e" in result.output and "capgemini" in result.output


def test_portfolio_and_project_commands(tmp_path):
    totals = json.loads(runner.invoke(app, ["footprint", "portfolio", "--json"]).stdout)
    assert KEYS <= set(totals) and totals["energy_kwh"] == pytest.approx(3.9e6, rel=0.1)
    assert len(totals["clusters"]) == 12
    paper = json.loads(runner.invoke(app, ["footprint", "project", "--json"]).stdout)["scenarios"]
    assert set(paper) == {
        "steady_ascent",
        "high_adoption",
        "limited_growth",
        "technological_breakthrough",
        "intermediate",
    }
    path = tmp_path / "mine.yaml"
    path.write_text(
        "genai_share: 0.5\nfactors:\n  pue: 1.1\nscenarios:\n  double:\n    usage_growth: {chat: 2, rag: 2,"
        " agents: 2, tabular: 2, vision: 2, nlp: 2}\n"
    )
    mine = json.loads(runner.invoke(app, ["footprint", "project", str(path), "--json"]).stdout)["scenarios"]
    assert mine["double"]["energy_kwh"] == pytest.approx(200)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("genai_shar: 0.5\n", "allowed: use_cases"),
        ("factors:\n  pu: 1\n", "unknown factor 'pu'"),
        ("scenarios:\n  x:\n    speed: 2\n", "allowed: usage_growth"),
    ],
)
def test_bad_portfolio_files(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    result = runner.invoke(app, ["footprint", "portfolio" if "scenarios" not in text else "project", str(path)])
    assert result.exit_code == 2 and message in result.output.replace("\n", " ")


def test_report_writes_a_self_contained_page(tmp_path):
    out = tmp_path / "report.html"
    result = runner.invoke(app, ["footprint", "report", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert page.count("data:image/png;base64,") == 2
    assert "technological_breakthrough" in page and "gwp_kgco2e" in page
    assert json.loads(result.stdout)["out"] == str(out)
    assert not list(tmp_path.glob(".*.tmp"))
