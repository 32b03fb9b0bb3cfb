"""``runtime`` (how training computes) and ``evaluate`` (how a trained model is scored)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from galzoo.config.schema import positives, require


@dataclass(frozen=True)
class EvaluateParams:
    batch_size: int = 256
    nondeterministic_passes: int = 1

    def check(self, key: str) -> None:
        positives(key, self, "batch_size", "nondeterministic_passes")


@dataclass(frozen=True)
class RuntimeParams:
    """How training computes (galzoo.training.runtime says what each ``auto`` resolves to, and why)."""

    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    threads: int = 0
    data_path: Literal["auto", "device", "loader"] = "auto"
    memory_format: Literal["auto", "channels_last", "contiguous"] = "auto"
    compile: Literal["none", "default", "reduce-overhead", "max-autotune"] = "none"
    nproc: int = 1                 # processes of the train stages (torchrun --nproc_per_node)
    nodes: int = 1                 # machines training one model together (torchrun --nnodes)
    rendezvous: str = "auto"       # host:port of their c10d rendezvous; auto = $MASTER_ADDR:$MASTER_PORT
    resident_fraction: float = 0.5  # the device path keeps a split on the device up to this share of its free memory

    def check(self, key: str) -> None:
        require(self.threads >= 0, f"{key}.threads", "0 (torch's default) or more", self.threads)
        require(self.nproc >= 1, f"{key}.nproc", "1 or more processes", self.nproc)
        require(self.nodes >= 1, f"{key}.nodes", "1 or more machines", self.nodes)
        if self.rendezvous != "auto":
            from galzoo.training.launch import parse_endpoint

            parse_endpoint(self.rendezvous, f"{key}.rendezvous")
        require(0 < self.resident_fraction <= 1, f"{key}.resident_fraction", "a fraction in (0, 1]",
                self.resident_fraction)
