"""Data sources: each one ends in the common raw layout ``<out_dir>/images/<GalaxyID>.jpg`` + ``labels.csv``."""
from __future__ import annotations

from pathlib import Path

from galzoo.config import DataParams
from galzoo.errors import ConfigError


def fetch_source(params: DataParams, out_dir: Path) -> Path:
    """Fill ``out_dir`` from the source named by ``data.source``."""
    if params.source == "synthetic":
        from galzoo.sources.synthetic import generate_dataset

        s = params.synthetic
        return generate_dataset(out_dir, s.n_images, s.seed, image_size=s.image_size, jpeg_quality=s.jpeg_quality)
    raise ConfigError(f"data.source: unknown source {params.source!r}; known sources: synthetic")
