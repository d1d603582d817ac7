"""`headwater guard train|check|attack`: train a classifier guard, moderate a fine-tuning JSONL, and test your own
moderation with the Virus attack.

`check` fails closed: an unparseable guard reply is unsafe and reported per line (exit 0); bad input exits 2 with
the line and field on stderr; a run that breaks midway (a guard server that is down, say) exits 1 and an interrupted
one 130, neither writing anything. `attack` is for testing moderation you operate.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from headwater.cli.options import DataDir, Endpoint, Json, as_flag, fail, option_groups
from headwater.errors import HeadwaterError, InvalidRequestError
from headwater.files import write_atomic

if TYPE_CHECKING:  # imported by the commands that run them
    from headwater.safety.virus import VirusConfig
    from headwater.safety.virus.attack import SampleReport

app = typer.Typer(
    help="Guardrail moderation of fine-tuning data, and the Virus attack to test your own moderation.",
    no_args_is_help=True,
)
out = Console()
err = Console(stderr=True)
PromptStyle = Annotated[
    str, typer.Option("--prompt", help="llama-guard (policy prompt wrapped around the chat) or chat (the chat as is).")
]


def _run_failed(command: str, error: Exception) -> typer.Exit:
    """An unexpected failure midway: one line on stderr, no traceback, exit 1."""
    err.print(
        f"[red]error:[/] guard {command} failed: {escape(f'{type(error).__name__}: {error}')}",
        highlight=False,
        soft_wrap=True,
    )
    return typer.Exit(1)


@contextmanager
def _failures(command: str) -> Iterator[None]:
    """How a guard command fails: bad input exits 2 naming the flag, an interrupt 130 and anything unexpected 1,
    each in one line on stderr with nothing written."""
    try:
        yield
    except HeadwaterError as error:
        raise fail(as_flag(error, FLAGS)) from None
    except ValueError as error:
        raise fail(InvalidRequestError(str(error))) from None
    except KeyboardInterrupt:
        err.print(f"interrupted: guard {command} stopped; nothing was written")
        raise typer.Exit(130) from None
    except Exception as error:  # a CLI reports the failure, it does not print a traceback
        raise _run_failed(command, error) from None


def _bad(option: str, problem: str) -> typer.Exit:
    return fail(InvalidRequestError(f"{option} {problem}", param=option))


def _check_output_file(path: Path | None, option: str = "--output") -> None:
    """Refuse, before any work, an output path that cannot be a file."""
    if path is not None and path.is_dir():
        raise _bad(option, f"{path} is a folder; give a file name, e.g. {path / 'report.json'}")


def _write_output(path: Path, text: str, option: str = "--output") -> None:
    try:
        write_atomic(path, text)
    except OSError as error:
        raise _bad(option, f"cannot be written: {error}") from None


@app.command()
def train(
    data: Annotated[Path, typer.Argument(help="Labelled JSONL: text, messages or prompt/completion, plus label.")],
    output: Annotated[Path, typer.Option(help="Folder for classifier.json + classifier.safetensors.")],
    model: Annotated[str, typer.Option(help="Embedding model: HF id, folder or built-in.")] = "smollm2-135m",
    threshold: Annotated[float, typer.Option(help="P(unsafe) at or above which an item is flagged.")] = 0.5,
    data_dir: DataDir = Path(".headwater"),
    as_json: Json = False,
) -> None:
    """Train a classifier guard: mean-pooled embeddings + logistic regression (saved without pickle)."""
    from headwater.safety.guard import read_labelled, train_classifier

    if not 0.0 <= threshold <= 1.0:
        raise _bad("--threshold", f"must be in [0, 1], got {threshold}")
    if output.exists() and not output.is_dir():
        raise _bad("--output", f"{output} is a file; give a folder for the trained guard")
    with _failures("train"):
        conversations, labels, categories = read_labelled(data)
        guard = train_classifier(conversations, labels, model, data_dir, threshold, categories)
        flagged = [verdict.flagged for verdict in guard.moderate(conversations)]
    try:
        guard.save(output)
    except OSError as error:
        raise _bad("--output", f"cannot be written: {error}") from None
    summary = {
        "examples": len(labels),
        "unsafe": sum(labels),
        "train_accuracy": sum(int(f) == label for f, label in zip(flagged, labels, strict=True)) / len(labels),
        "output": str(output),
    }
    if as_json:
        print(json.dumps(summary))
    else:
        err.print(
            f"trained on {summary['examples']} examples; train accuracy {summary['train_accuracy']:.3f}; {output}"
        )


def _check_prompt(prompt: str) -> None:
    from headwater.safety.guard.llm import PROMPT_STYLES

    if prompt not in PROMPT_STYLES:
        raise _bad("--prompt", f"must be one of {', '.join(PROMPT_STYLES)}, got {prompt!r}")


@dataclass(frozen=True, kw_only=True)
class GuardOptions(Endpoint):
    """`check`'s flags naming the guard and its defences: GuardConfig's fields."""

    model: Annotated[
        str,
        typer.Option(help="Guard: HF id, folder, built-in, served name with --base-url, or a `guard train` folder."),
    ]
    threshold: Annotated[float | None, typer.Option(help="Flag when P(unsafe) >= X (guards with a score).")] = None
    style: PromptStyle = "llama-guard"
    segments: Annotated[int, typer.Option(help="Defence: also moderate the last turn in pieces of N characters.")] = 0
    normalised: Annotated[bool, typer.Option(help="Defence: also moderate a normalised view.")] = False
    perplexity_model: Annotated[str | None, typer.Option(help="Defence: flag text this LM finds gibberish.")] = None
    perplexity_threshold: Annotated[float, typer.Option(help="Windowed perplexity above which to flag.")] = 1000.0


@app.command()
@option_groups
def check(
    file: Annotated[Path, typer.Argument(help="Fine-tuning JSONL: chat `messages` or `prompt`/`completion` lines.")],
    options: GuardOptions,
    output: Annotated[Path | None, typer.Option(help="Also write the report as JSON here.")] = None,
    as_json: Json = False,
) -> None:
    """Moderate every example as it will be trained; unparseable replies and scores over the threshold are unsafe."""
    from headwater.safety.guard import check_examples, read_examples
    from headwater.safety.guard.setup import GuardConfig, load_guard

    _check_output_file(output)
    with _failures("check"):
        config = GuardConfig(**asdict(options))
        examples = read_examples(file)
        report = check_examples(examples, load_guard(config)).to_dict()
    if output is not None:
        _write_output(output, json.dumps({"model": options.model, **report}, indent=2))
    if as_json:
        print(json.dumps(report))
        return
    table = Table(
        "line", "verdict", "categories", "score", "error", title=f"{report['flagged']}/{report['total']} flagged"
    )
    for item in report["items"]:
        if item["verdict"] == "unsafe":
            score = "" if item["score"] is None else f"{item['score']:.3f}"
            table.add_row(str(item["line"]), item["verdict"], ",".join(item["categories"]), score, item["error"] or "")
    out.print(table)


@app.command()
def attack(
    file: Annotated[
        Path,
        typer.Argument(
            help="JSONL pairs: `instruction`, `response` (benign), `harmful` (answer) and `harmful_instruction`."
        ),
    ],
    guard: Annotated[str, typer.Option(help="Guard causal LM you operate (HF id, folder, built-in).")],
    victim: Annotated[str, typer.Option(help="Victim causal LM sharing the guard's vocabulary.")],
    output: Annotated[Path, typer.Option(help="JSONL of poisoned examples with their reports.")],
    prompt: PromptStyle = "llama-guard",
    lam: Annotated[
        float, typer.Option("--lambda", help="Weight of the guard jailbreak loss (1: jailbreak only).")
    ] = 0.1,
    steps: Annotated[int, typer.Option(help="Search steps per sample.")] = 50,
    top_k: Annotated[int, typer.Option(help="Candidate tokens per position.")] = 64,
    swaps: Annotated[int, typer.Option(help="Single-token swaps scored per step.")] = 128,
    seed: Annotated[int, typer.Option(help="Seed of the swap sampling and of the victim LoRA's initialisation.")] = 0,
    lora_rank: Annotated[int, typer.Option(help="Rank of the victim's LoRA, the weights g is taken over.")] = 32,
    lora_alpha: Annotated[float, typer.Option(help="LoRA alpha (output scaled by alpha / rank).")] = 4.0,
    target_modules: Annotated[
        list[str] | None,
        typer.Option(help="Layers given LoRA adapters, comma-separated (default q_proj,k_proj,v_proj; or all-linear)."),
    ] = None,
    optimise: Annotated[
        str, typer.Option(help="sample: optimise the whole harmful sample (instruction + answer); answer: the answer.")
    ] = "sample",
    data_dir: DataDir = Path(".headwater"),
    as_json: Json = False,
) -> None:
    """Virus (arXiv 2501.17433): optimise harmful samples to pass YOUR guard, to measure how well it holds.
    Use it only on moderation you operate; the platform exposes it to admins alone. The defaults are the official
    code's: gradients over a LoRA of rank 32, alpha 4 on q/k/v, and the whole templated harmful sample optimised."""
    from headwater.safety.virus.attack import attack_models
    from headwater.safety.virus.tokens import read_pairs

    _check_prompt(prompt)
    _check_output_file(output)

    def progress(done: int, total: int, report: SampleReport) -> None:
        err.print(f"sample {done}/{total}: passes guard {report.passes_guard} ({report.seconds:.1f} s)")

    with _failures("attack"):
        config = _virus_config(lam, steps, top_k, swaps, seed, lora_rank, lora_alpha, target_modules, optimise)
        pairs = read_pairs(file, needs_instruction=config.optimise == "sample")
        reports = attack_models(guard, victim, [pair for _, pair in pairs], config, prompt, data_dir, progress)
    items = [
        {"line": line, "messages": report.messages, **asdict(report)}
        for (line, _), report in zip(pairs, reports, strict=True)
    ]
    _write_output(output, "".join(json.dumps(item) + "\n" for item in items))
    passed = sum(report.passes_guard for report in reports)
    summary = {"total": len(reports), "passed": passed, "leakage_ratio": passed / len(reports), "output": str(output)}
    if as_json:
        print(json.dumps(summary))
    else:
        err.print(f"{passed}/{len(reports)} poisoned samples pass the guard; written to {output}")


FLAGS = {"lam": "--lambda", "style": "--prompt"}
"""Library fields (VirusConfig's, GuardConfig's) whose flag is not simply --field-name."""


def _virus_config(
    lam: float,
    steps: int,
    top_k: int,
    swaps: int,
    seed: int,
    lora_rank: int,
    lora_alpha: float,
    target_modules: list[str] | None,
    optimise: str,
) -> VirusConfig:
    """The attack's settings (VirusConfig checks them; `as_flag` names the flag of a bad one)."""
    from headwater.safety.virus import VirusConfig
    from headwater.safety.virus.search import OFFICIAL_TARGET_MODULES

    modules = tuple(name.strip() for value in target_modules or [] for name in value.split(","))
    return VirusConfig(
        lam=lam,
        steps=steps,
        top_k=top_k,
        swaps=swaps,
        seed=seed,
        lora_rank=lora_rank,
        lora_alpha=lora_alpha,
        target_modules=modules if target_modules is not None else OFFICIAL_TARGET_MODULES,
        optimise=optimise,
    )
