"""Typed, validated view of params.yaml: every stage reads its parameters through :func:`load_params`.

Unknown keys, missing keys, wrong types and values outside their choices raise :class:`ConfigError` naming
the dotted key (``scale_study.recipe.lr``), so a typo in a ``-S`` override cannot pass unnoticed.
"""
from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from galzoo.errors import ConfigError

DEFAULT_PARAMS = Path("params.yaml")


@dataclass(frozen=True)
class SyntheticParams:
    n_images: int
    seed: int
    image_size: int = 424
    jpeg_quality: int = 85


@dataclass(frozen=True)
class DownloadParams:
    """How hard the downloader tries before it gives up (tests shrink these to fail fast)."""

    retries: int = 5           # further attempts after a failure that brought no new bytes
    backoff_s: float = 2.0     # pause before the first retry, doubled for each further one
    timeout_s: float = 60.0    # a connection silent for this long counts as broken

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ConfigError(f"data.download.retries: expected 0 or more, got {self.retries}")
        if self.backoff_s < 0:
            raise ConfigError(f"data.download.backoff_s: expected 0 or more seconds, got {self.backoff_s}")
        if not self.timeout_s > 0:
            raise ConfigError(f"data.download.timeout_s: expected a positive number of seconds, got {self.timeout_s}")


@dataclass(frozen=True)
class KaggleParams:
    """The Kaggle "Galaxy Zoo - The Galaxy Challenge" files, fetched through Kaggle's REST API."""

    api_url: str = "https://www.kaggle.com/api/v1"
    competition: str = "galaxy-zoo-the-galaxy-challenge"
    images_file: str = "images_training_rev1.zip"
    labels_file: str = "training_solutions_rev1.zip"
    test_images_file: str = "images_test_rev1.zip"
    test_images: bool = False  # also fetch the 79,975 unlabelled test images into test_images/


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

    def __post_init__(self) -> None:
        for name in ("images_md5", "mapping_md5", "labels_md5"):
            value = getattr(self, name)
            if value is not None and not re.fullmatch(r"[0-9a-fA-F]{32}", value):
                raise ConfigError(f"data.gz2.{name}: expected 32 hex digits (or null = not checked), got {value!r}")


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

    def __post_init__(self) -> None:
        for name in ("cutout_scale", "cutout_size", "spec_radius_arcmin", "independent_radius_arcmin",
                     "match_radius_arcsec"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"data.perseus.sdss.{name}: expected a positive number, got {getattr(self, name)}")
        if self.request_interval_s < 0:
            raise ConfigError(f"data.perseus.sdss.request_interval_s: expected 0 or more seconds, "
                              f"got {self.request_interval_s}")


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

    def __post_init__(self) -> None:
        if self.source == "folder" and not self.folder.path:
            raise ConfigError("data.folder.path: required when data.source is folder (the folder holding your "
                              "images and an optional labels.csv)")
        if self.source == "perseus" and self.perseus.mode == "folder" and not self.perseus.path:
            raise ConfigError("data.perseus.path: required when data.source is perseus and data.perseus.mode is "
                              "folder (a folder laid out like the study's data release: catalogs/ and images/); "
                              "or set data.perseus.mode: sdss to fetch the data from SDSS")


@dataclass(frozen=True)
class CropParams:
    scales: list[str]
    output_size: int = 64
    workers: int = 0


@dataclass(frozen=True)
class SplitParams:
    test_fraction: float
    val_fraction: float


@dataclass(frozen=True)
class Recipe:
    loss: Literal["mse"]
    optimizer: Literal["sgd"]
    momentum: float
    nesterov: bool
    weight_decay: float
    batch_size: int
    lr: float
    lr_drop_epochs: list[int]
    lr_drop_factor: float
    epochs: int


@dataclass(frozen=True)
class AugmentParams:
    rotation_deg: float
    hflip_p: float
    vflip_p: float
    shift_px: int
    border: Literal["reflect", "constant"]


@dataclass(frozen=True)
class ScaleStudyParams:
    model: str
    seed: int
    output_layer: Literal["linear", "tree"]
    standardize: Literal["per_channel", "none"]
    recipe: Recipe
    augment: AugmentParams
    budgets: dict[str, dict[str, Any]]

    def recipe_for(self, budget: str) -> Recipe:
        return _apply_budget(self.recipe, self.budgets, budget, "scale_study")


@dataclass(frozen=True)
class ClassifierCropParams:
    source_side: int
    store_size: int


@dataclass(frozen=True)
class ClassifierAugmentParams:
    train_sides: list[int]
    resize: int
    input_size: int
    rotate90: bool
    hflip_p: float
    brightness: float
    contrast: list[float]
    saturation: list[float]
    hue: float


@dataclass(frozen=True)
class ClassifierRecipe:
    optimizer: Literal["sgd"]
    momentum: float
    nesterov: bool
    weight_decay: float
    batch_size: int
    lr: float
    lr_drop_iterations: list[int]
    lr_drop_factor: float
    iterations: int
    eval_every: int
    warmup_iterations: int = 0     # the lr rises linearly from 0 over these first steps (0 = none)
    clip_grad_norm: float = 0.0    # the gradient's global L2 norm is clipped to this (0 = no clipping)


@dataclass(frozen=True)
class VisualizeParams:
    galaxies_per_class: int = 2
    feature_maps: int = 8


@dataclass(frozen=True)
class ClassifierParams:
    split: SplitParams
    crop: ClassifierCropParams
    augment: ClassifierAugmentParams
    test_sides: list[int]
    recipe: ClassifierRecipe
    budgets: dict[str, dict[str, Any]]
    visualize: VisualizeParams = field(default_factory=VisualizeParams)

    def recipe_for(self, budget: str) -> ClassifierRecipe:
        return _apply_budget(self.recipe, self.budgets, budget, "classifier")


def _apply_budget(recipe, budgets: dict[str, dict[str, Any]], budget: str, section: str):
    """The paper recipe with the named budget's overrides applied (``paper`` = no overrides)."""
    if budget == "paper":
        return recipe
    if budget not in budgets:
        raise ConfigError(f"budget: unknown budget {budget!r}; choose 'paper' or one of "
                          f"{sorted(budgets)} ({section}.budgets)")
    merged = {**dataclasses.asdict(recipe), **budgets[budget]}
    return _build(type(recipe), merged, f"{section}.budgets.{budget}")


@dataclass(frozen=True)
class EfficientNetCropParams:
    source_side: int
    input_size: int


@dataclass(frozen=True)
class HeadParams:
    hidden: int
    dropout: float


@dataclass(frozen=True)
class KerasAugmentParams:
    rotation_deg: float
    shift: float
    brightness: list[float]
    hflip_p: float
    vflip_p: float
    border: Literal["nearest", "reflect", "constant"]


@dataclass(frozen=True)
class PhasedRecipe:
    optimizer: Literal["adam"]
    lr: float
    batch_size: int
    plateau_factor: float
    plateau_patience: int
    early_stop_patience: int
    head_epochs: int
    full_epochs: int


@dataclass(frozen=True)
class EfficientNetStudyParams:
    split: SplitParams
    crop: EfficientNetCropParams
    pretrained: str
    output_layer: Literal["mlp_sigmoid", "tree", "linear"]
    head: HeadParams
    augment: KerasAugmentParams
    recipe: PhasedRecipe
    budgets: dict[str, dict[str, Any]]

    def recipe_for(self, budget: str) -> PhasedRecipe:
        return _apply_budget(self.recipe, self.budgets, budget, "efficientnet_study")


@dataclass(frozen=True)
class RedFilterParams:
    """Pruitt's red-image filter: an image is dropped when more than ``max_fraction`` of its pixels are red."""

    max_fraction: float
    hue_deg: float            # red = hue within this many degrees of 0 (pure red) ...
    min_saturation: int       # ... with at least this HSV saturation (0-255) ...
    min_value: int            # ... and at least this HSV value (0-255)


@dataclass(frozen=True)
class PerseusSelectionParams:
    r_max: float
    r_max_inclusive: bool
    red_filter: RedFilterParams
    balance: bool
    spec_additions: bool
    match_radius_arcsec: float


@dataclass(frozen=True)
class PerseusRecipe:
    optimizer: Literal["sgd"]
    lr: float
    momentum: float
    weight_decay: float
    lr_decay_rate: float
    lr_decay_steps: int
    batch_size: int
    epochs: int
    input_size: int
    restore_best: bool = False      # keep the epoch with the lowest validation loss
    early_stop_patience: int = 0    # stop after this many epochs without a better one (0 = never)


@dataclass(frozen=True)
class PerseusStudyParams:
    selection: PerseusSelectionParams
    split: SplitParams
    rotations_deg: list[float]
    border: Literal["constant", "reflect"]
    greyscale: bool
    recipe: PerseusRecipe
    budgets: dict[str, dict[str, Any]]

    def recipe_for(self, budget: str) -> PerseusRecipe:
        return _apply_budget(self.recipe, self.budgets, budget, "perseus")


@dataclass(frozen=True)
class EvaluateParams:
    batch_size: int = 256
    nondeterministic_passes: int = 1


@dataclass(frozen=True)
class RuntimeParams:
    """How training computes (galzoo.training.runtime says what each ``auto`` resolves to, and why)."""

    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    threads: int = 0
    data_path: Literal["auto", "device", "loader"] = "auto"
    memory_format: Literal["auto", "channels_last", "contiguous"] = "auto"
    compile: Literal["none", "default", "reduce-overhead", "max-autotune"] = "none"
    nproc: int = 1                 # processes of the train stages (torchrun --nproc_per_node)
    resident_fraction: float = 0.5  # the device path keeps a split on the device up to this share of its free memory

    def __post_init__(self) -> None:
        if self.threads < 0:
            raise ConfigError(f"runtime.threads: expected 0 (torch's default) or more, got {self.threads}")
        if self.nproc < 1:
            raise ConfigError(f"runtime.nproc: expected 1 or more processes, got {self.nproc}")
        if not 0 < self.resident_fraction <= 1:
            raise ConfigError(f"runtime.resident_fraction: expected a fraction in (0, 1], got {self.resident_fraction}")


@dataclass(frozen=True)
class Params:
    seed: int
    model: str
    task: str
    budget: str
    data: DataParams
    crop: CropParams
    split: SplitParams
    scale_study: ScaleStudyParams
    classifier: ClassifierParams
    efficientnet_study: EfficientNetStudyParams
    perseus: PerseusStudyParams
    evaluate: EvaluateParams = field(default_factory=EvaluateParams)
    runtime: RuntimeParams = field(default_factory=RuntimeParams)

    @property
    def recipe(self) -> Recipe:
        """The scale study's recipe under the selected budget."""
        return self.scale_study.recipe_for(self.budget)

    @property
    def classifier_recipe(self) -> ClassifierRecipe:
        """The classifier stages' recipe (Dai & Tong's) under the selected budget."""
        return self.classifier.recipe_for(self.budget)


def load_params(path: Path | str = DEFAULT_PARAMS) -> Params:
    """Read and validate params.yaml; every problem is a ConfigError naming the file and the key."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: parameter file not found (run from the project root)")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    try:
        params = _build(Params, raw, "")
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    _check_values(params)
    return params


def _check_values(p: Params) -> None:
    from galzoo.models.registry import check_model_name
    from galzoo.preprocess.crops import check_scale
    from galzoo.tasks import get_task

    check_model_name(p.model)
    check_model_name(p.scale_study.model, key="scale_study.model")
    if p.task != "auto":
        try:
            get_task(p.task)
        except ConfigError as error:
            raise ConfigError(f"{error} (or auto: the task of the model's own study)") from None
    for scale in p.crop.scales:
        check_scale(scale)
    if not p.crop.scales:
        raise ConfigError("crop.scales: expected at least one scale")
    _check_split("split", p.split)
    _positive("data.synthetic.n_images", p.data.synthetic.n_images)
    _positive("crop.output_size", p.crop.output_size)
    recipe = p.recipe
    for key in ("batch_size", "epochs"):
        _positive(f"scale_study.recipe.{key}", getattr(recipe, key))
    _positive("scale_study.recipe.lr", recipe.lr)
    _positive("evaluate.batch_size", p.evaluate.batch_size)
    _positive("evaluate.nondeterministic_passes", p.evaluate.nondeterministic_passes)
    _check_classifier(p.classifier, p.classifier_recipe)
    _check_efficientnet_study(p.efficientnet_study, p.efficientnet_study.recipe_for(p.budget))
    _check_perseus(p.perseus, p.perseus.recipe_for(p.budget))


def _check_classifier(c: ClassifierParams, recipe: ClassifierRecipe) -> None:
    _check_split("classifier.split", c.split)
    low, high = _pair("classifier.augment.train_sides", c.augment.train_sides)
    sides = [low, high, *c.test_sides]
    if not c.test_sides:
        raise ConfigError("classifier.test_sides: expected at least one test crop side")
    if min(sides) < 1 or max(sides) > c.crop.source_side:
        raise ConfigError(f"classifier: crop sides {sides} must lie in [1, classifier.crop.source_side = "
                          f"{c.crop.source_side}], the stored centre crop")
    if not c.augment.input_size <= c.augment.resize:
        raise ConfigError(f"classifier.augment.input_size ({c.augment.input_size}) must not exceed "
                          f"classifier.augment.resize ({c.augment.resize})")
    for key in ("contrast", "saturation"):
        _pair(f"classifier.augment.{key}", getattr(c.augment, key))
    for key in ("batch_size", "iterations", "eval_every", "lr"):
        _positive(f"classifier.recipe.{key}", getattr(recipe, key))
    for key in ("warmup_iterations", "clip_grad_norm"):
        if getattr(recipe, key) < 0:
            raise ConfigError(f"classifier.recipe.{key}: expected 0 (off) or a positive number, "
                              f"got {getattr(recipe, key)}")
    _positive("classifier.crop.store_size", c.crop.store_size)
    _positive("classifier.visualize.galaxies_per_class", c.visualize.galaxies_per_class)


def _check_efficientnet_study(e: EfficientNetStudyParams, recipe: PhasedRecipe) -> None:
    key = "efficientnet_study"
    _check_split(f"{key}.split", e.split)
    for name in ("source_side", "input_size"):
        _positive(f"{key}.crop.{name}", getattr(e.crop, name))
    _positive(f"{key}.head.hidden", e.head.hidden)
    if not 0 <= e.head.dropout < 1:
        raise ConfigError(f"{key}.head.dropout: expected a probability in [0, 1), got {e.head.dropout}")
    low, high = _pair(f"{key}.augment.brightness", e.augment.brightness)
    if low <= 0:
        raise ConfigError(f"{key}.augment.brightness: expected positive factors, got {e.augment.brightness}")
    for name in ("lr", "batch_size", "plateau_factor", "plateau_patience", "early_stop_patience"):
        _positive(f"{key}.recipe.{name}", getattr(recipe, name))
    for name in ("head_epochs", "full_epochs"):
        if getattr(recipe, name) < 0:
            raise ConfigError(f"{key}.recipe.{name}: expected 0 or more epochs, got {getattr(recipe, name)}")
    if recipe.head_epochs + recipe.full_epochs == 0:
        raise ConfigError(f"{key}.recipe: head_epochs and full_epochs are both 0: nothing would be trained")


def _check_perseus(s: PerseusStudyParams, recipe: PerseusRecipe) -> None:
    _check_split("perseus.split", s.split)
    red = s.selection.red_filter
    if not 0 < red.max_fraction <= 1:
        raise ConfigError(f"perseus.selection.red_filter.max_fraction: expected a fraction in (0, 1], "
                          f"got {red.max_fraction}")
    if not 0 < red.hue_deg < 180:
        raise ConfigError(f"perseus.selection.red_filter.hue_deg: expected degrees in (0, 180), got {red.hue_deg}")
    for name in ("min_saturation", "min_value"):
        if not 0 <= getattr(red, name) <= 255:
            raise ConfigError(f"perseus.selection.red_filter.{name}: expected 0-255, got {getattr(red, name)}")
    _positive("perseus.selection.match_radius_arcsec", s.selection.match_radius_arcsec)
    if not s.rotations_deg:
        raise ConfigError("perseus.rotations_deg: expected at least one angle (0 = the image as it is)")
    if len(set(a % 360 for a in s.rotations_deg)) != len(s.rotations_deg):
        raise ConfigError(f"perseus.rotations_deg: {s.rotations_deg} repeats an angle (modulo 360): each copy "
                          f"of an object must differ")
    for name in ("lr", "batch_size", "epochs", "input_size", "lr_decay_steps"):
        _positive(f"perseus.recipe.{name}", getattr(recipe, name))
    if recipe.early_stop_patience < 0:
        raise ConfigError(f"perseus.recipe.early_stop_patience: expected 0 (never) or more epochs, "
                          f"got {recipe.early_stop_patience}")
    if not 0 < recipe.lr_decay_rate <= 1:
        raise ConfigError(f"perseus.recipe.lr_decay_rate: expected a factor in (0, 1], got {recipe.lr_decay_rate}")


def _check_split(key: str, split: SplitParams) -> None:
    for name in ("test_fraction", "val_fraction"):
        value = getattr(split, name)
        if not 0 < value < 1:
            raise ConfigError(f"{key}.{name}: expected a fraction in (0, 1), got {value}")


def _pair(key: str, values: list) -> tuple:
    if len(values) != 2 or values[0] > values[1]:
        raise ConfigError(f"{key}: expected [low, high] with low <= high, got {values}")
    return values[0], values[1]


def _positive(key: str, value: float) -> None:
    if not value > 0:
        raise ConfigError(f"{key}: expected a positive number, got {value}")


def _build(cls, raw: Any, path: str):
    """Build dataclass ``cls`` from a mapping, checking keys and types recursively."""
    where = path or "params"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"{_join(path, unknown[0])}: unknown key; expected one of {sorted(fields)}")
    values = {}
    for name, f in fields.items():
        key = _join(path, name)
        if name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{key}: missing")
            continue
        values[name] = _coerce(hints[name], raw[name], key)
    return cls(**values)


def _coerce(hint: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key)
    if origin is Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise ConfigError(f"{key}: expected one of {list(choices)}, got {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        (item,) = typing.get_args(hint)[:1]
        return [_coerce(item, v, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in typing.get_args(hint):
            return None
        (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
        return _coerce(inner, value, key)
    if hint is Any:
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if hint is int or hint is bool or hint is str:
        if type(value) is not hint:
            raise ConfigError(f"{key}: expected {hint.__name__}, got {value!r}")
        return value
    raise TypeError(f"config type {hint} of {key} is not supported")  # pragma: no cover - programming error


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
