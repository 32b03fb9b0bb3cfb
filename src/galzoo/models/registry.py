"""Model registry: ``create_model(name, num_outputs=..., input_size=...)`` builds any paper network.

Stages never branch on model names: they ask the registry, as in timm. The layering is one-way: this module
imports no model family; each family module imports it and registers its factories with :func:`register_model`,
and the package ``galzoo.models`` imports every family. Use the package, not this module, to see all models.
"""
from __future__ import annotations

import inspect
import sys
from dataclasses import dataclass
from typing import Any, Callable

from torch import nn

from galzoo.errors import ConfigError
from galzoo.models.layers import DielemanTreeLayer, MLPSigmoidHead

#: linear = the network's own last layer gives the outputs; tree = Dieleman's normalising layer on top;
#: mlp_sigmoid = the network's last layer gives ``head["hidden"]`` features, then ReLU, a dense layer and a
#: sigmoid (Kalvankar et al.'s EfficientNet-B0 head: GAP, dropout, dense 64 ReLU, dense 37 sigmoid).
OUTPUT_LAYERS = ("linear", "tree", "mlp_sigmoid")


@dataclass(frozen=True)
class ModelEntry:
    name: str
    factory: Callable[..., nn.Module]
    summary: str


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(name: str, summary: str):
    """Decorator: register ``factory(num_outputs, input_size) -> nn.Module`` under ``name``."""

    def decorate(factory):
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = ModelEntry(name, factory, summary)
        return factory

    return decorate


def list_models() -> dict[str, str]:
    """Registered names and one-line summaries, sorted by name."""
    return {name: _REGISTRY[name].summary for name in sorted(_REGISTRY)}


def check_model_name(name: str, key: str = "model") -> None:
    """A ConfigError naming ``key`` and listing the registered models unless ``name`` is one of them."""
    if name not in _REGISTRY:
        raise ConfigError(f"{key}: unknown model {name!r}; registered models: {', '.join(sorted(_REGISTRY))}")


def create_model(name: str, *, num_outputs: int, input_size: int, output_layer: str = "linear",
                 head: dict[str, Any] | None = None) -> nn.Module:
    """Build model ``name`` with ``num_outputs`` outputs for square inputs of ``input_size`` pixels.

    ``output_layer='tree'`` appends Dieleman's normalising layer so 37-answer predictions obey the tree;
    ``'mlp_sigmoid'`` needs ``head = {"hidden": int, "dropout": float}``: the network is built with
    ``hidden`` outputs and its own pre-logit dropout set to ``dropout`` where the factory exposes one.
    """
    check_model_name(name)
    if output_layer not in OUTPUT_LAYERS:
        raise ConfigError(f"output_layer: expected one of {list(OUTPUT_LAYERS)}, got {output_layer!r}")
    factory = _REGISTRY[name].factory
    if output_layer != "mlp_sigmoid":
        model = factory(num_outputs=num_outputs, input_size=input_size)
        return nn.Sequential(model, DielemanTreeLayer()) if output_layer == "tree" else model
    if not head or set(head) != {"hidden", "dropout"}:
        raise ConfigError(f"output_layer mlp_sigmoid: expected head with keys hidden and dropout, got {head}")
    if "dropout" in inspect.signature(factory).parameters:
        backbone = factory(num_outputs=head["hidden"], input_size=input_size, dropout=head["dropout"])
    else:
        print(f"{name}: head dropout {head['dropout']} not applied: this network keeps its own dropout",
              file=sys.stderr)
        backbone = factory(num_outputs=head["hidden"], input_size=input_size)
    return MLPSigmoidHead(backbone, head["hidden"], num_outputs)
