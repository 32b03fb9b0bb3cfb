"""Inference throughput of ``galzoo predict`` end to end: JPEG decoding, the preprocessing a checkpoint names,
the network, and the CSV, in images/s. Not a test: the figures depend on the machine and its other load.

One untrained checkpoint per preprocessing kind, with the metadata the train stages write: the scale study's
``normalized`` crop (kabani_maxout, 64 px), Dai & Tong's four multi-scale test views (kabani_maxout, 5 classes)
and the EfficientNet study's 212 -> 224 centre crop (efficientnet_b0). Images: the real Kaggle sample beside
the project when present, else synthetic 424x424 JPEGs written to a temporary folder.

    python benchmarks/predict_throughput.py [--images DIR] [--limit N] [--kinds scale_study multiscale centre_crop]
        [--batch-size 64] [--workers 0] [--device auto] [--tta] [--repeat 2]
"""
from __future__ import annotations

import argparse
import datetime
import os
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from galzoo.config import load_params
from galzoo.models import create_model
from galzoo.models.checkpoint import save_checkpoint
from galzoo.predict import predict_to_csv
from galzoo.preprocess import read_rgb

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_IMAGES = REPO_ROOT.parent / "shared" / "data" / "gz_kaggle_sample" / "images"
KINDS = ("scale_study", "multiscale", "centre_crop")


def metadata(kind: str) -> dict:
    """What train_scale, train_classifier and train_votes save for each preprocessing kind."""
    params = load_params()
    if kind == "scale_study":
        return {"model": "kabani_maxout", "task": "votes37", "num_outputs": 37, "input_size": 64,
                "output_layer": "linear", "scale": "normalized", "mean": [20.0, 18.0, 15.0], "std": [30.0, 28.0, 25.0],
                "budget": "embedded", "seed": 0}
    if kind == "multiscale":
        c = params.cnn_comparison
        return {"model": "kabani_maxout", "task": "gz2_5class", "num_outputs": 5,
                "class_names": ["a", "b", "c", "d", "e"], "input_size": c.augment.input_size,
                "output_layer": "linear", "scale": f"crop{c.crop.source_side}", "mean": None, "std": None,
                "preprocessing": {"kind": "multiscale", "source_side": c.crop.source_side,
                                  "store_size": c.crop.store_size, "augment": asdict(c.augment),
                                  "test_sides": list(c.test_sides), "whitening": "per_image"},
                "budget": "embedded", "seed": 0}
    e, size = params.efficientnet, params.efficientnet.recipe.input_size
    return {"model": "efficientnet_b0", "task": "votes37", "num_outputs": 37, "input_size": size,
            "output_layer": e.output_layer, "head": {"hidden": e.head.hidden, "dropout": e.head.dropout},
            "scale": f"crop{e.crop.source_side}", "mean": [123.7, 116.3, 103.5], "std": [58.4, 57.1, 57.4],
            "preprocessing": {"kind": "centre_crop", "crop_side": e.crop.source_side, "size": size},
            "pretrained": "none", "phases": {}, "budget": "embedded", "seed": 0}


def save_untrained(path: Path, meta: dict) -> Path:
    torch.manual_seed(0)
    model = create_model(meta["model"], num_outputs=meta["num_outputs"], input_size=meta["input_size"],
                         output_layer=meta["output_layer"], head=meta.get("head"))
    save_checkpoint(path, model, meta)
    return path


def synthetic_jpegs(folder: Path, n: int) -> list[Path]:
    """Sky noise and an elliptical galaxy of a random size: the normalized crop has something to measure."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:424, :424] - 211.5
    paths = []
    for i in range(n):
        radius = rng.uniform(10, 80)
        galaxy = np.exp(-((x / radius) ** 2 + (y / (0.6 * radius)) ** 2))
        image = rng.normal(12, 3, (424, 424, 3)) + galaxy[..., None] * [230, 180, 120]
        path = folder / f"{100000 + i}.jpg"
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(path, quality=90)
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, default=DEFAULT_IMAGES, help="folder of .jpg images")
    parser.add_argument("--limit", type=int, default=0, help="use the first N images (0 = all)")
    parser.add_argument("--synthetic", type=int, default=256, help="JPEGs to write when --images is absent")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=0, help="decoding processes (galzoo predict --workers)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--tta", action="store_true", help="8-fold D4 test-time augmentation")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs per kind (the median is reported)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="galzoo-predict-bench-") as scratch:
        scratch = Path(scratch)
        if args.images.is_dir():
            paths, source = sorted(args.images.glob("*.jpg")), str(args.images)
        else:
            paths, source = synthetic_jpegs(scratch / "images", args.synthetic), f"{args.synthetic} synthetic JPEGs"
        if args.limit:
            paths = paths[:args.limit]
        if not paths:
            sys.exit(f"no .jpg images in {args.images}")
        inputs = scratch / "inputs"
        inputs.mkdir()
        for path in paths:  # one folder of exactly these files, read once so the page cache holds them
            (inputs / path.name).symlink_to(path.resolve())
            path.read_bytes()
        print(f"{datetime.datetime.now():%Y-%m-%d %H:%M}  {len(paths)} images from {source}, {os.cpu_count()} cores, "
              f"torch {torch.__version__}, load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
        start = time.perf_counter()
        for path in paths:
            read_rgb(path)
        print(f"decode only (read_rgb): {len(paths) / (time.perf_counter() - start):,.0f} img/s")
        for kind in args.kinds:
            model_path = save_untrained(scratch / f"{kind}.pt", metadata(kind))
            predict_to_csv(model_path, [inputs], scratch / "warm.csv", batch_size=args.batch_size, device=args.device,
                           workers=args.workers, tta=args.tta, progress=False)  # first call: imports, allocations
            rates = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                predict_to_csv(model_path, [inputs], scratch / f"{kind}.csv", batch_size=args.batch_size,
                               device=args.device, workers=args.workers, tta=args.tta, progress=False)
                rates.append(len(paths) / (time.perf_counter() - start))
            print(f"galzoo predict, {kind:<11} ({metadata(kind)['model']}{', TTA x8' if args.tta else ''}): "
                  f"{statistics.median(rates):7,.1f} img/s (runs {', '.join(f'{r:,.1f}' for r in rates)}), "
                  f"{1000 / statistics.median(rates):.1f} ms/img incl. decoding")
        print(f"peak resident memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB "
              f"(+ workers {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:,.0f} MiB)")


if __name__ == "__main__":
    main()
