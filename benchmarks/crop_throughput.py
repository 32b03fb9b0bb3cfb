"""Throughput of the crop stage: images/s per core for one image's full crop and for build_store end to end.

One image's crop is decode + normalized side + the three 64x64 views; the paper's whole data set (61,578
images) is worth cropping in minutes only if this stays at or above ``TARGET_PER_CORE``. Not a test:
the figures depend on the machine, and on a shared virtual machine on its neighbours too (they slow even
CPU time, which counts no stolen cycles). So wall-clock rates are given as median (min, max) over
``--repeat`` runs, with images per CPU-second, and the decode-only rate is printed as the yardstick: the
ratio "the crop costs N decodes" drifts far less than either.

    .venv/bin/python benchmarks/crop_throughput.py [--images DIR] [--workers N] [--repeat R]
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from galzoo.preprocess import build_store, crop_all_scales, read_rgb
from galzoo.preprocess.store import keep_freed_memory

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_IMAGES = REPO_ROOT.parent / "shared" / "data" / "gz_kaggle_sample" / "images"
TARGET_PER_CORE = 250
"""Images/s per core: ~4 ms per image, about twice a 424x424 JPEG decode."""


def crop_one(path: Path) -> None:
    crop_all_scales(read_rgb(path))


@dataclass(frozen=True)
class Run:
    """One timed pass: wall-clock seconds, and CPU seconds of this process and its reaped children."""

    wall: float
    cpu: float


def timed(work: Callable[[], object]) -> Run:
    before, start = os.times(), time.perf_counter()
    work()
    wall, after = time.perf_counter() - start, os.times()
    cpu = sum(after[i] - before[i] for i in range(4))  # user, system, children's user, children's system
    return Run(wall, cpu)


def crop_runs(work: Callable[[Path], object], paths: list[Path], repeat: int) -> list[Run]:
    """``work(path)`` over every path in this process, once per repeat."""
    def run_all() -> None:
        for path in paths:  # results are dropped at once: keeping them would measure memory, not speed
            work(path)

    return [timed(run_all) for _ in range(repeat)]


def store_runs(paths: list[Path], workers: int, repeat: int) -> list[Run]:
    """build_store end to end (pool start-up, crops, memory-mapped writes, index), once per repeat."""
    ids = list(range(len(paths)))
    runs = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="galzoo-bench-") as out_dir:
            out = Path(out_dir)
            runs.append(timed(lambda: build_store(paths, ids, out, workers=workers, progress=False)))
    return runs


def summary(runs: list[Run], count: int, cores: int) -> str:
    """Wall-clock rate (what a user waits) and images per CPU-second (the per-core cost, free of waits for
    a busy core); the target is checked on the latter."""
    wall = sorted(count / run.wall for run in runs)
    per_cpu_second = statistics.median(count / run.cpu for run in runs)
    verdict = "meets" if per_cpu_second >= TARGET_PER_CORE else "below"
    return (f"{statistics.median(wall):5.0f} img/s wall (min {wall[0]:.0f}, max {wall[-1]:.0f}; "
            f"{statistics.median(wall) / cores:.0f} per core), {per_cpu_second:4.0f} img per CPU-second "
            f"= {1000 / per_cpu_second:.2f} ms/img [{verdict} target {TARGET_PER_CORE}]")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=Path, default=DEFAULT_IMAGES, help="folder of 424x424 .jpg images")
    parser.add_argument("--workers", type=int, default=1, help="build_store workers (all cores are run too)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each measurement")
    args = parser.parse_args()
    paths = sorted(args.images.glob("*.jpg"))
    if not paths:
        sys.exit(f"no .jpg images in {args.images}")
    for path in paths:  # the first pass would otherwise time the disk, not the crop
        path.read_bytes()

    print(f"{time.strftime('%Y-%m-%d %H:%M')}  {len(paths)} images from {args.images}, {args.repeat} repeats, "
          f"{os.cpu_count()} cores, load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    keep_freed_memory()  # as build_store does in each of its processes
    # Decoding alone is the yardstick: on a shared machine absolute rates drift, the ratio much less.
    count = len(paths)
    decode = crop_runs(read_rgb, paths, args.repeat)
    crop = crop_runs(crop_one, paths, args.repeat)
    print(f"decode only (read_rgb):      {summary(decode, count, 1)}")
    print(f"per-image crop (1 process):  {summary(crop, count, 1)}")
    ratio = statistics.median(run.cpu for run in crop) / statistics.median(run.cpu for run in decode)
    print(f"the crop costs {ratio:.1f} decodes")
    for workers in sorted({args.workers, os.cpu_count() or 1}):
        runs = store_runs(paths, workers, args.repeat)
        print(f"build_store, {workers} worker(s):   {summary(runs, count, workers)}")
    kib = 1024  # ru_maxrss is in KiB on Linux
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / kib
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / kib
    print(f"peak resident memory: this process {own:.0f} MiB, largest worker {children:.0f} MiB")


if __name__ == "__main__":
    main()
