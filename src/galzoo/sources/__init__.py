"""Data sources: each one ends in the common raw layout ``<out_dir>/images/<GalaxyID>.<jpg|png>`` + ``labels.csv``.

``synthetic`` is generated here; ``kaggle`` and ``gz2`` are downloaded into ``data.download_dir`` (a cache
outside the DVC outputs, so an interrupted run resumes) and extracted; ``folder`` copies the user's own.
``perseus`` (Pruitt 2024) ends in its own layout, ``images/`` + ``catalogue.csv`` (see
:mod:`galzoo.sources.perseus`), from a local copy of the study's data or fetched from SDSS and VizieR.
Every source builds ``out_dir`` in a staging folder and renames it into place when complete.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from galzoo.config import DataParams
from galzoo.errors import ConfigError

if TYPE_CHECKING:
    from galzoo.sources.folder import SideNeed

SOURCES = ("synthetic", "kaggle", "gz2", "folder", "perseus")
KAGGLE_IMAGE_SIZE = 424
"""The side of every published Galaxy Zoo cutout (Kaggle, Galaxy Zoo 2), in pixels."""


def fetch_source(params: DataParams, out_dir: Path, *, perseus_r_max: float | None = None,
                 side_needs: Sequence[SideNeed] = (), progress: bool = True) -> Path:
    """Fill ``out_dir`` from the source named by ``data.source``.

    ``perseus_r_max``: the Perseus task's bright cut (``perseus.selection.r_max``); the sdss way in fetches
    photometry and cutouts only for PCC objects with r <= it (None: every PCC object).
    ``side_needs``: the smallest image side each later stage needs (``folder.stage_side_needs``); a user's
    folder is checked against them from the image headers (the published sources are 424 px).
    """
    out_dir, cache = Path(out_dir), Path(params.download_dir)
    if params.source == "synthetic":
        from galzoo.sources.synthetic import generate_dataset

        s = params.synthetic
        return generate_dataset(out_dir, s.n_images, s.seed, image_size=s.image_size, jpeg_quality=s.jpeg_quality,
                                progress=progress)
    if params.source == "kaggle":
        from galzoo.sources.kaggle import fetch_kaggle

        return fetch_kaggle(params.kaggle, out_dir, cache / "kaggle", params.download, progress=progress)
    if params.source == "gz2":
        from galzoo.sources.gz2 import fetch_gz2

        return fetch_gz2(params.gz2, out_dir, cache / "gz2", params.download, progress=progress)
    if params.source == "folder":
        from galzoo.sources.folder import fetch_folder

        return fetch_folder(params.folder, out_dir, side_needs=side_needs, progress=progress)
    if params.source == "perseus":
        from galzoo.sources.perseus import read_perseus_folder, write_perseus_raw

        perseus = params.perseus
        if perseus.mode == "folder":
            return write_perseus_raw(read_perseus_folder(perseus.path), out_dir, progress=progress)
        from galzoo.sources.sdss import fetch_perseus_sdss

        catalogues = fetch_perseus_sdss(perseus.sdss, cache / "perseus", params.download,
                                        pcc_r_max=perseus_r_max, progress=progress)
        return write_perseus_raw(catalogues, out_dir, progress=progress)
    raise ConfigError(f"data.source: unknown source {params.source!r}; known sources: {', '.join(SOURCES)}")


def expected_image_size(source: str) -> int | None:
    """The side every image of ``source`` must have (the published sets are 424 px), or None: a user's
    folder may hold images of any size."""
    return None if source == "folder" else KAGGLE_IMAGE_SIZE
