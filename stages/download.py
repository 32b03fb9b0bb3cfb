"""DVC stage `download`: put the configured data source into the raw layout (images/ + labels.csv)."""
import _checkout  # noqa: F401,I001  (this checkout's src/ before any installed galzoo)
import argparse
from pathlib import Path

from galzoo.config import load_params
from galzoo.sources import fetch_source
from galzoo.sources.folder import stage_side_needs
from galzoo.stage import run_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="raw dataset folder to (re)create")
    args = parser.parse_args()
    params = load_params()
    needs = stage_side_needs(params) if params.data.source == "folder" else ()
    fetch_source(params.data, args.out, perseus_r_max=params.perseus.selection.r_max, side_needs=needs)


if __name__ == "__main__":
    run_stage(main)
