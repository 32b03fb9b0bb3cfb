"""What a checkpoint needs to turn one image into model inputs, as typed objects saved in its metadata.

Each study owns one kind (a :class:`ModelInput` subclass in its module, registered with
:func:`register_model_input`); its training stage saves ``model_input.metadata()`` under
``meta["preprocessing"]`` and ``galzoo predict`` restores the object with :func:`model_input_from_metadata`,
so a prediction on an image equals the pipeline's prediction on the same image. Channel statistics
(``mean``/``std``, 0-255 units) stay at the top of the metadata, where the evaluate stages read them too.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from galzoo.errors import ConfigError, DataError
from galzoo.preprocess.crops import centre_crop, check_scale, crop_all_scales, crop_side, resize_square

_KINDS: dict[str, type[ModelInput]] = {}


class ModelInput(ABC):
    """uint8 ``H x W x 3`` image -> float32 ``V x 3 x S x S`` model inputs (V views, averaged afterwards)."""

    #: the value of ``meta["preprocessing"]["kind"]``
    kind: ClassVar[str]
    #: True when the crops are relative to the image (any size fits); False when crop sides are in pixels
    #: of a 424 px Galaxy Zoo image, so another size shows the galaxy at another scale than in training
    any_image_size: ClassVar[bool] = False

    @classmethod
    @abstractmethod
    def from_metadata(cls, meta: dict[str, Any], settings: dict[str, Any]) -> ModelInput:
        """Rebuild from a checkpoint's metadata; KeyError/TypeError/ValueError/DataError say what is off."""

    @abstractmethod
    def metadata(self) -> dict[str, Any]:
        """What the checkpoint stores under ``meta["preprocessing"]`` (with ``kind``)."""

    @abstractmethod
    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """The model inputs of one image."""


def register_model_input(cls: type[ModelInput]) -> type[ModelInput]:
    """Class decorator: ``cls.kind`` names ``cls`` in checkpoints (one owner per kind)."""
    if cls.kind in _KINDS:
        raise ValueError(f"model input kind {cls.kind!r} is registered twice")
    _KINDS[cls.kind] = cls
    return cls


LEGACY_KIND = "store_view"
"""The kind of a checkpoint without ``meta["preprocessing"]``: scale-study models from before it carried one."""


def model_input_from_metadata(meta: dict[str, Any], model_path: Path) -> ModelInput:
    """The input pipeline a checkpoint was trained with; errors name the model file."""
    settings = meta.get("preprocessing") or {"kind": LEGACY_KIND}
    kind = settings.get("kind") if isinstance(settings, dict) else settings
    if kind not in _KINDS:
        raise DataError(f"{model_path}: unknown preprocessing kind {kind!r} in the model's metadata; "
                        f"galzoo predict knows {', '.join(sorted(_KINDS))}")
    try:
        return _KINDS[kind].from_metadata(meta, settings)
    except (KeyError, TypeError, ValueError, ConfigError, DataError) as err:
        raise DataError(f"{model_path}: incomplete or invalid {kind!r} preprocessing metadata ({err})") from err


def store_view(rgb: np.ndarray, scale: str, output_size: int) -> np.ndarray:
    """One image's row of the crop stage's array for ``scale`` (``normalized`` or ``crop<N>``), uint8.

    The same computation as ``crop_all_scales`` (which ``build_store`` calls); for a fixed ``crop<N>`` it
    skips measuring the normalized side, which that view does not use and which costs 3x the decoding.
    """
    check_scale(scale)
    if scale == "normalized":
        views, _ = crop_all_scales(rgb, output_size, (scale,))
        return views[scale]
    return resize_square(centre_crop(rgb, crop_side(scale, 0)), output_size)


def stats_from_metadata(meta: dict[str, Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """The checkpoint's per-channel ``mean``/``std`` (0-255 units), or None when it has none."""
    mean, std = meta.get("mean"), meta.get("std")
    if mean is None and std is None:
        return None
    wrong = f"metadata mean/std must both be None or 1 or 3 numbers with std > 0, got {mean}, {std}"
    try:
        mean, std = np.asarray(mean, np.float64).reshape(-1), np.asarray(std, np.float64).reshape(-1)
    except (TypeError, ValueError) as err:
        raise DataError(wrong) from err
    if mean.size not in (1, 3) or std.size not in (1, 3) or not np.isfinite(mean).all() or not (std > 0).all():
        raise DataError(wrong)
    return mean.astype(np.float32), std.astype(np.float32)


def standardise(image: np.ndarray, stats: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """``H x W x 3`` float -> ``3 x H x W`` float32, ``(x - mean) / std`` per channel when ``stats`` is set."""
    image = image.astype(np.float32)
    if stats is not None:
        image = (image - stats[0]) / stats[1]
    return np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)
