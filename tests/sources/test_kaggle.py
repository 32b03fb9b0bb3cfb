"""Specification of the Kaggle source, against a local fake of Kaggle's API (never the internet)."""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from galzoo.config import DataParams, DownloadParams, KaggleParams, SyntheticParams
from galzoo.dataset import open_raw_dataset
from galzoo.errors import ConfigError, DataError
from galzoo.sources import fetch_source
from galzoo.sources.kaggle import fetch_kaggle, kaggle_credentials
from tests.conftest import labels_frame
from tests.fake_http import fake_server  # noqa: F401 - fixture

USER, KEY = "galaxy-fan", "0123456789abcdef-not-a-real-kaggle-key"
COMPETITION = "galaxy-zoo-the-galaxy-challenge"
FAST = DownloadParams(retries=1, backoff_s=0.01, timeout_s=5.0)
N_TRAIN, N_TEST = 4, 3


def tiny_jpeg(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (seed * 40 % 256, 80, 120)).save(buffer, format="JPEG")
    return buffer.getvalue()


def zipped(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def kaggle(fake_server, monkeypatch):
    """Kaggle's API as the fake server: basic auth, then a redirect to the storage path holding each file."""
    labels = labels_frame(N_TRAIN, first_id=100008)
    ids = labels["GalaxyID"].tolist()
    files = {
        "training_solutions_rev1.zip": zipped({"training_solutions_rev1.csv": labels.to_csv(index=False).encode()}),
        "images_training_rev1.zip": zipped({f"images_training_rev1/{i}.jpg": tiny_jpeg(i) for i in ids}
                                           | {"__MACOSX/images_training_rev1/._100008.jpg": b"mac"}),
        "images_test_rev1.zip": zipped({f"images_test_rev1/{i}.jpg": tiny_jpeg(i) for i in range(900, 900 + N_TEST)}),
    }
    for name, body in files.items():
        fake_server.add(f"/api/v1/competitions/data/download/{COMPETITION}/{name}", auth=(USER, KEY),
                        redirect=f"/storage/{name}")
        fake_server.add(f"/storage/{name}", body)
    monkeypatch.setenv("KAGGLE_USERNAME", USER)
    monkeypatch.setenv("KAGGLE_KEY", KEY)
    fake_server.labels = labels
    return fake_server


def params(server, **changes) -> KaggleParams:
    return KaggleParams(api_url=server.url("/api/v1"), **changes)


def data_params(server, tmp_path: Path, **changes) -> DataParams:
    return DataParams(source="kaggle", synthetic=SyntheticParams(n_images=10, seed=1),
                      download_dir=str(tmp_path / "downloads"), download=FAST, kaggle=params(server, **changes))


def no_credentials(monkeypatch, home: Path) -> None:
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_CONFIG_DIR", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))


def test_kaggle_download_ends_in_the_raw_layout_with_validated_labels(kaggle, tmp_path):
    kaggle.routes["/storage/images_training_rev1.zip"].drop_after = 200
    kaggle.routes["/storage/images_training_rev1.zip"].drops = 1  # the big archive breaks off once, then resumes
    out = fetch_source(data_params(kaggle, tmp_path), tmp_path / "raw" / "kaggle", progress=False)
    dataset = open_raw_dataset(out)
    assert list(dataset.ids) == kaggle.labels["GalaxyID"].tolist()
    assert [p.name for p in dataset.image_paths] == [f"{i}.jpg" for i in dataset.ids]
    pd.testing.assert_frame_equal(dataset.labels.reset_index(), kaggle.labels, check_dtype=False)
    assert not (out / "test_images").exists()
    assert json.loads((out / "source.json").read_text())["galaxies"] == N_TRAIN
    assert (tmp_path / "downloads" / "kaggle" / COMPETITION / "images_training_rev1.zip").is_file()
    assert [r.range for r in kaggle.hits("/storage/images_training_rev1.zip")][1].startswith("bytes=200-")


def test_the_test_images_are_fetched_only_when_switched_on(kaggle, tmp_path):
    out = fetch_kaggle(params(kaggle, test_images=True), tmp_path / "raw", tmp_path / "cache", FAST, progress=False)
    assert sorted(p.name for p in (out / "test_images").iterdir()) == [f"{i}.jpg" for i in range(900, 900 + N_TEST)]
    assert len(list((out / "images").iterdir())) == N_TRAIN


def test_the_key_is_sent_only_to_the_api_and_written_nowhere(kaggle, tmp_path, capsys):
    out = fetch_kaggle(params(kaggle, test_images=True), tmp_path / "raw", tmp_path / "cache", FAST, progress=False)
    for path in [*out.rglob("*"), *(tmp_path / "cache").rglob("*")]:
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
    captured = capsys.readouterr()
    assert KEY not in captured.out + captured.err
    api = [r for r in kaggle.requests if r.path.startswith("/api/")]
    storage = [r for r in kaggle.requests if r.path.startswith("/storage/")]
    assert api and all(r.authorization for r in api)
    assert storage and not any(r.authorization for r in storage)  # the redirect target never sees the key


def test_credentials_are_read_from_kaggle_json_in_the_config_dir(kaggle, tmp_path, monkeypatch):
    no_credentials(monkeypatch, tmp_path / "home")
    config = tmp_path / "config"
    config.mkdir()
    (config / "kaggle.json").write_text(json.dumps({"username": USER, "key": KEY}))
    (config / "kaggle.json").chmod(0o600)
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(config))
    out = fetch_kaggle(params(kaggle), tmp_path / "raw", tmp_path / "cache", FAST, progress=False)
    assert (out / "labels.csv").is_file()


def test_credentials_are_read_from_kaggle_json_in_the_home_folder(tmp_path, monkeypatch):
    no_credentials(monkeypatch, tmp_path)
    (tmp_path / ".kaggle").mkdir()
    (tmp_path / ".kaggle" / "kaggle.json").write_text(json.dumps({"username": USER, "key": KEY}))
    auth = kaggle_credentials()
    assert (auth.username, auth.secret) == (USER, KEY)
    assert KEY not in repr(auth)


def test_a_missing_credential_says_where_to_put_it_and_to_accept_the_rules(tmp_path, monkeypatch):
    no_credentials(monkeypatch, tmp_path)
    with pytest.raises(ConfigError) as error:
        fetch_kaggle(KaggleParams(api_url="http://127.0.0.1:9/api/v1"), tmp_path / "raw", tmp_path / "cache", FAST)
    message = str(error.value)
    for expected in ("KAGGLE_USERNAME", "KAGGLE_KEY", str(tmp_path / ".kaggle" / "kaggle.json"),
                     "https://www.kaggle.com/settings", "Create New Token", "rules"):
        assert expected in message
    assert not (tmp_path / "raw").exists()


def test_a_kaggle_json_without_a_key_is_an_error_naming_the_file_not_its_content(tmp_path, monkeypatch):
    no_credentials(monkeypatch, tmp_path)
    (tmp_path / ".kaggle").mkdir()
    (tmp_path / ".kaggle" / "kaggle.json").write_text(json.dumps({"username": USER}))
    with pytest.raises(ConfigError, match="kaggle.json.*no key"):
        kaggle_credentials()


def test_a_rejected_key_is_a_clear_error_that_does_not_contain_the_key(kaggle, tmp_path, monkeypatch):
    monkeypatch.setenv("KAGGLE_KEY", KEY + "-wrong")
    with pytest.raises(ConfigError) as error:
        fetch_kaggle(params(kaggle), tmp_path / "raw", tmp_path / "cache", FAST, progress=False)
    message = str(error.value)
    assert "401" in message and "rejected the API credentials" in message
    assert KEY not in message and USER not in message
    assert not (tmp_path / "raw").exists()


def test_a_refused_download_asks_to_accept_the_competition_rules(kaggle, tmp_path):
    kaggle.add(f"/api/v1/competitions/data/download/{COMPETITION}/training_solutions_rev1.zip", status=403)
    with pytest.raises(ConfigError, match=f"403.*Accept the competition rules.*kaggle.com/c/{COMPETITION}/rules"):
        fetch_kaggle(params(kaggle), tmp_path / "raw", tmp_path / "cache", FAST, progress=False)


def test_a_path_traversal_entry_in_the_image_archive_leaves_no_dataset(kaggle, tmp_path):
    ids = kaggle.labels["GalaxyID"].tolist()
    evil = zipped({**{f"images_training_rev1/{i}.jpg": tiny_jpeg(i) for i in ids}, "../evil.jpg": b"x"})
    kaggle.add("/storage/images_training_rev1.zip", evil)
    out = tmp_path / "work" / "raw"
    with pytest.raises(DataError, match=r"unsafe entry '\.\./evil\.jpg'"):
        fetch_kaggle(params(kaggle), out, tmp_path / "cache", FAST, progress=False)
    assert not out.exists() and list((tmp_path / "work").iterdir()) == []
    assert not list(tmp_path.rglob("evil.jpg"))


def test_label_rows_without_images_are_an_error_listing_them(kaggle, tmp_path):
    ids = kaggle.labels["GalaxyID"].tolist()
    kaggle.add("/storage/images_training_rev1.zip", zipped({f"images_training_rev1/{i}.jpg": tiny_jpeg(i)
                                                            for i in ids[:-1]}))
    with pytest.raises(DataError, match=f"1 label row\\(s\\) have no image.*{ids[-1]}"):
        fetch_kaggle(params(kaggle), tmp_path / "raw", tmp_path / "cache", FAST, progress=False)
    assert not (tmp_path / "raw").exists()


def test_files_already_in_the_cache_need_neither_credentials_nor_network(kaggle, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    fetch_kaggle(params(kaggle), tmp_path / "first", cache, FAST, progress=False)
    no_credentials(monkeypatch, tmp_path)
    offline = KaggleParams(api_url="http://127.0.0.1:9/api/v1")  # nothing listens there
    out = fetch_kaggle(offline, tmp_path / "raw", cache, FAST, progress=False)
    assert len(open_raw_dataset(out).ids) == N_TRAIN
