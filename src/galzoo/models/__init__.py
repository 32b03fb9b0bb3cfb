"""Paper networks behind one registry: use :func:`create_model` and :func:`list_models`.

Importing this package imports every model family, and each registers itself with
:mod:`galzoo.models.registry`, which imports none of them (no cycle). No family imports timm before a
network is built, so checking a model name stays cheap.
"""
from galzoo.models import dai_resnet, dieleman, imagenet, kabani, timm_models  # noqa: F401  (they register)
from galzoo.models.registry import check_model_name, create_model, list_models, register_model

__all__ = ["check_model_name", "create_model", "list_models", "register_model"]
