"""Make ``import torchvision`` (pulled in by timm) work beside a CPU-only torch.

The only torchvision release matching torch 2.13.0 is a CUDA build. With the CPU torch its compiled
library fails to load, and ``torchvision/_meta_registrations.py`` then dies registering fake kernels for
``torchvision::nms`` and ``torchvision::qnms``, operators that were never defined. Classification needs
none of torchvision's compiled ops, so we declare those two schemas ourselves (schemas only, no kernels)
before torchvision is imported. Calling them still fails loudly, which is what we want.

Import timm through :func:`import_timm`, never at module level, so the patch always runs first.
"""
from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import torch

_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
_library: torch.library.Library | None = None


def _torchvision_compiled_ops_load() -> bool:
    """True when torchvision's own _C library loads (then it defines its ops itself)."""
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return False
    lib = next(Path(next(iter(spec.submodule_search_locations))).glob("_C*.so"), None)
    if lib is None:
        return False
    try:
        torch.ops.load_library(str(lib))
    except (OSError, RuntimeError):
        return False
    return True


def patch_torchvision() -> None:
    """Declare the missing ``torchvision::`` schemas when the compiled ops cannot load. Idempotent."""
    global _library
    if _library is not None or "torchvision" in sys.modules:
        return
    if _torchvision_compiled_ops_load():
        return
    _library = torch.library.Library("torchvision", "FRAGMENT")
    for schema in _SCHEMAS:
        _library.define(schema)


def import_timm() -> types.ModuleType:
    """timm, imported only when a network is built: it pulls in torchvision, which needs the patch first.

    Kept out of module level so that checking a model name (every ``load_params``) stays free of timm.
    """
    patch_torchvision()
    import timm

    return timm
