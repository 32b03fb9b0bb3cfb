"""Training throughput, images/s: the device-resident data path against the conventional DataLoader +
albumentations path, on the same model in the same run, printed as a ratio. Not a test: figures depend on the
machine and on its other load; the two paths alternate (``--repeat`` rounds) so that load drifts hit both.

Both paths feed the very training step the pipeline uses (``galzoo.training.loop.train_step``: autocast,
memory format, optional torch.compile) to one model and optimiser. Also printed: each path's data-only rate
(batches drawn, no step), the peak memory, and for the scale-study network the training time of the paper's
three-scale budget (3 scales x 20 epochs x 55,420 images) at the measured rate.

    python benchmarks/train_throughput.py --model kabani_maxout --size 64          # scale-study network
    python benchmarks/train_throughput.py --model efficientnet_b0 --size 224       # EfficientNet-B0
    python benchmarks/train_throughput.py --model kabani_maxout --size 64 --n-images 2000 --steps 40   # a CPU

Synthetic uint8 images of the paper's size by default (61,578 on CUDA; 2,000 on a CPU, where a step is slow
and the store's size does not matter): 1,024 random images repeated, which costs no time to make and gathers
from memory like real rows.
"""
from __future__ import annotations

import argparse
import datetime
import itertools
import os
import platform
import resource
import statistics
import sys
import time

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from galzoo.config import load_params
from galzoo.models import create_model
from galzoo.training.augment import keras_augmentation, scale_study_augmentation
from galzoo.training.batch_augment import AffineAugment
from galzoo.training.data import ArrayDataset
from galzoo.training.device_data import DeviceBatches, LoaderBatches
from galzoo.training.loop import train_step
from galzoo.training.runtime import (
    Acceleration,
    autocast_dtype,
    configure_cuda,
    configure_threads,
    memory_format_for,
    prepare_for_training,
    select_device,
)

PAPER_IMAGES = 61_578
"""The Kaggle training set (Kabani & El-Sakka: 55,420 train + 6,158 test)."""
PAPER_STUDY_IMAGES = 3 * 20 * 55_420
"""Images the paper-budget scale study trains on: three scales, 20 epochs, 55,420 training images."""
IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)


def synthetic_store(n: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    block = rng.integers(0, 256, (min(n, 1024), size, size, 3), dtype=np.uint8)
    images = np.resize(block, (n, size, size, 3))
    return images, rng.uniform(0, 1, (n, 37)).astype(np.float32)


def build_model(name: str, size: int, recipe: str) -> nn.Module:
    if recipe == "keras":  # the EfficientNet study's dense-64 sigmoid head
        head = load_params().efficientnet.head
        return create_model(name, num_outputs=37, input_size=size, output_layer="mlp_sigmoid",
                            head={"hidden": head.hidden, "dropout": head.dropout})
    return create_model(name, num_outputs=37, input_size=size)


def both_paths(images, targets, recipe: str, batch_size: int, device: torch.device, memory_format,
               loader_workers: int, seed: int = 0):
    """The loader path and the device path over the same data with the same recipe."""
    params = load_params()
    rows = np.arange(len(images))
    if recipe == "keras":
        settings, mean, std = params.efficientnet.augment, IMAGENET_MEAN, IMAGENET_STD
        cpu_augment, device_augment = keras_augmentation(settings, seed), AffineAugment.keras(settings, mean, std,
                                                                                                device)
    else:
        settings = params.scale_study.augment
        mean, std = images[:1024].reshape(-1, 3).mean(0), images[:1024].reshape(-1, 3).std(0)
        cpu_augment = scale_study_augmentation(settings, seed)
        device_augment = AffineAugment.scale_study(settings, mean, std, device)
    dataset = ArrayDataset(images, rows, targets, np.asarray(mean, np.float32), np.asarray(std, np.float32),
                           cpu_augment)
    if loader_workers:
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True, num_workers=loader_workers,
                            pin_memory=device.type == "cuda", persistent_workers=True)
    else:
        loader = LoaderBatches(dataset, batch_size, seed=seed, device=device)
    resident = DeviceBatches(images, rows, targets, device_augment, batch_size=batch_size, seed=seed, device=device,
                             memory_format=memory_format)
    return [DataPath("loader", loader, 1), DataPath("device", resident, resident.bulk_batches)], resident


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class DataPath:
    """One data path's endless batches, counting what has been drawn so that every timed window covers
    whole bulks of the device path: it augments ``bulk`` batches per call (the last bulk of a pass may be
    shorter), and a window inside a bulk would time slicing, not augmentation."""

    def __init__(self, name: str, source, bulk: int):
        self.name, self.pass_length, self.bulk, self.drawn = name, len(source), bulk, 0
        self.batches = itertools.chain.from_iterable(itertools.repeat(source))

    def _bulk_at(self, position: int) -> int:
        """Batches of the bulk starting ``position`` batches into a pass."""
        return min(self.bulk, self.pass_length - position)

    def align(self, step) -> None:
        """Train, untimed, up to the start of the next bulk."""
        while (self.drawn % self.pass_length) % self.bulk:
            step(*next(self.batches))
            self.drawn += 1

    def window(self, at_least: int) -> int:
        """The fewest batches, at least ``at_least``, from here (a bulk start) to a bulk's end."""
        count, position = 0, self.drawn % self.pass_length
        while count < at_least:
            size = self._bulk_at(position)
            count, position = count + size, (position + size) % self.pass_length
        return count

    def rate(self, steps: int, batch_size: int, device: torch.device, step=None) -> float:
        """Images/s over ``steps`` batches; ``step(x, y)`` trains on each (None: the data alone)."""
        synchronise(device)
        start = time.perf_counter()
        for _ in range(steps):
            x, y = next(self.batches)
            if step is not None:
                step(x, y)
        synchronise(device)
        self.drawn += steps
        return steps * batch_size / (time.perf_counter() - start)


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    model = platform.processor() or "CPU"
    try:
        with open("/proc/cpuinfo") as info:
            model = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="kabani_maxout", help="a registered model (galzoo models)")
    parser.add_argument("--size", type=int, default=64, help="input side in pixels")
    parser.add_argument("--recipe", choices=("scale_study", "keras"),
                        help="augmentation recipe (default: keras for efficientnet_b0, else the scale study's)")
    parser.add_argument("--batch-size", type=int, help="default: the recipe's paper batch (16 or 70)")
    parser.add_argument("--n-images", type=int,
                        help=f"synthetic images (default {PAPER_IMAGES:,} on CUDA, 2,000 on CPU)")
    parser.add_argument("--steps", type=int, default=100, help="timed batches per measurement")
    parser.add_argument("--warmup", type=int, default=10, help="untimed batches before each measurement")
    parser.add_argument("--repeat", type=int, default=3, help="rounds, each measuring both paths in turn")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto")
    parser.add_argument("--memory-format", choices=("auto", "channels_last", "contiguous"), default="auto")
    parser.add_argument("--compile", choices=("none", "default", "reduce-overhead", "max-autotune"), default="none")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument("--loader-workers", type=int, default=0,
                        help="DataLoader workers of the loader path (default 0, as the pipeline runs it)")
    args = parser.parse_args()

    configure_threads(args.threads)
    device = select_device(args.device)
    configure_cuda(device)
    recipe = args.recipe or ("keras" if args.model == "efficientnet_b0" else "scale_study")
    params = load_params()
    batch_size = args.batch_size or (params.efficientnet.recipe.batch_size if recipe == "keras"
                                     else params.scale_study.recipe.batch_size)
    n_images = args.n_images or (PAPER_IMAGES if device.type == "cuda" else 2000)
    amp = autocast_dtype(args.precision, device)
    accel = Acceleration(memory_format=memory_format_for(args.memory_format, device),
                         compile_mode=None if args.compile == "none" else args.compile)

    print(f"{datetime.datetime.now():%Y-%m-%d %H:%M}  {describe_device(device)}  torch {torch.__version__}")
    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())} (before the run)")
    print(f"{args.model} at {args.size} px, {recipe} augmentation, batch {batch_size}, {n_images:,} synthetic images, "
          f"{'fp32' if amp is None else 'bf16 autocast'}, "
          f"{'channels_last' if accel.channels_last else 'contiguous'}, compile {args.compile}")
    images, targets = synthetic_store(n_images, args.size)
    model = build_model(args.model, args.size, recipe).to(device)
    net = prepare_for_training(model, accel, device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    loss_fn = nn.MSELoss()

    def step(x, y):
        train_step(net, optimizer, loss_fn, x, y, device=device, amp_dtype=amp, accel=accel)

    paths, resident = both_paths(images, targets, recipe, batch_size, device, accel.memory_format, args.loader_workers)
    bulk = min(resident.bulk_batches, len(resident))
    print(f"device path: the split is {'resident on' if resident.resident else 'streamed to'} {device} "
          f"({images.nbytes / 2**30:.2f} GiB of uint8), augmented {bulk} batches per call")
    training: dict[str, list[float]] = {path.name: [] for path in paths}
    data_only: dict[str, list[float]] = {path.name: [] for path in paths}
    loader, device_path = paths
    for round_number in range(1, args.repeat + 1):
        for path in paths:
            path.rate(args.warmup, batch_size, device, step)
        device_path.align(step)
        steps = device_path.window(args.steps)  # whole bulks of the device path; the same count for both
        for path in paths:
            training[path.name].append(path.rate(steps, batch_size, device, step))
        steps = device_path.window(args.steps)
        for path in paths:
            data_only[path.name].append(path.rate(steps, batch_size, device))
        print(f"round {round_number} ({steps} batches): " + "  ".join(
            f"{path.name} {training[path.name][-1]:,.0f} img/s" for path in paths), flush=True)
    median = {name: statistics.median(values) for name, values in training.items()}
    for path in paths:
        values = sorted(training[path.name])
        print(f"{path.name:>6} path: training {median[path.name]:9,.1f} img/s (min {values[0]:,.1f}, max "
              f"{values[-1]:,.1f}); data only {statistics.median(data_only[path.name]):10,.0f} img/s")
    print(f"device / loader training throughput: {median['device'] / median['loader']:.2f}x")
    if device.type == "cuda":
        print(f"peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB")
    print(f"peak resident memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")
    if args.model == "kabani_maxout":
        minutes = PAPER_STUDY_IMAGES / median["device"] / 60
        print(f"paper-budget three-scale study (3 x 20 epochs x 55,420 images) at the device path's rate: "
              f"{minutes:,.1f} min of training steps")


if __name__ == "__main__":
    sys.exit(main())
