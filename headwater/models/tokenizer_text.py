"""A tokenizer's chat template and decoder, typed as what one conversation or one sequence gives.

transformers types `apply_chat_template` as the union of all its modes (text, ids, batches, a BatchEncoding) and
`decode` as `str | list[str]` (a batch); for one conversation, and for one sequence of ids, each returns one text
or one list of ids, which these functions say once for all their callers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

from transformers import PreTrainedTokenizerBase

if TYPE_CHECKING:
    import torch


def chat_text(
    tokenizer: PreTrainedTokenizerBase, conversation: list[dict[str, Any]], add_generation_prompt: bool = False
) -> str:
    """The conversation in the tokenizer's chat template (and the assistant's header when `add_generation_prompt`)."""
    text = tokenizer.apply_chat_template(conversation, add_generation_prompt=add_generation_prompt, tokenize=False)
    return cast(str, text)


def chat_ids(
    tokenizer: PreTrainedTokenizerBase,
    conversation: list[dict[str, Any]],
    add_generation_prompt: bool,
    tools: list[dict[str, Any]] | None = None,
) -> list[int]:
    """The conversation's token ids in the chat template (with `tools` where the template renders them). Templates
    raise their own errors (e.g. roles must alternate): callers turn them into a 400 naming the messages."""
    # transformers types the tools as a list of dicts or callables (a list of dicts is invariant to it)
    template_tools = list[dict[str, Any] | Callable[..., Any]](tools) if tools is not None else None
    encoded = tokenizer.apply_chat_template(
        conversation, tools=template_tools, add_generation_prompt=add_generation_prompt, tokenize=True
    )
    if hasattr(encoded, "keys"):  # a BatchEncoding (transformers' default, return_dict=True), or the ids alone
        return list(cast(Mapping[str, list[int]], encoded)["input_ids"])
    return list(cast(list[int], encoded))


def decode_text(
    tokenizer: PreTrainedTokenizerBase, ids: list[int] | torch.Tensor, skip_special_tokens: bool = False
) -> str:
    """The text of one sequence of token ids (a list, or a 1-D tensor)."""
    return cast(str, tokenizer.decode(ids, skip_special_tokens=skip_special_tokens))
