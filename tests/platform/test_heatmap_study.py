"""The PD heatmap study on scripted JCTs: the grid, the table the `deepflow` policy loads (gains summed over rates),
its JSON file and its PNG; and the study's catalogue entries as the catalogue checks them."""

from __future__ import annotations

import json

import pytest

from headwater.errors import InvalidRequestError
from headwater.platform.heatmap_study import (
    Measurement,
    StudyGrid,
    plot_heatmap,
    run_study,
    study_catalogue,
)
from headwater.platform.scheduler import Heatmap, TEState, choose_mode


def _scripted(calls: list[tuple[str, int, int, float]]):
    """Disaggregation wins on long prompts with short answers (and more so at high rates), loses elsewhere."""

    def measure(mode: str, prompt_tokens: int, output_tokens: int, rate: float) -> float:
        calls.append((mode, prompt_tokens, output_tokens, rate))
        if mode == "colocated":
            return 2.0 if prompt_tokens >= 256 and output_tokens < prompt_tokens else 1.0
        return 1.0 if prompt_tokens >= 256 and output_tokens < prompt_tokens else (1.25 if rate > 4 else 2.0)

    return measure


def test_the_study_measures_each_cell_both_ways_and_sums_the_gain_over_rates():
    grid = StudyGrid(prompt_lengths=(64, 512), ratios=(0.25, 2.0), rates=(2.0, 8.0), requests=3)
    calls: list[tuple[str, int, int, float]] = []
    seen: list[Measurement] = []
    study = run_study(grid, _scripted(calls), seen.append)
    assert len(calls) == 2 * 2 * 2 * 2 and len(seen) == len(study.measurements) == 8
    assert calls[:2] == [("colocated", 64, 16, 2.0), ("disaggregated", 64, 16, 2.0)]
    assert ("colocated", 512, 1024, 8.0) in calls
    table = study.heatmap()
    # long prompt, short answer: 2/1 − 1 = +1 at each rate; elsewhere 1/2 − 1 + 1/1.25 − 1 = −0.7
    assert table.gain == ((pytest.approx(-0.7), pytest.approx(-0.7)), (2.0, pytest.approx(-0.7)))
    assert table.cell(prompt_tokens=400, output_tokens=50) == 2.0


def test_the_saved_json_is_the_heatmap_the_deepflow_policy_loads(tmp_path):
    grid = StudyGrid(prompt_lengths=(64, 512), ratios=(0.25, 2.0), rates=(2.0, 8.0), requests=3)
    study = run_study(grid, _scripted([]))
    study.model = "tiny-chat"
    path = tmp_path / "out" / "pd_heatmap.json"
    study.save(path)
    document = json.loads(path.read_text())
    assert document["rates"] == [2.0, 8.0] and len(document["measurements"]) == 8
    assert document["measurements"][0]["jct_colocated_s"] == 1.0 and document["model"] == "tiny-chat"
    loaded = Heatmap.load(path)
    assert loaded == study.heatmap()
    pair_and_colocated = [TEState(0, mode="colocated"), TEState(0, mode="prefill"), TEState(0, mode="decode")]
    assert choose_mode(pair_and_colocated, 500, 60, loaded) == "prefill"
    assert choose_mode(pair_and_colocated, 500, 900, loaded) == "colocated"
    assert choose_mode(pair_and_colocated, 40, 5, loaded) == "colocated"


def test_the_png_shows_the_cells_red_where_disaggregation_wins_and_blue_where_it_loses(tmp_path):
    from matplotlib.image import imread

    grid = StudyGrid(prompt_lengths=(64, 512), ratios=(0.25, 2.0), rates=(2.0,), requests=1)
    study = run_study(grid, _scripted([]))
    path = tmp_path / "pd_heatmap.png"
    plot_heatmap(study, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = imread(path)[..., :3]
    red, blue = pixels[..., 0] - pixels[..., 2] > 0.2, pixels[..., 2] - pixels[..., 0] > 0.2
    assert red.sum() > 5000 and blue.sum() > 3 * 5000  # one cell red, three blue


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"prompt_lengths": ()}, "prompt_lengths"),
        ({"ratios": (1.0, 0.5)}, "ratios"),
        ({"prompt_lengths": (128, 128)}, "prompt_lengths"),
        ({"rates": (0.0,)}, "rates"),
        ({"requests": 0}, "requests"),
    ],
)
def test_a_bad_grid_is_refused_naming_its_field(changes, field):
    with pytest.raises(InvalidRequestError) as refused:
        StudyGrid(**changes)
    assert refused.value.param == field and field in refused.value.message


def test_a_grid_beyond_the_context_window_is_refused_before_anything_runs():
    grid = StudyGrid(prompt_lengths=(128, 600), ratios=(0.5, 1.0))
    grid.check_window(1200)
    with pytest.raises(InvalidRequestError, match="reach 1200 tokens.*window is 1024") as refused:
        grid.check_window(1024)
    assert refused.value.param == "prompt_lengths"


def test_the_study_serves_one_model_colocated_and_as_a_1p1d_pair():
    try:
        entries = study_catalogue("tiny-chat", colocated_tes=2)
    except InvalidRequestError as refused:
        assert refused.param == "serving_mode", refused.message
        pytest.skip(f"the catalogue has no serving_mode yet ({refused.message})")
    colocated, pair = entries
    assert (colocated["name"], colocated["min_tes"], colocated["max_tes"]) == ("colocated", 2, 2)
    assert (pair["serving_mode"], pair["prefill_tes"], pair["decode_tes"]) == ("disaggregated", 1, 1)
