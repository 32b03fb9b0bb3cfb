"""Reading what the train stage logged with DVCLive (one TSV per metric, one row per epoch)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from galzoo.errors import DataError

LOGGED = {"train_mse": "train/mse", "val_mse": "val/mse"}


def read_training_log(live_dir: Path) -> pd.DataFrame:
    """Per-epoch train and validation MSE of one run, indexed by epoch (1-based)."""
    columns = {}
    for name, metric in LOGGED.items():
        path = Path(live_dir) / "plots" / "metrics" / f"{metric}.tsv"
        if not path.is_file():
            raise DataError(f"{path}: training log not found (run the train stage)")
        table = pd.read_csv(path, sep="\t")
        columns[name] = pd.Series(table[metric.split("/")[-1]].to_numpy(), index=table["step"].to_numpy() + 1)
    log = pd.DataFrame(columns)
    log.index.name = "epoch"
    return log
