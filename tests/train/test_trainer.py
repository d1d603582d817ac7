"""DistillationTrainer on tiny models: KL to the teacher falls, t resumes, accumulation is exact, bad pairs fail."""

from __future__ import annotations

import functools
import json
import random

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainingArguments

from headwater.errors import InvalidRequestError
from headwater.models.builtin import builtin_path
from headwater.train.data import Conversation, collate, encode, read_conversations
from headwater.train.taid import TAIDSchedule
from headwater.train.trainer import SCHEDULE_FILE, DistillationTrainer, check_compatible, held_out_kl

WORDS = "the river runs to the sea and the sea turns to rain over the hills".split()


def _conversations(count: int, seed: int) -> list[Conversation]:
    rng = random.Random(seed)
    return [
        Conversation(
            [{"role": "user", "content": " ".join(rng.choices(WORDS, k=5))}], " ".join(rng.choices(WORDS, k=8))
        )
        for _ in range(count)
    ]


@pytest.fixture(scope="module")
def pair(data_dir):
    tokenizer = AutoTokenizer.from_pretrained(builtin_path("tiny-chat", data_dir))
    teacher = AutoModelForCausalLM.from_pretrained(builtin_path("tiny-teacher", data_dir))
    return tokenizer, teacher


def _student(data_dir):
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_pretrained(builtin_path("tiny-chat", data_dir))


def _trainer(tmp_path, data_dir, pair, steps, batch=4, accumulation=1, method="taid", examples=None, **kw):
    tokenizer, teacher = pair
    examples = examples or [encode(c, tokenizer, 64) for c in _conversations(32, seed=1)]
    kw = {"save_strategy": "no", **kw}
    args = TrainingArguments(
        output_dir=str(tmp_path),
        per_device_train_batch_size=batch,
        max_steps=steps,
        gradient_accumulation_steps=accumulation,
        learning_rate=2e-3,
        report_to="none",
        use_cpu=True,
        logging_steps=1,
        disable_tqdm=True,
        seed=0,
        lr_scheduler_type="constant",
        **kw,
    )
    student = _student(data_dir)
    width = check_compatible(student, teacher, tokenizer, tokenizer)
    return DistillationTrainer(
        model=student,
        args=args,
        train_dataset=examples,
        teacher=teacher,
        method=method,
        schedule=TAIDSchedule(steps) if method == "taid" else None,
        vocab_size=width,
        data_collator=functools.partial(collate, pad_id=tokenizer.pad_token_id),
    )


def test_held_out_kl_to_the_teacher_falls(tmp_path, data_dir, pair):
    tokenizer, teacher = pair
    held_out = [collate([encode(c, tokenizer, 64) for c in _conversations(8, seed=99)], tokenizer.pad_token_id)]
    trainer = _trainer(tmp_path, data_dir, pair, steps=40)
    before = held_out_kl(trainer.model, teacher, held_out, len(tokenizer))
    trainer.train()
    after = held_out_kl(trainer.model, teacher, held_out, len(tokenizer))
    assert after < before * 0.9
    assert trainer.schedule.t == pytest.approx(trainer.schedule.linear(39))
    logged = [entry for entry in trainer.state.log_history if "taid_t" in entry]
    assert logged and {"taid_kl", "taid_ce", "taid_momentum"} <= set(logged[-1])
    assert all(p.grad is None for p in teacher.parameters())


@pytest.mark.parametrize("method", ["kl", "jsd"])
def test_baselines_train_too(tmp_path, data_dir, pair, method):
    trainer = _trainer(tmp_path, data_dir, pair, steps=3, method=method)
    trainer.train()
    assert trainer.schedule is None and trainer.state.global_step == 3


def test_resume_restores_t(tmp_path, data_dir, pair):
    first = _trainer(tmp_path, data_dir, pair, steps=6, save_strategy="steps", save_steps=3)
    first.train()
    saved = json.loads((tmp_path / "checkpoint-3" / SCHEDULE_FILE).read_text())
    resumed = _trainer(tmp_path, data_dir, pair, steps=6, save_strategy="no")
    original = resumed.end_optimizer_step
    seen = []

    def spy(step: int) -> None:
        seen.append(resumed.schedule.t)
        original(step)

    resumed.end_optimizer_step = spy  # type: ignore[method-assign]
    resumed.train(resume_from_checkpoint=str(tmp_path / "checkpoint-3"))
    assert seen[0] == pytest.approx(saved["t"])
    assert resumed.schedule.t == pytest.approx(first.schedule.t)


def test_gradient_accumulation_matches_one_big_batch(tmp_path, data_dir, pair):
    tokenizer = pair[0]
    # Equal token counts per micro-batch (the spec's condition): four different texts of one tokenised length.
    examples = [{"input_ids": ids, "labels": ids} for ids in ([5 + i] * 12 for i in range(4))]
    kw = {"examples": examples, "optim": "sgd"}
    big = _trainer(tmp_path / "big", data_dir, pair, steps=1, batch=4, **kw)
    small = _trainer(tmp_path / "small", data_dir, pair, steps=1, batch=2, accumulation=2, **kw)
    assert tokenizer.pad_token_id not in range(5, 9)
    big.train()
    small.train()
    for a, b in zip(big.model.parameters(), small.model.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_incompatible_pairs_are_refused(data_dir, pair):
    tokenizer, teacher = pair
    other = AutoTokenizer.from_pretrained(builtin_path("tiny-chat", data_dir))
    other.add_tokens(["<extra-token>"])
    with pytest.raises(InvalidRequestError, match="tokenizer differs"):
        check_compatible(_student(data_dir), teacher, tokenizer, other)
    with pytest.raises(InvalidRequestError, match="output rows"):
        check_compatible(_student(data_dir), teacher, other)


def test_data_errors_name_the_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"prompt": "a", "response": "b"}\n{"prompt": 3, "response": "b"}\n')
    with pytest.raises(InvalidRequestError, match="line 2: prompt"):
        read_conversations(path)
    path.write_text("\n\n")
    with pytest.raises(InvalidRequestError, match="no example"):
        read_conversations(path)
    path.write_text('{"messages": [{"role": "user", "content": "q"}, {"role": "user", "content": "x"}]}\n')
    with pytest.raises(InvalidRequestError, match="assistant"):
        read_conversations(path)


def test_labels_cover_the_response_only(pair):
    tokenizer, _teacher = pair
    example = encode(Conversation([{"role": "user", "content": "hi"}], "hello"), tokenizer, 64)
    response = tokenizer("hello", add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    counted = [label for label in example["labels"] if label != -100]
    assert counted == response
    assert example["input_ids"][-len(response) :] == response


def _epoch_trainer(tmp_path, data_dir, pair, examples, **kw):
    tokenizer, teacher = pair
    args = TrainingArguments(
        output_dir=str(tmp_path),
        report_to="none",
        use_cpu=True,
        save_strategy="no",
        disable_tqdm=True,
        learning_rate=1e-4,
        **kw,
    )
    return DistillationTrainer(
        model=_student(data_dir),
        args=args,
        train_dataset=examples,
        teacher=teacher,
        method="taid",
        vocab_size=len(tokenizer),
        data_collator=functools.partial(collate, pad_id=tokenizer.pad_token_id),
    )


def test_schedule_length_is_the_optimiser_steps_the_trainer_runs(tmp_path, data_dir, pair):
    """10 examples, batch 1, accumulation 3, 3 epochs: 4 optimiser steps per epoch (3 + 3 + 3 + 1 micro-batches), 12
    in all, not 10. t follows the ramp to the last step and reaches t_end only where the run ends."""
    examples = [encode(c, pair[0], 32) for c in _conversations(10, seed=3)]
    trainer = _epoch_trainer(
        tmp_path,
        data_dir,
        pair,
        examples,
        per_device_train_batch_size=1,
        gradient_accumulation_steps=3,
        num_train_epochs=3,
    )
    assert trainer.schedule.total_steps is None  # left to the Trainer, which knows its dataloader
    seen: list[tuple[int, float]] = []
    original = trainer.end_optimizer_step

    def spy(step: int) -> None:
        original(step)
        seen.append((step, trainer.schedule.t))

    trainer.end_optimizer_step = spy  # type: ignore[method-assign]
    trainer.train()
    assert trainer.state.global_step == 12 and trainer.schedule.total_steps == 12
    assert [step for step, _t in seen] == list(range(12))
    assert [t for _step, t in seen[1:]] == pytest.approx([trainer.schedule.linear(step) for step, _t in seen[1:]])
    assert all(t < 1.0 for _step, t in seen), "t reached 1 before the run ended"
    assert seen[-1][1] == pytest.approx(0.4 + 0.6 * 11 / 12) and trainer.schedule.linear(12) == 1.0


def test_an_explicit_schedule_length_is_kept_with_a_warning(tmp_path, data_dir, pair, caplog):
    examples = [encode(c, pair[0], 32) for c in _conversations(4, seed=3)]
    trainer = _epoch_trainer(tmp_path, data_dir, pair, examples, per_device_train_batch_size=2, max_steps=2)
    trainer.schedule = TAIDSchedule(5)
    with caplog.at_level("WARNING", logger="headwater.train.trainer"):
        trainer.train()
    assert trainer.schedule.total_steps == 5 and "spans 5 steps but the Trainer runs 2" in caplog.text


def test_t_moves_with_the_loss_averaged_over_all_processes(tmp_path, data_dir, pair):
    """In a distributed run each rank sees its own micro-batches; t must follow the mean over ranks, or ranks drift."""
    trainer = _trainer(tmp_path, data_dir, pair, steps=4)
    reductions = []

    class TwoRanks:
        """Stands in for a 2-process accelerator whose other rank saw a loss of 1.0."""

        def reduce(self, tensor: torch.Tensor, reduction: str) -> torch.Tensor:
            reductions.append(reduction)
            return (tensor + 1.0) / 2

    reference = TAIDSchedule(4)
    trainer.accelerator = TwoRanks()  # type: ignore[assignment]
    for step, losses in ((1, [3.0, 5.0]), (2, [1.0, 2.0])):
        trainer._step_losses = losses
        trainer.end_optimizer_step(step)
        reference.update((sum(losses) / 2 + 1.0) / 2, step)
    assert reductions == ["mean", "mean"]
    assert trainer.schedule.t == pytest.approx(reference.t) and trainer.schedule.momentum == reference.momentum
