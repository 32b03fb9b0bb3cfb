"""ImageNet weights for a built model: ``none``, a local weights file, or a timm hub name.

The studies fine-tune ImageNet networks, but weights come from the network (the Hugging Face hub) and
many machines (clusters, this project's CI) have none. huggingface_hub retries for about a minute before
it gives up, so the hub is probed first with a short connection timeout and an unreachable hub is an
error within seconds that says how to provide the weights as a file instead.
"""
from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import torch
from torch import nn

from galzoo.compat import import_timm
from galzoo.errors import GalzooError

HUB_HOST = ("huggingface.co", 443)
PROBE_TIMEOUT_S = 4.0
WEIGHT_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors")


class PretrainedUnavailable(GalzooError):
    """The requested weights cannot be had: names the spec and says how to provide them."""


def how_to_provide(spec: str) -> str:
    return (f"to use {spec!r}, download the weights on a machine with network access (e.g. `python -c \"import "
            f"timm; timm.create_model('{spec}', pretrained=True)\"` fills the Hugging Face cache, or "
            f"`huggingface-cli download {spec if '/' in spec else 'timm/' + spec}`), then either copy the cache "
            f"(~/.cache/huggingface) here and set HF_HUB_OFFLINE=1, or set the parameter to the local "
            f"weights file (model.safetensors or a .pth state dict); `none` trains from scratch")


def load_pretrained(model: nn.Module, spec: str, *, probe: tuple[str, int] = HUB_HOST) -> str:
    """Load ``spec`` into ``model``'s backbone (its head stays as built); returns a line saying what loaded.

    The backbone is ``model.backbone`` when the model has a head (:class:`MLPSigmoidHead`), else the model.
    Only the backbone's classifier may be missing from or differ in the weights; anything else that does
    not match is an error listing the keys, because silently half-loaded weights look like a bad model.
    """
    if spec in ("", "none"):
        return "pretrained: none (trained from scratch)"
    backbone = getattr(model, "backbone", model)
    if _looks_like_file(spec):
        state = _read_weights_file(Path(spec))
        source = f"file {spec}"
    else:
        state = _hub_state_dict(spec, probe)
        source = f"hub {spec}"
    classifier = _classifier_prefixes(backbone)
    own = backbone.state_dict()
    usable = {k: v for k, v in state.items()
              if k in own and own[k].shape == v.shape and not k.startswith(classifier)}
    missing = [k for k in own if k not in usable and not k.startswith(classifier)]
    if missing:
        raise PretrainedUnavailable(f"pretrained {source}: {len(missing)} backbone weight(s) are missing or have "
                                    f"another shape, e.g. {missing[:5]}: are these weights for this network?")
    backbone.load_state_dict(usable, strict=False)
    return f"pretrained: {len(usable)} tensors from {source} (classifier left as built)"


def _looks_like_file(spec: str) -> bool:
    return spec.endswith(WEIGHT_SUFFIXES) or os.sep in spec.replace("timm/", "", 1) or Path(spec).exists()


def _read_weights_file(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise PretrainedUnavailable(f"pretrained: weights file {path} not found (expected a .safetensors file "
                                    f"or a torch state dict)")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch and safetensors raise many types for a bad file
        raise PretrainedUnavailable(f"pretrained: {path} is not a readable weights file: {exc}") from exc
    for key in ("state_dict", "model"):  # common checkpoint wrappers
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise PretrainedUnavailable(f"pretrained: {path} does not hold a state dict of tensors")
    return state


def _hub_state_dict(spec: str, probe: tuple[str, int]) -> dict[str, torch.Tensor]:
    timm = import_timm()
    name = spec.removeprefix("timm/")
    architecture = name.split(".")[0]
    if architecture not in timm.list_models():
        raise PretrainedUnavailable(f"pretrained: {spec!r} is neither a file nor a timm model name")
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    if not offline and not _reachable(probe):
        raise PretrainedUnavailable(f"pretrained: cannot reach {probe[0]} to download {spec!r} (no network?); "
                                    + how_to_provide(spec))
    try:
        return timm.create_model(name, pretrained=True, num_classes=0).state_dict()
    except Exception as exc:  # hub and cache errors come in many types
        where = "in the local Hugging Face cache (HF_HUB_OFFLINE is set)" if offline else "from the hub"
        raise PretrainedUnavailable(f"pretrained: could not load {spec!r} {where}: {exc}; "
                                    + how_to_provide(spec)) from exc


def _reachable(address: tuple[str, int], timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether a TCP connection to ``address`` opens within ``timeout`` seconds, DNS lookup included
    (run in a thread because a stalled resolver ignores socket timeouts)."""
    result: list[bool] = []

    def connect() -> None:
        try:
            socket.create_connection(address, timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def _classifier_prefixes(backbone: nn.Module) -> tuple[str, ...]:
    """State-dict prefixes of the backbone's classifier (timm's ``get_classifier``, else its last dense layer)."""
    names = {id(m): n for n, m in backbone.named_modules()}
    if hasattr(backbone, "get_classifier"):
        classifier = backbone.get_classifier()
        if isinstance(classifier, nn.Module) and id(classifier) in names:
            return (names[id(classifier)] + ".",)
    dense = [n for n, m in backbone.named_modules() if isinstance(m, nn.Linear)]
    return (dense[-1] + ".",) if dense else ("\0",)
