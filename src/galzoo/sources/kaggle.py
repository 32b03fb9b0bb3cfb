"""The Kaggle "Galaxy Zoo - The Galaxy Challenge" data, fetched through Kaggle's REST API.

Kaggle's training set (61,578 galaxies, 424x424 JPEGs) with ``training_solutions_rev1.csv`` is the data
of Dieleman et al. (2015) and of Kabani & El-Sakka (2016); its labels are already in the 37-column format
every galzoo source ends in, so they are only validated. The 79,975 unlabelled test images are fetched
into ``test_images/`` on request (``data.kaggle.test_images``).

Files come from ``GET <api_url>/competitions/data/download/<competition>/<file>`` with HTTP basic auth
(the user's Kaggle username and API key), which answers with a redirect to the storage host; the
resumable downloader of :mod:`galzoo.sources.download` does the transfer, so no Kaggle package is needed.
The key is read from ``KAGGLE_USERNAME``/``KAGGLE_KEY`` or from ``kaggle.json`` as Kaggle's own client
does, and is never printed, logged, raised or written anywhere. It is needed only for files not yet in
the cache: on a machine without Kaggle access, put the zips downloaded elsewhere into
``<data.download_dir>/kaggle/<competition>/`` and no credentials are asked for.
"""
from __future__ import annotations

import io
import json
import os
import stat
import urllib.parse
from pathlib import Path, PurePosixPath

import pandas as pd

from galzoo.config import DownloadParams, KaggleParams
from galzoo.errors import ConfigError, DataError
from galzoo.labels import ID_COLUMN
from galzoo.sources.archive import archive_names, extract_archive, read_member, staged_directory
from galzoo.sources.download import BasicAuth, Remote, download
from galzoo.sources.http import HTTPStatusError
from galzoo.sources.layout import (
    check_one_to_one,
    is_image_member,
    is_resource_fork,
    output_suffix,
    report,
    write_labels,
    write_source_record,
)

TOKEN_PAGE = "https://www.kaggle.com/settings"
_NAME = "kaggle"


def kaggle_credentials(environ: dict[str, str] | None = None) -> BasicAuth:
    """The user's Kaggle API credentials: the environment first, then ``kaggle.json``, as Kaggle's client.

    ``kaggle.json`` is looked for in ``$KAGGLE_CONFIG_DIR``, else ``~/.kaggle/``, then
    ``$XDG_CONFIG_HOME/kaggle/`` (``~/.config/kaggle/``), where recent Kaggle clients put it.
    """
    environ = os.environ if environ is None else environ
    username, key = environ.get("KAGGLE_USERNAME", ""), environ.get("KAGGLE_KEY", "")
    if username and key:
        return BasicAuth(username, key)
    candidates = _config_files(environ)
    for path in candidates:
        if path.is_file():
            return _read_config(path, username, key)
    where = " or ".join(str(p) for p in candidates)
    raise ConfigError(
        f"data.source is kaggle but no Kaggle API credentials were found: set KAGGLE_USERNAME and KAGGLE_KEY, or "
        f"put kaggle.json in {where}. To get it: sign in at {TOKEN_PAGE}, section API, 'Create New Token' "
        f"(it downloads kaggle.json; chmod 600 it). Then accept the competition rules once at "
        f"https://www.kaggle.com/c/galaxy-zoo-the-galaxy-challenge/rules, or the download is refused.")


def fetch_kaggle(params: KaggleParams, out_dir: Path | str, cache_dir: Path | str, download_params: DownloadParams,
                 *, auth: BasicAuth | None = None, progress: bool = True) -> Path:
    """Download (or reuse) the competition files and write the raw layout to ``out_dir``, all or nothing."""
    out_dir, cache_dir = Path(out_dir), Path(cache_dir) / params.competition
    credentials = [] if auth is None else [auth]

    def fetch(key: str, name: str) -> Path:
        if not (cache_dir / name).is_file() and not credentials:  # cached files need no credentials
            credentials.append(kaggle_credentials())
        return _download(params, key, name, cache_dir, download_params, credentials[0] if credentials else None,
                         progress)

    labels_archive = fetch("labels_file", params.labels_file)
    images_archive = fetch("images_file", params.images_file)
    test_archive = fetch("test_images_file", params.test_images_file) if params.test_images else None

    with staged_directory(out_dir) as staging:
        labels = _read_solutions(labels_archive, params.labels_file)
        write_labels(labels, staging, source=str(labels_archive))
        image_ids = _extract_images(images_archive, staging / "images", progress)
        check_one_to_one(image_ids, labels[ID_COLUMN], images=str(images_archive), labels=str(labels_archive))
        record = {"source": _NAME, "competition": params.competition, "galaxies": len(labels),
                  "files": [params.labels_file, params.images_file]}
        if test_archive is not None:
            record["test_images"] = len(_extract_images(test_archive, staging / "test_images", progress))
            record["files"].append(params.test_images_file)
        write_source_record(staging, record)
    report(_NAME, f"{len(labels)} labelled galaxies written to {out_dir}"
           + (f", {record['test_images']} test images to {out_dir / 'test_images'}" if test_archive else ""))
    return out_dir


def _download(params: KaggleParams, key: str, name: str, cache_dir: Path, download_params: DownloadParams,
              auth: BasicAuth | None, progress: bool) -> Path:
    url = (f"{params.api_url.rstrip('/')}/competitions/data/download/"
           f"{urllib.parse.quote(params.competition, safe='')}/{urllib.parse.quote(name, safe='')}")
    try:
        return download(Remote(url, name, key=f"data.kaggle.{key}"), cache_dir, download_params, auth=auth,
                        progress=progress)
    except HTTPStatusError as exc:
        if exc.status == 401:
            raise ConfigError(f"{exc}: Kaggle rejected the API credentials. Check KAGGLE_USERNAME/KAGGLE_KEY or "
                              f"kaggle.json, or create a new token at {TOKEN_PAGE} (section API)") from None
        if exc.status == 403:
            raise ConfigError(f"{exc}: Kaggle refused the download. Accept the competition rules once at "
                              f"https://www.kaggle.com/c/{params.competition}/rules with the account of "
                              f"these credentials, then run again") from None
        if exc.status == 404:
            raise ConfigError(f"{exc}: no file {name!r} in competition {params.competition!r}; check "
                              f"data.kaggle.competition and data.kaggle.{key}") from None
        raise


def _read_solutions(archive: Path, name: str) -> pd.DataFrame:
    """training_solutions_rev1.csv, either as downloaded or inside the zip Kaggle serves it in."""
    if not name.lower().endswith(".zip"):
        return _read_csv(archive, archive)
    csvs = [n for n in archive_names(archive) if n.suffix.lower() == ".csv" and not is_resource_fork(n)]
    if len(csvs) != 1:
        raise DataError(f"{archive}: expected exactly one CSV file of solutions in the archive, found "
                        f"{[str(n) for n in csvs] or 'none'}")
    return _read_csv(io.BytesIO(read_member(archive, csvs[0])), archive)


def _read_csv(source, shown: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(source)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{shown}: not a readable CSV file: {exc}") from None


def _extract_images(archive: Path, target: Path, progress: bool) -> list[str]:
    """Extract every image of the archive flat into ``target`` as ``<GalaxyID>.<ext>``; return the ids."""
    def select(path: PurePosixPath) -> str | None:
        return path.stem + output_suffix(path) if is_image_member(path) else None

    written = extract_archive(archive, target, select, progress=progress)
    if not written:
        raise DataError(f"{archive}: no images (.jpg/.png) in the archive; is it the right file?")
    return [p.stem for p in written]


def _config_files(environ) -> list[Path]:
    if environ.get("KAGGLE_CONFIG_DIR"):
        return [Path(environ["KAGGLE_CONFIG_DIR"]).expanduser() / "kaggle.json"]
    xdg = Path(environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return [Path.home() / ".kaggle" / "kaggle.json", xdg / "kaggle" / "kaggle.json"]


def _read_config(path: Path, username: str, key: str) -> BasicAuth:
    """Credentials from kaggle.json; values set in the environment win, as in Kaggle's client."""
    try:
        config = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise ConfigError(f"{path}: not a readable kaggle.json (expected {{\"username\": ..., \"key\": ...}}); "
                          f"download a fresh one at {TOKEN_PAGE}, section API, 'Create New Token'") from None
    if not isinstance(config, dict):
        config = {}
    username = username or str(config.get("username") or "")
    key = key or str(config.get("key") or "")
    missing = [name for name, value in (("username", username), ("key", key)) if not value]
    if missing:
        raise ConfigError(f"{path}: no {' and no '.join(missing)} in kaggle.json; download a fresh one at "
                          f"{TOKEN_PAGE}, section API, 'Create New Token'")
    if path.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH):
        report(_NAME, f"{path} is readable by other users of this machine; run `chmod 600 {path}`")
    return BasicAuth(username, key)
