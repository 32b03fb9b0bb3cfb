"""Saving a trained model with everything needed to use it again: architecture, preprocessing, provenance."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from galzoo.errors import DataError
from galzoo.models.registry import create_model

#: Keys the metadata must hold to rebuild the model and its input preprocessing.
REQUIRED = ("model", "num_outputs", "input_size", "output_layer", "scale", "mean", "std")


def save_checkpoint(path: Path, model: nn.Module, metadata: dict[str, Any]) -> None:
    missing = [k for k in REQUIRED if k not in metadata]
    if missing:
        raise ValueError(f"checkpoint metadata lacks {missing}")
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"metadata": metadata, "state_dict": state}, path)


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: model file not found (run the train stage)")
    try:
        blob = torch.load(path, map_location=device, weights_only=True)
        meta = blob["metadata"]
    except Exception as exc:  # torch raises many types for a corrupt file
        raise DataError(f"{path}: not a galzoo model checkpoint: {exc}") from exc
    model = create_model(meta["model"], num_outputs=meta["num_outputs"], input_size=meta["input_size"],
                         output_layer=meta["output_layer"], head=meta.get("head"))
    model.load_state_dict(blob["state_dict"])
    return model.to(device), meta
