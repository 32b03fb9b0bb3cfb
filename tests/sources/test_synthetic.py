"""Specification of the embedded synthetic Galaxy Zoo (galzoo.sources.synthetic)."""
from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from galzoo.errors import ConfigError
from galzoo.sources import synthetic
from galzoo.sources.synthetic import Morphology, draw_morphology, generate_dataset, render_galaxy, simulate_votes
from galzoo.tree import (
    ANSWER_COLUMNS,
    COLUMN_INDEX,
    conditional_fractions,
    constraint_violation,
    question,
    question_slice,
)

SMALL_IMAGE = 64
SEED = 20240601

#: Dai & Tong (2018) Table 1, on conditional fractions: class -> ((column, minimum), ...).
DAI_TONG_CLASSES = {
    "completely round smooth": (("Class1.1", 0.469), ("Class7.1", 0.50)),
    "in-between smooth": (("Class1.1", 0.469), ("Class7.2", 0.50)),
    "cigar-shaped smooth": (("Class1.1", 0.469), ("Class7.3", 0.50)),
    "edge-on": (("Class1.2", 0.430), ("Class2.1", 0.602)),
    "spiral": (("Class1.2", 0.430), ("Class2.2", 0.715), ("Class4.1", 0.619)),
}


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory) -> Path:
    return generate_dataset(tmp_path_factory.mktemp("synthetic") / "raw", 24, SEED, workers=1,
                            image_size=SMALL_IMAGE, progress=False)


def _galaxy(kind: str, rng_seed: int = 0, **changes) -> Morphology:
    """The first drawn morphology of ``kind``, with ``changes`` applied."""
    rng = np.random.default_rng(rng_seed)
    while True:
        m = draw_morphology(rng)
        if m.kind == kind and not m.odd:
            return dataclasses.replace(m, **changes)


def _resized(m: Morphology, half_light_radius: float, surface_brightness: float) -> Morphology:
    """The same galaxy at another size and surface brightness (flux follows)."""
    scale = (surface_brightness / m.surface_brightness) * (half_light_radius / m.half_light_radius) ** 2
    return dataclasses.replace(m, half_light_radius=half_light_radius, surface_brightness=surface_brightness,
                               flux=m.flux * scale,
                               bulge_radius=m.bulge_radius * half_light_radius / m.half_light_radius)


def _q1_entropy(votes: np.ndarray) -> float:
    p = votes[question_slice(question(1))]
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def _dai_tong_counts(votes: np.ndarray) -> Counter:
    conditional = conditional_fractions(votes)
    counts = Counter()
    for name, thresholds in DAI_TONG_CLASSES.items():
        selected = np.ones(len(votes), dtype=bool)
        for column, minimum in thresholds:
            selected &= conditional[:, COLUMN_INDEX[column]] >= minimum
        counts[name] = int(selected.sum())
    return counts


def test_labels_obey_the_decision_tree_to_1e6_after_reading_the_csv(small_dataset):
    labels = pd.read_csv(small_dataset / "labels.csv")
    values = labels[list(ANSWER_COLUMNS)].to_numpy()
    assert constraint_violation(values).max() <= 1e-6
    assert values.min() >= 0.0 and values.max() <= 1.0


def test_labels_header_is_galaxy_id_then_the_37_kaggle_columns(small_dataset):
    header = (small_dataset / "labels.csv").read_text().splitlines()[0]
    assert header.split(",") == ["GalaxyID", *ANSWER_COLUMNS]


def test_every_label_row_has_one_image_named_by_a_positive_ascending_galaxy_id(small_dataset):
    ids = pd.read_csv(small_dataset / "labels.csv")["GalaxyID"].to_numpy()
    assert len(ids) == 24 and (ids > 0).all() and (np.diff(ids) > 0).all()
    assert sorted(p.name for p in (small_dataset / "images").iterdir()) == sorted(f"{i}.jpg" for i in ids)


def test_morphology_csv_gives_the_latent_truth_of_every_galaxy(small_dataset):
    morphology = pd.read_csv(small_dataset / "morphology.csv")
    labels = pd.read_csv(small_dataset / "labels.csv")
    assert morphology["GalaxyID"].tolist() == labels["GalaxyID"].tolist()
    for column in ("kind", "half_light_radius_px", "magnitude", "axis_ratio", "arm_count", "odd",
                   "visible_diameter_px"):
        assert column in morphology.columns


def test_same_seed_gives_identical_bytes_whatever_the_number_of_workers(small_dataset, tmp_path):
    again = generate_dataset(tmp_path / "again", 24, SEED, workers=2, image_size=SMALL_IMAGE, progress=False)
    for name in ("labels.csv", "morphology.csv"):
        assert (again / name).read_bytes() == (small_dataset / name).read_bytes()
    for image in (small_dataset / "images").iterdir():
        assert (again / "images" / image.name).read_bytes() == image.read_bytes()


def test_another_seed_gives_other_labels(small_dataset, tmp_path):
    other = generate_dataset(tmp_path / "other", 24, SEED + 1, workers=1, image_size=SMALL_IMAGE, progress=False)
    assert (other / "labels.csv").read_bytes() != (small_dataset / "labels.csv").read_bytes()


def test_labels_depend_on_the_galaxies_not_on_the_image_size(small_dataset, tmp_path):
    tiny = generate_dataset(tmp_path / "tiny", 24, SEED, workers=1, image_size=32, progress=False)
    assert (tiny / "labels.csv").read_bytes() == (small_dataset / "labels.csv").read_bytes()


def test_default_images_are_424_by_424_rgb_jpegs(tmp_path):
    out = generate_dataset(tmp_path / "full", 3, SEED, workers=1, progress=False)
    for path in (out / "images").iterdir():
        with Image.open(path) as image:
            assert image.format == "JPEG" and image.mode == "RGB" and image.size == (424, 424)
            pixels = np.asarray(image)
        assert pixels.shape == (424, 424, 3) and pixels.dtype == np.uint8


def test_a_bright_galaxy_is_rendered_at_the_centre_of_a_dark_sky():
    m = _resized(_galaxy("smooth"), half_light_radius=15.0, surface_brightness=100.0)
    image = render_galaxy(m, np.random.default_rng(0))
    assert image.shape == (424, 424, 3) and image.dtype == np.uint8
    assert image[200:224, 200:224].mean() > 100
    assert np.median(image[:40, :40]) < 20


@pytest.mark.parametrize("kind", ["smooth", "edge_on", "disc", "star", "artefact"])
def test_votes_of_every_kind_are_cumulative_fractions_of_a_valid_tree(kind):
    votes = simulate_votes(_galaxy(kind), np.random.default_rng(0), 37)
    assert votes.shape == (37,)
    assert constraint_violation(votes)[0] <= 1e-12
    assert np.isclose(votes[question_slice(question(1))].sum(), 1.0)
    assert np.isclose(votes[question_slice(question(6))].sum(), 1.0)
    assert np.allclose(votes * 37, np.round(votes * 37)), "every fraction counts whole volunteers"


def test_small_faint_galaxies_get_more_volunteer_disagreement():
    """Mean entropy of the Q1 votes over the same galaxies seen big and bright, then small and faint."""
    rng = np.random.default_rng(1)
    galaxies = [m for m in (draw_morphology(rng) for _ in range(300)) if m.is_galaxy]
    entropy = {
        label: np.mean([_q1_entropy(simulate_votes(_resized(m, re, sb), rng, 40)) for m in galaxies])
        for label, re, sb in (("big bright", 40.0, 150.0), ("small faint", 3.0, 4.0))
    }
    assert entropy["small faint"] > entropy["big bright"] + 0.1, entropy


def test_small_faint_discs_are_more_often_called_smooth():
    disc = _galaxy("disc", arm_count=2, arm_pitch=20.0, arm_strength=0.6)
    rng = np.random.default_rng(2)
    smooth = {label: np.mean([simulate_votes(m, rng, 40)[0] for _ in range(200)])
              for label, m in (("big", _resized(disc, 40.0, 150.0)), ("small", _resized(disc, 3.0, 4.0)))}
    assert smooth["small"] > smooth["big"] + 0.2


def test_sizes_span_both_centre_crops():
    rng = np.random.default_rng(3)
    diameters = np.array([m.visible_diameter for m in (draw_morphology(rng) for _ in range(400)) if m.is_galaxy])
    assert diameters.min() < 64, "some galaxies must be small inside the 64 px crop"
    assert diameters.max() > 256, "some galaxies must overflow the 256 px crop"


def test_brightness_spans_faint_to_bright():
    rng = np.random.default_rng(4)
    brightness = np.array([m.surface_brightness for m in (draw_morphology(rng) for _ in range(400)) if m.is_galaxy])
    assert brightness.min() < 10 and brightness.max() > 200


def test_the_mix_is_kaggle_like_with_a_fifth_odd():
    rng = np.random.default_rng(5)
    morphologies = [draw_morphology(rng) for _ in range(1000)]
    kinds = Counter(m.kind for m in morphologies)
    assert 0.33 < kinds["smooth"] / 1000 < 0.47
    assert 0.40 < kinds["disc"] / 1000 < 0.52
    assert 0.07 < kinds["edge_on"] / 1000 < 0.15
    assert 0.01 < (kinds["star"] + kinds["artefact"]) / 1000 < 0.08
    assert 0.14 < np.mean([bool(m.odd) for m in morphologies]) < 0.26


def test_all_five_dai_tong_classes_occur_in_a_thousand_galaxies():
    rng = np.random.default_rng(6)
    votes = np.stack([simulate_votes(draw_morphology(rng), rng, 40) for _ in range(1000)])
    counts = _dai_tong_counts(votes)
    assert min(counts.values()) >= 20, counts


@pytest.mark.parametrize("arguments, parameter", [
    ({"n_images": 0}, "n_images"),
    ({"seed": -1}, "seed"),
    ({"workers": 0}, "workers"),
    ({"image_size": 8}, "image_size"),
    ({"jpeg_quality": 0}, "jpeg_quality"),
])
def test_bad_arguments_raise_config_errors_naming_the_parameter(tmp_path, arguments, parameter):
    call = {"out_dir": tmp_path / "never", "n_images": 2, "seed": 0, **arguments}
    with pytest.raises(ConfigError, match=parameter):
        generate_dataset(**call, progress=False)
    assert not (tmp_path / "never").exists()


def test_simulate_votes_needs_at_least_one_volunteer():
    with pytest.raises(ConfigError, match="n_volunteers"):
        simulate_votes(_galaxy("smooth"), np.random.default_rng(0), 0)
