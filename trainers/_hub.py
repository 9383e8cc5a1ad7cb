"""Local path or Hugging Face hub id: decide quickly, and never hang on an unreachable hub."""

from __future__ import annotations

import os
import socket
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

from hpsearch.trainers._base import ModelConfig, ModelNotFoundError
from hpsearch.trainers._demo import demo_model_path

HUB_PROBE_TIMEOUT_S = 3.0


def is_local(name: str) -> bool:
    return Path(name).expanduser().exists() or name.startswith(("/", "./", "../", "~"))


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


@lru_cache(maxsize=4)
def hub_reachable(endpoint: str | None = None) -> bool:
    """Can a TCP connection to the hub be opened within a few seconds?"""
    url = endpoint or os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    parsed = urlparse(url)
    host = parsed.hostname or "huggingface.co"
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=HUB_PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


def hub_unavailable_reason() -> str | None:
    """Why the hub cannot be used right now, or None if it can."""
    if hub_offline():
        return "HF_HUB_OFFLINE is set"
    if not hub_reachable():
        return "the Hugging Face hub is unreachable from this machine"
    return None


def resolve_model_path(model: ModelConfig) -> str:
    """A local folder, a cached hub id, or a clear error (never a hang on the network)."""
    if model.name_or_path is None:
        return demo_model_path()
    name = model.name_or_path
    if is_local(name):
        path = Path(name).expanduser()
        if path.exists() and not path.is_dir():
            raise ModelNotFoundError(
                f"model path {path} is a file, not a folder; pass the folder that holds it "
                "(a Hugging Face model folder with config.json and the weights), or a hub id, "
                "with --model"
            )
        if not path.is_dir():
            raise ModelNotFoundError(
                f"model path {path} does not exist; pass a folder with "
                "config.json and weights, or a hub id, with --model"
            )
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(
                f"model folder {path} has no config.json; it is not a Hugging Face model folder"
            )
        return str(path.resolve())
    reason = hub_unavailable_reason()
    if reason is not None:
        try:
            from huggingface_hub import snapshot_download

            return str(snapshot_download(name, local_files_only=True))
        except Exception:
            raise ModelNotFoundError(
                f"model {name!r} is not a local path, not in the local Hugging Face cache, and "
                f"{reason}; download it where the hub is reachable (hf download {name} "
                "--local-dir DIR) and pass --model DIR"
            ) from None
    return name
