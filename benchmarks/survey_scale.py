"""Survey scale on one machine: N images (default 61,578, the Kaggle training set's size) through the data
stages, then one training epoch on a subset with each data path; prints wall time and peak memory per stage.

The images are the embedded synthetic galaxies hard-linked under new ids into a folder with a Kaggle-format
labels.csv, read through the folder source. Each data stage runs as `dvc repro -s <stage>` in a scratch DVC
project beside this checkout's dvc.yaml (so DVC's own hashing and caching of the outputs are counted), with
`model: efficientnet_b0`, so that `crop_task` writes the EfficientNet study's 224 px store (N x 224 x 224 x 3
bytes). Memory is sampled every 0.2 s over the stage's whole process tree: resident set (RSS, including the
file pages of memory-mapped stores, which the kernel can drop) and anonymous memory (RssAnon: what the
processes themselves hold). Not a test: figures depend on the machine.

    python benchmarks/survey_scale.py --work /tmp/survey            # 61,578 images, ~25 GB of disk
    python benchmarks/survey_scale.py --work /tmp/survey --n 5000   # a quick look
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import psutil
import yaml

REPO = Path(__file__).resolve().parent.parent
DATA_STAGES = ("download", "crop", "split", "crop_task", "split_task")


class PeakMemory:
    """Samples the RSS and anonymous memory summed over a process and its descendants."""

    def __init__(self, pid: int, interval: float = 0.2):
        self.root, self.interval = psutil.Process(pid), interval
        self.rss = self.anon = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = anon = 0
            try:
                processes = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for process in processes:
                try:
                    status = Path(f"/proc/{process.pid}/status").read_text()
                except OSError:
                    continue
                fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
                rss += int(fields.get("VmRSS", "0 kB").split()[0])
                anon += int(fields.get("RssAnon", "0 kB").split()[0])
            self.rss, self.anon = max(self.rss, rss), max(self.anon, anon)
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def measure(name: str, command: list[str], cwd: Path, env: dict) -> dict:
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = PeakMemory(process.pid)
    output, _ = process.communicate()
    peak.stop()
    seconds = time.perf_counter() - start
    if process.returncode:
        sys.exit(f"{name} failed ({' '.join(command)}):\n{output[-4000:]}")
    row = {"stage": name, "seconds": round(seconds, 1), "peak_rss_gb": round(peak.rss / 2**20, 2),
           "peak_anon_gb": round(peak.anon / 2**20, 2)}
    print(f"{name:28s} {row['seconds']:8.1f} s  peak RSS {row['peak_rss_gb']:6.2f} GB  "
          f"anonymous {row['peak_anon_gb']:6.2f} GB", flush=True)
    return row


def seed_images(work: Path) -> Path:
    """The embedded synthetic galaxies (this checkout's data/raw/synthetic, else generated once)."""
    here = REPO / "data" / "raw" / "synthetic"
    if (here / "labels.csv").is_file():
        return here
    from galzoo.config import load_params
    from galzoo.sources import fetch_source

    seed = work / "seed"
    if not (seed / "labels.csv").is_file():
        fetch_source(load_params(REPO / "params.yaml").data, seed)
    return seed


def survey_folder(seed: Path, folder: Path, n: int) -> None:
    """``n`` images: the seed galaxies hard-linked under new ids, their label rows repeated."""
    labels = pd.read_csv(seed / "labels.csv")
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows = labels.iloc[[i % len(labels) for i in range(n)]].copy()
    rows["source"] = rows["GalaxyID"].astype(str)
    rows["GalaxyID"] = [1_000_000 + i for i in range(n)]
    for new, old in zip(rows["GalaxyID"], rows["source"]):
        target = folder / "images" / f"{new}.jpg"
        if not target.exists():
            os.link(seed / "images" / f"{old}.jpg", target)
    rows.drop(columns="source").to_csv(folder / "labels.csv", index=False)


def project(work: Path, folder: Path, env: dict) -> Path:
    ws = work / "project"
    ws.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "dvc.yaml", ws / "dvc.yaml")
    if not (ws / "stages").exists():
        (ws / "stages").symlink_to(REPO / "stages")
        (ws / "src").symlink_to(REPO / "src")  # dvc.yaml's code dependencies
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["model"] = "efficientnet_b0"
    params["data"]["source"] = "folder"
    params["data"]["folder"].update(path=str(folder), hardlink=True)
    (ws / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    if not (ws / ".dvc").exists():
        subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], cwd=ws, check=True, env=env)
    return ws


def subset_split(ws: Path, train: int, val: int) -> Path:
    split = pd.read_csv(ws / "data" / "splits" / "task.csv")
    subset = pd.concat([split[split["subset"] == "train"].head(train), split[split["subset"] == "val"].head(val),
                        split[split["subset"] == "test"].head(val)])
    path = ws / "subset.csv"
    subset.to_csv(path, index=False)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True, help="scratch folder (its contents are replaced)")
    parser.add_argument("--n", type=int, default=61_578, help="images (default: the Kaggle training set's)")
    parser.add_argument("--train-subset", type=int, default=320, help="training images of the one-epoch runs")
    parser.add_argument("--keep", action="store_true", help="keep the scratch project afterwards")
    args = parser.parse_args()
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "HF_HUB_OFFLINE": "1", "DVC_NO_ANALYTICS": "1"}
    args.work.mkdir(parents=True, exist_ok=True)
    folder = args.work / "folder"
    print(f"== {args.n:,} images into {folder} (hard links)", flush=True)
    survey_folder(seed_images(args.work), folder, args.n)
    ws = project(args.work, folder, env)
    rows = [measure(stage, [sys.executable, "-m", "dvc", "repro", "-s", stage], ws, env) for stage in DATA_STAGES]
    split = subset_split(ws, args.train_subset, args.train_subset // 4)
    params = yaml.safe_load((ws / "params.yaml").read_text())
    params["efficientnet"]["budgets"]["embedded"].update(head_epochs=0, full_epochs=1)
    for data_path in ("loader", "device"):
        params["runtime"]["data_path"] = data_path
        (ws / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        rows.append(measure(f"train 1 epoch, {data_path} path",
                            [sys.executable, "stages/train_model.py", "--raw", "data/raw/folder", "--store",
                             "data/task_store", "--split", str(split), "--model-out", f"epoch_{data_path}.pt",
                             "--live-dir", f"epoch_{data_path}"], ws, env))
    table = pd.DataFrame(rows)
    store = sum(f.stat().st_size for f in (ws / "data" / "task_store").glob("*.npy"))
    print(f"\n{args.n:,} images; EfficientNet store {store / 2**30:.2f} GiB; one epoch on "
          f"{args.train_subset} training images of it\n")
    print("| " + " | ".join(table.columns) + " |\n|" + "---|" * len(table.columns))
    for row in table.itertuples(index=False):
        print("| " + " | ".join(str(v) for v in row) + " |")
    if not args.keep:
        shutil.rmtree(args.work)


if __name__ == "__main__":
    main()
