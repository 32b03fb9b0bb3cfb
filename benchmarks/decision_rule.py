"""What the decision rule alone buys a trained classifier: more test views, or a class-prior shift.

Takes a model kept by ``learning_curve.py --keep DIR`` and rescores its validation and test galaxies four ways:
the study's own four test sides Q (as the evaluate stage), those views under all eight rotations and flips of
the square (D4, 32 views), and each of these with the probabilities divided by the training prior to a power
t in [0, 1] (logit adjustment; t > 0 favours the rare classes): the evaluate stage's
``cnn_comparison.test_rotations_flips`` and ``cnn_comparison.prior_power``, computed by the same functions.
t is chosen on the validation split only, as the largest of min(accuracy / 0.88, smallest recall of
elliptical, spiral, edge-on / 0.75), the issue's GZ1 target, then the test split is scored once with it.
It also scores the training split the same way (four views, no augmentation): a fit no better than the
test's says the model is not overfitting. ``--against DIR`` counts
the galaxies of each split that this model and another kept one both get wrong. Run it where
``learning_curve.py`` ran (the same params.yaml, store and split). Not a test: it measures, and says whether
training or the decision rule is the limit.

    python benchmarks/decision_rule.py /tmp/kept [--against /tmp/other_kept]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from galzoo.config import load_params
from galzoo.evaluation.classification import classification_scores, predict_views, prior_adjusted
from galzoo.models.checkpoint import load_checkpoint
from galzoo.studies import resolve
from galzoo.studies.cnn_comparison import training_prior
from galzoo.training.data import LabelledStore
from galzoo.training.multiscale import MultiScaleCrops, multiscale_test_views

TARGET_ACCURACY = 0.88
TARGET_RECALL = 0.75
TARGET_CLASSES = ("elliptical", "spiral", "edge_on")
PRIOR_POWERS = np.round(np.linspace(0.0, 1.0, 11), 2)  # cnn_comparison.prior_power takes [0, 1]


def describe(tag: str, probabilities: np.ndarray, labels: np.ndarray, names: tuple[str, ...]) -> dict:
    scores = classification_scores(labels, probabilities, names)
    recall = {name: scores["per_class"][name]["recall"] for name in names}
    print(f"{tag}: accuracy {scores['accuracy']:.3f}, macro F1 {scores['macro_f1']:.3f}, AUC {scores['auc']:.3f}; "
          "recall " + ", ".join(f"{name} {value:.2f}" for name, value in recall.items()), flush=True)
    return {"accuracy": scores["accuracy"], "recall": recall}


def target_score(scores: dict) -> float:
    """How near the GZ1 target a scoring is: 1 or more when both the accuracy and each recall reach it."""
    return min(scores["accuracy"] / TARGET_ACCURACY,
               min(scores["recall"][name] for name in TARGET_CLASSES) / TARGET_RECALL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kept", type=Path, help="a directory written by learning_curve.py --keep")
    parser.add_argument("--raw", type=Path, default=None, help="default: data/raw/<data.source>")
    parser.add_argument("--store", type=Path, default=Path("data/task_store"))
    parser.add_argument("--split", type=Path, default=Path("data/splits/task.csv"))
    parser.add_argument("--against", type=Path, default=None, metavar="DIR",
                        help="another kept model: count the galaxies both get wrong")
    args = parser.parse_args()
    params = resolve(load_params())
    device = torch.device("cpu")
    model, meta = load_checkpoint(args.kept / "model.pt", device)
    data = LabelledStore(args.store, args.raw or Path("data/raw") / params.data.source, args.split,
                         meta["scale"], meta["task"])
    names = tuple(meta["class_names"])
    missing = [name for name in TARGET_CLASSES if name not in names]
    if missing:
        raise SystemExit(f"{args.kept / 'model.pt'}: classes {list(names)} lack {missing}, which the GZ1 target names")
    c = params.cnn_comparison
    crops = MultiScaleCrops(c.augment, source_side=c.crop.source_side, store_size=c.crop.store_size)

    def mean_probabilities(net: torch.nn.Module, views: torch.Tensor, rotations_flips: bool = False) -> np.ndarray:
        """As the evaluate stage scores (``cnn_comparison.test_rotations_flips``), before any prior shift."""
        return predict_views(net, views, batch_size=params.evaluate.batch_size, device=device, amp_dtype=None,
                             rotations_flips=rotations_flips).mean(axis=1)

    views, labels, four_sides = {}, {}, {}  # per split: the four test sides' views, labels, this model's scores
    for subset in ("train", "val", "test"):
        _, rows, labels[subset] = data.subsets[subset]
        views[subset] = multiscale_test_views(data.images, rows, crops, meta["preprocessing"]["test_sides"])
        four_sides[subset] = mean_probabilities(model, views[subset])

    prior = training_prior(labels["train"], names, max(PRIOR_POWERS))
    describe("train (the fit), 4 sides", four_sides["train"], labels["train"], names)
    if args.against:
        other, _ = load_checkpoint(args.against / "model.pt", device)
        for subset in ("train", "val", "test"):
            wrong = four_sides[subset].argmax(axis=1) != labels[subset]
            wrong_other = mean_probabilities(other, views[subset]).argmax(axis=1) != labels[subset]
            print(f"{subset}: {wrong.sum()} wrong here, {wrong_other.sum()} in {args.against}, "
                  f"{(wrong & wrong_other).sum()} of {len(labels[subset])} in both", flush=True)

    for views_name, rotations_flips in (("4 sides", False), ("4 sides x D4", True)):
        probabilities = {subset: (mean_probabilities(model, views[subset], True) if rotations_flips
                                  else four_sides[subset], labels[subset])
                         for subset in ("val", "test")}
        describe(f"test, {views_name}", *probabilities["test"], names)
        val_probs, val_labels = probabilities["val"]
        on_val = {t: target_score(describe(f"  val, {views_name}, prior^{t:+.1f}", prior_adjusted(val_probs, prior, t),
                                           val_labels, names)) for t in PRIOR_POWERS}
        best = max(on_val, key=on_val.get)
        test_probs, test_labels = probabilities["test"]
        describe(f"test, {views_name}, prior^{best:+.1f} (chosen on val)", prior_adjusted(test_probs, prior, best),
                 test_labels, names)


if __name__ == "__main__":
    main()
