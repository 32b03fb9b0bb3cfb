"""Training-step throughput of registered networks, images/s: which model a CPU budget can afford.

One SGD step (forward, cross-entropy, backward, update) on random inputs of the classifier's size, per model,
in NCHW and in channels-last memory format alternately (``--repeat`` rounds, so that load drifts hit both).
Not a test: figures depend on the machine and its other load.

    python benchmarks/model_throughput.py                                  # every model of the CNN comparison
    python benchmarks/model_throughput.py --models kabani_maxout,alexnet --threads 2 --batch-size 32
    python benchmarks/model_throughput.py --models kabani_maxout --compile   # + torch.compile (inductor), NCHW
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from torch import nn

from galzoo.models import create_model

COMPARISON_MODELS = ("kabani_maxout", "alexnet", "dieleman", "vgg16", "inception_v3", "preact_resnet50",
                     "dai_resnet26", "efficientnet_b0")


def step_rate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    """Images per second over ``steps`` training steps (after one untimed step, which compiles a compiled model)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    model.train()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()

    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * len(x) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(COMPARISON_MODELS))
    parser.add_argument("--size", type=int, default=64, help="input side (the CNN comparison's 64 px)")
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--compile", action="store_true",
                        help="also time torch.compile (default mode) in NCHW, and the seconds its first step takes")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {args.threads} threads, batch {args.batch_size}, {args.size} px, "
          f"{args.steps} steps x {args.repeat} rounds; load average {os.getloadavg()[0]:.2f}")
    compiled_header = " compiled img/s | compile s |" if args.compile else ""
    print(f"| model | parameters | NCHW img/s | channels_last img/s | ratio |{compiled_header}")
    print("|---|---|---|---|---|" + ("---|---|" if args.compile else ""))
    for name in args.models.split(","):
        model = create_model(name, num_outputs=args.classes, input_size=args.size)
        x = torch.randn(args.batch_size, 3, args.size, args.size)
        y = torch.randint(0, args.classes, (args.batch_size,))
        rates = {"nchw": [], "channels_last": []}
        for _ in range(args.repeat):
            rates["nchw"].append(step_rate(model.to(memory_format=torch.contiguous_format), x, y, args.steps))
            rates["channels_last"].append(step_rate(model.to(memory_format=torch.channels_last),
                                                    x.contiguous(memory_format=torch.channels_last), y, args.steps))
        nchw, last = statistics.median(rates["nchw"]), statistics.median(rates["channels_last"])
        n_params = sum(p.numel() for p in model.parameters()) / 1e6
        row = f"| {name} | {n_params:.1f}M | {nchw:.1f} | {last:.1f} | {last / nchw:.2f}x |"
        if args.compile:
            compiled = torch.compile(model.to(memory_format=torch.contiguous_format))
            start = time.perf_counter()
            rate = step_rate(compiled, x, y, args.steps * args.repeat)
            total = time.perf_counter() - start
            row += f" {rate:.1f} | {total - args.steps * args.repeat * len(x) / rate:.0f} |"
        print(row, flush=True)


if __name__ == "__main__":
    main()
