"""The two Virus objectives (Huang et al., "Virus: Harmful Fine-tuning Attack for Large Language Models Bypassing
Guardrail Moderation", arXiv 2501.17433, §4, Eq. 2–4).

- Guardrail jailbreak loss (Eq. 2): F_guard(x) = −log P_guard("safe" | chat(user = x_b's instruction,
  assistant = x_b's response ⊕ x)), read at the guard's first generated position.
- Gradient similarity loss (Eq. 3): F_sim(x) = −⟨g(x), g*⟩ / ‖g(x)‖, where g(x) is the gradient of the victim's
  LM loss on x_b ⊕ x w.r.t. its trainable (LoRA) weights and g* = g(h) is frozen. This is the reference code's
  form, equal to −‖g*‖·cos(g(x), g*); its gradient w.r.t. x goes through a gradient (second order).
- Dual objective (Eq. 4): L = λ·F_guard + (1 − λ)·F_sim.
Both take x as a one-hot [B, n, V] (differentiable, for token gradients) or ids [B, n] (exact scoring).
"""

from __future__ import annotations

import logging

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from headwater.errors import InvalidRequestError
from headwater.models.tokenizer_text import chat_text
from headwater.safety.guard.hf import HFGuard
from headwater.safety.virus.tokens import SENTINEL, Pair, embed_block, encode, split_at_sentinel, surround

logger = logging.getLogger(__name__)


def _chat(pair: Pair) -> list[dict[str, str]]:
    return [
        {"role": "user", "content": pair.instruction},
        {"role": "assistant", "content": pair.response + SENTINEL},
    ]


class GuardObjective:
    """F_guard for one benign sample, batched over candidate blocks."""

    def __init__(self, guard: HFGuard, pair: Pair, width: int) -> None:
        self.model, self.width, self.safe_id = guard.model, width, guard.safe_id
        self.head, self.tail = split_at_sentinel(guard.render(_chat(pair)), guard.tokenizer)

    def __call__(self, block: torch.Tensor) -> torch.Tensor:
        """−log P("safe") per block: [B]."""
        embeds = surround(self.model, self.head, embed_block(self.model, block, self.width), self.tail)
        logits = self.model(inputs_embeds=embeds).logits[:, -1].float()
        return -torch.log_softmax(logits, dim=-1)[:, self.safe_id]


class SimilarityObjective:
    """F_sim and the gradient cosine for one benign sample, against the frozen harmful gradient g* = g(h)."""

    def __init__(
        self,
        victim: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        pair: Pair,
        harmful: torch.Tensor,
        width: int,
        chunk: int = 16,
    ) -> None:
        self.model, self.width, self.chunk, self.batched = victim, width, chunk, True
        self.names = [name for name, param in victim.named_parameters() if param.requires_grad]
        self.params = [param for param in victim.parameters() if param.requires_grad]
        if not self.params:
            raise InvalidRequestError("the victim has no trainable weights: wrap it with LoRA first (prepare_victim)")
        chat = _chat(pair)
        user = chat_text(tokenizer, chat[:1], add_generation_prompt=True)
        head, self.tail = split_at_sentinel(chat_text(tokenizer, chat), tokenizer)
        prompt = encode(user, tokenizer)
        # Labels start at the assistant's text, as in SFT; if the template's prefix does not tokenise alone, all count.
        self.head, self.prompt_length = head, len(prompt) if head[: len(prompt)] == prompt else 0
        self.target = self.gradient(harmful.unsqueeze(0)).detach()
        self.target_norm = self.target.norm()

    def gradient(self, block: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
        """g(x): the flattened gradient of the victim's LM loss on x_b ⊕ x (labels: the assistant turn, x included)
        w.r.t. its trainable weights. `block` is one x: [1, n, V] one-hot or [1, n] ids."""
        embeds = surround(self.model, self.head, embed_block(self.model, block, self.width), self.tail)
        middle = block[0].argmax(-1) if block.is_floating_point() else block[0]
        labels = torch.cat([torch.tensor(self.head), middle.cpu(), torch.tensor(self.tail)]).to(embeds.device)
        labels[: self.prompt_length] = -100
        loss = self.model(inputs_embeds=embeds, labels=labels.unsqueeze(0)).loss
        grads = torch.autograd.grad(loss, self.params, create_graph=create_graph)
        return torch.cat([grad.reshape(-1) for grad in grads])

    def batched_gradients(self, blocks: torch.Tensor) -> torch.Tensor:
        """g(x) for a batch of id blocks, [B, P]: per-sample gradients with torch.func (vmap over grad), so a step's
        exact scoring is one batched pass instead of one backward per candidate."""
        from torch.func import functional_call, grad, vmap

        device, rows = blocks.device, len(blocks)
        head = torch.tensor(self.head, device=device, dtype=torch.long).expand(rows, -1)
        tail = torch.tensor(self.tail, device=device, dtype=torch.long).expand(rows, -1)
        ids = torch.cat([head, blocks, tail], dim=1)
        labels = ids.clone()
        labels[:, : self.prompt_length] = -100
        weights = {name: param.detach() for name, param in zip(self.names, self.params, strict=True)}

        def loss(params: dict[str, torch.Tensor], row: torch.Tensor, row_labels: torch.Tensor) -> torch.Tensor:
            kwargs = {"input_ids": row[None], "labels": row_labels[None]}
            return functional_call(self.model, params, args=(), kwargs=kwargs, strict=False).loss

        grads = vmap(grad(loss), in_dims=(None, 0, 0))(weights, ids, labels)
        return torch.cat([grads[name].reshape(rows, -1) for name in self.names], dim=1)

    def terms(self, gradient: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(F_sim, cosine) of gradients g(x) ([P] or [B, P]): F_sim = −⟨g, g*⟩/‖g‖ = −‖g*‖·cos."""
        dot = gradient @ self.target
        norm = gradient.norm(dim=-1).clamp(min=1e-12)
        return -dot / norm, dot / (norm * self.target_norm.clamp(min=1e-12))

    def __call__(self, block: torch.Tensor, create_graph: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """(F_sim, cosine) of each block, [B] each. Id blocks are scored in vmapped chunks (one backward each where
        a model cannot be vmapped); one-hot blocks one backward each, second order when `create_graph`."""
        if self.batched and not block.is_floating_point() and not create_graph and len(block) > 1:
            try:
                grads = torch.cat([self.batched_gradients(part) for part in block.split(self.chunk)])
                return self.terms(grads)
            except (RuntimeError, NotImplementedError, ValueError) as error:
                logger.info("per-sample gradients without vmap for this model (%s)", error)
                self.batched = False
        values = [self.terms(self.gradient(block[index : index + 1], create_graph)) for index in range(block.shape[0])]
        return torch.stack([value[0] for value in values]), torch.stack([value[1] for value in values])


def dual_loss(lam: float, f_guard: torch.Tensor, f_sim: torch.Tensor) -> torch.Tensor:
    """L = λ·F_guard + (1 − λ)·F_sim (Eq. 4); a zero weight drops its term exactly, so λ = 1 / λ = 0 are the single
    objectives."""
    if lam == 1.0:
        return f_guard
    if lam == 0.0:
        return f_sim
    return lam * f_guard + (1.0 - lam) * f_sim
