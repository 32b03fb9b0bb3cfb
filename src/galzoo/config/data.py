"""``data``: where the galaxies come from (the embedded generator, Kaggle, Galaxy Zoo 2, a folder, Perseus)."""
from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Literal

from galzoo.config.schema import https_url, positives, require, seed, within
from galzoo.errors import ConfigError


@dataclass(frozen=True)
class SyntheticParams:
    n_images: int
    seed: int
    image_size: int = 424
    jpeg_quality: int = 85

    def check(self, key: str) -> None:
        from galzoo.sources import expected_image_size  # lazy: galzoo.sources imports this module

        positives(key, self, "n_images")
        seed(f"{key}.seed", self.seed)
        side = expected_image_size("synthetic")
        require(side is None or self.image_size == side, f"{key}.image_size",
                f"{side} (the side the crop stages expect of every source but folder)", self.image_size)
        within(f"{key}.jpeg_quality", self.jpeg_quality, 1, 95, "a JPEG quality")


@dataclass(frozen=True)
class DownloadParams:
    """How hard the downloader tries before it gives up (tests shrink these to fail fast)."""

    retries: int = 5           # further attempts after a failure that brought no new bytes
    backoff_s: float = 2.0     # pause before the first retry, doubled for each further one
    timeout_s: float = 60.0    # a connection silent for this long counts as broken

    def check(self, key: str) -> None:
        require(self.retries >= 0, f"{key}.retries", "0 or more", self.retries)
        require(self.backoff_s >= 0, f"{key}.backoff_s", "0 or more seconds", self.backoff_s)
        require(self.timeout_s > 0, f"{key}.timeout_s", "a positive number of seconds", self.timeout_s)


@dataclass(frozen=True)
class KaggleParams:
    """The Kaggle "Galaxy Zoo - The Galaxy Challenge" files, fetched through Kaggle's REST API."""

    api_url: str = "https://www.kaggle.com/api/v1"
    competition: str = "galaxy-zoo-the-galaxy-challenge"
    images_file: str = "images_training_rev1.zip"
    labels_file: str = "training_solutions_rev1.zip"
    test_images_file: str = "images_test_rev1.zip"
    test_images: bool = False  # also fetch the 79,975 unlabelled test images into test_images/

    def check(self, key: str) -> None:
        https_url(f"{key}.api_url", self.api_url, "the Kaggle API is sent your credentials")


@dataclass(frozen=True)
class GZ2Params:
    """Galaxy Zoo 2: Zenodo images, their objid mapping and the Hart et al. (2016) vote fractions."""

    images_url: str = "https://zenodo.org/records/3565489/files/images_gz2.zip?download=1"
    images_md5: str | None = "bc647032d31e50c798770cf4430525c7"
    mapping_url: str = "https://zenodo.org/records/3565489/files/gz2_filename_mapping.csv?download=1"
    mapping_md5: str | None = "7e28465e6dfbf96c0d828c595a5bbd80"
    labels_url: str = "https://gz2hart.s3.amazonaws.com/gz2_hart16.csv.gz"
    labels_md5: str | None = None
    fractions: Literal["debiased", "fraction"] = "debiased"

    def check(self, key: str) -> None:
        for name in ("images", "mapping", "labels"):
            md5 = getattr(self, f"{name}_md5")
            require(md5 is None or re.fullmatch(r"[0-9a-fA-F]{32}", md5) is not None, f"{key}.{name}_md5",
                    "32 hex digits (or null = not checked)", repr(md5))
            url = getattr(self, f"{name}_url")
            # Plain http only where the md5 verifies what arrives. Other schemes never reach the network:
            # sources.download refuses them and points to the cache, where a copy you already have is used.
            require(md5 is not None or urllib.parse.urlsplit(url).scheme != "http", f"{key}.{name}_url",
                    f"an https:// URL (plain http is accepted only with {key}.{name}_md5 set, to check what "
                    f"arrives)", repr(url))


@dataclass(frozen=True)
class FolderParams:
    """A folder of the user's own images, with an optional labels.csv."""

    path: str | None = None
    hardlink: bool = False     # hard-link instead of copying (saves space; the links share permissions)


@dataclass(frozen=True)
class PerseusSdssParams:
    """Where and how politely the Perseus study's data are fetched from SDSS SkyServer and VizieR."""

    skyserver_url: str = "https://skyserver.sdss.org/dr16/SkyServerWS"
    vizier_url: str = "https://vizier.cds.unistra.fr/viz-bin/asu-tsv"
    pcc_catalogue: str = "J/ApJS/245/10"
    cutout_scale: float = 0.1          # arcsec per pixel of the cutouts (Pruitt sec. 3.1)
    cutout_size: int = 200             # pixels (Pruitt sec. 3.1)
    request_interval_s: float = 1.0    # at least this long between two requests to one service
    spec_radius_arcmin: float = 45.0   # the spectroscopic additions' radial search (appendix B)
    independent_radius_arcmin: float = 90.0  # the independent test set's radial search (appendix B)
    match_radius_arcsec: float = 2.0   # PCC object -> SDSS photometric object cross-match

    def check(self, key: str) -> None:
        positives(key, self, "cutout_scale", "cutout_size", "spec_radius_arcmin", "independent_radius_arcmin",
                  "match_radius_arcsec")
        require(self.request_interval_s >= 0, f"{key}.request_interval_s", "0 or more seconds",
                self.request_interval_s)
        for name in ("skyserver_url", "vizier_url"):
            https_url(f"{key}.{name}", getattr(self, name), "no checksum checks what this service sends")


@dataclass(frozen=True)
class PerseusDataParams:
    """The Perseus study's data: a local folder laid out like its data release, or fetched from SDSS."""

    mode: Literal["folder", "sdss"] = "folder"
    path: str | None = None            # folder mode: the folder (catalogs/ + images/)
    sdss: PerseusSdssParams = field(default_factory=PerseusSdssParams)


@dataclass(frozen=True)
class DataParams:
    source: Literal["synthetic", "kaggle", "gz2", "folder", "perseus"]
    synthetic: SyntheticParams
    download_dir: str = "data/downloads"
    download: DownloadParams = field(default_factory=DownloadParams)
    kaggle: KaggleParams = field(default_factory=KaggleParams)
    gz2: GZ2Params = field(default_factory=GZ2Params)
    folder: FolderParams = field(default_factory=FolderParams)
    perseus: PerseusDataParams = field(default_factory=PerseusDataParams)

    def check(self, key: str) -> None:
        if self.source == "folder" and not self.folder.path:
            raise ConfigError(f"{key}.folder.path: required when {key}.source is folder (the folder holding your "
                              "images and an optional labels.csv)")
        if self.source == "perseus" and self.perseus.mode == "folder" and not self.perseus.path:
            raise ConfigError(f"{key}.perseus.path: required when {key}.source is perseus and {key}.perseus.mode "
                              "is folder (a folder laid out like the study's data release: catalogs/ and images/); "
                              f"or set {key}.perseus.mode: sdss to fetch the data from SDSS")
