"""Gateway helpers: the model's recommended sampling fills what a request leaves out."""

from __future__ import annotations

from transformers import GenerationConfig

from headwater.platform.control import default_sampling


def test_model_generation_config_gives_default_sampling(tmp_path):
    GenerationConfig(do_sample=True, temperature=0.3, top_p=0.8, top_k=20).save_pretrained(tmp_path)
    defaults = default_sampling(str(tmp_path))
    assert (round(defaults.temperature, 6), round(defaults.top_p, 6), defaults.top_k) == (0.3, 0.8, 20)


def test_greedy_or_missing_generation_config_falls_back_to_openai_defaults(tmp_path):
    assert default_sampling(str(tmp_path)).temperature == 1.0
    (tmp_path / "generation_config.json").write_text('{"do_sample": false, "temperature": 0.3, "top_k": 5}')
    defaults = default_sampling(str(tmp_path))
    assert (defaults.temperature, defaults.top_p, defaults.top_k) == (1.0, 1.0, 0)
