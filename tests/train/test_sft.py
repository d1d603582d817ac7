"""A tiny CFT run whose critique loss falls, and an SFT run on the same budget; LoRA trains adapters only."""

from __future__ import annotations

from transformers import AutoModelForCausalLM, TrainerCallback

from headwater.train.cft import cft_row, sft_row
from headwater.train.sft import FineTuneConfig, fine_tune


class Losses(TrainerCallback):
    def __init__(self):
        self.values = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.values.append(logs["loss"])


ROWS = [
    cft_row(f"What is {a}+{a}?", f"It is {2 * a + 1}.", f"{a}+{a} is {2 * a}, not {2 * a + 1}. Conclusion: wrong [END]")
    for a in range(16)
]


def test_cft_loss_falls(tmp_path, data_dir):
    losses = Losses()
    final = fine_tune(
        "tiny-chat",
        ROWS,
        tmp_path,
        FineTuneConfig(max_steps=30, learning_rate=3e-3, batch_size=8, max_length=128),
        data_dir,
        callbacks=[losses],
    ).model
    assert sum(losses.values[-5:]) / 5 < 0.7 * sum(losses.values[:5]) / 5
    assert AutoModelForCausalLM.from_pretrained(final).config.num_hidden_layers == 2


def test_sft_baseline_and_lora(tmp_path, data_dir):
    rows = [sft_row(f"What is {a}+{a}?", str(2 * a)) for a in range(16)]
    result = fine_tune(
        "tiny-chat",
        rows,
        tmp_path,
        FineTuneConfig(max_steps=3, learning_rate=1e-3, lora=True, lora_rank=4, max_length=64),
        data_dir,
    )
    assert result.train_loss > 0 and (result.model / "adapter_config.json").exists() and result.selection is None
