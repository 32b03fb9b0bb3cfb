"""Saving a trained model with everything needed to use it again: architecture, preprocessing, provenance."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from galzoo.errors import DataError, GalzooError
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
    """The model a checkpoint describes, with its weights loaded, on ``device``, and the checkpoint's metadata.

    Every way a file can fail to be a usable checkpoint is a DataError naming the file and what was expected:
    not loadable by torch, not the ``{"metadata", "state_dict"}`` dict ``save_checkpoint`` writes, metadata
    lacking a key of ``REQUIRED`` or naming an architecture that cannot be built, weights that do not fit it.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: model file not found (run the train stage)")
    try:
        blob = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # torch raises many types for a corrupt file
        raise DataError(f"{path}: not a galzoo model checkpoint: {exc}") from exc
    if not isinstance(blob, Mapping) or "metadata" not in blob or "state_dict" not in blob:
        found = f"keys {_some(list(blob))}" if isinstance(blob, Mapping) else f"a {type(blob).__name__}"
        raise DataError(f"{path}: not a galzoo model checkpoint: expected a dict with 'metadata' and 'state_dict' "
                        f"(as galzoo's training stages save), found {found}")
    meta, state = blob["metadata"], blob["state_dict"]
    if not isinstance(meta, dict):
        raise DataError(f"{path}: checkpoint metadata is a {type(meta).__name__}, expected a dict")
    missing = [key for key in REQUIRED if key not in meta]
    if missing:
        raise DataError(f"{path}: checkpoint metadata lacks {', '.join(missing)} (a galzoo checkpoint has "
                        f"{', '.join(REQUIRED)}); was it saved by a galzoo training stage?")
    for key in ("num_outputs", "input_size"):
        value = meta[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise DataError(f"{path}: checkpoint metadata {key} = {value!r}; expected a positive integer")
    try:
        model = create_model(meta["model"], num_outputs=meta["num_outputs"], input_size=meta["input_size"],
                             output_layer=meta["output_layer"], head=meta.get("head"))
    except (GalzooError, KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{path}: the checkpoint's metadata does not describe a model galzoo can build "
                        f"({_architecture(meta)}): {exc}") from exc
    _check_weights(path, meta, state, model.state_dict())
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:  # whatever _check_weights did not foresee
        raise DataError(f"{path}: the weights do not fit {_architecture(meta)}: {exc}") from exc
    return model.to(device), meta


def _some(names: list[Any], n: int = 3) -> str:
    """The first ``n`` names, and how many more."""
    shown = ", ".join(map(str, names[:n]))
    return shown + (f" and {len(names) - n} more" if len(names) > n else "")


def _architecture(meta: dict[str, Any]) -> str:
    return (f"{meta.get('model')!r} with {meta.get('num_outputs')} outputs, {meta.get('input_size')} px inputs, "
            f"output layer {meta.get('output_layer')!r}")


def _check_weights(path: Path, meta: dict[str, Any], state: Any, expected: dict[str, torch.Tensor]) -> None:
    """A DataError naming the missing, unexpected and wrongly shaped weights, unless ``state`` fits."""
    if not isinstance(state, Mapping):
        raise DataError(f"{path}: the checkpoint's state_dict is a {type(state).__name__}, expected a dict of "
                        f"weight tensors for {_architecture(meta)}")
    problems = []
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    if missing:
        problems.append(f"{len(missing)} weight(s) missing ({_some(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected weight(s) ({_some(unexpected)})")
    for key, tensor in expected.items():
        if key not in state:
            continue
        shape = getattr(state[key], "shape", None)
        if shape is None:
            problems.append(f"{key} is a {type(state[key]).__name__}, not a tensor")
        elif tuple(shape) != tuple(tensor.shape):
            problems.append(f"{key} has shape {tuple(shape)} in the file, {tuple(tensor.shape)} in the model")
        if len(problems) >= 6:
            break
    if problems:
        raise DataError(f"{path}: the weights do not fit the architecture its metadata names "
                        f"({_architecture(meta)}): " + "; ".join(problems)
                        + " (saved from another model, or its metadata edited?)")
