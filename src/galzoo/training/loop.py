"""The training loop: short enough to read in one sitting (nanoGPT style), shared by every study."""
from __future__ import annotations

import copy
import itertools
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from galzoo.config import ClassifierRecipe, PhasedRecipe, Recipe
from galzoo.errors import GalzooError
from galzoo.evaluation.regression import predict
from galzoo.progress import progress_bar
from galzoo.training.runtime import autocast


class TrainingDiverged(GalzooError):
    """The loss became NaN or infinite: the learning rate is too high for this model and data."""


@dataclass
class History:
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    images_per_second: list[float] = field(default_factory=list)


def make_optimizer(model: nn.Module, recipe: Recipe | ClassifierRecipe) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                           nesterov=recipe.nesterov, weight_decay=recipe.weight_decay)


def make_schedule(optimizer: torch.optim.Optimizer, recipe: Recipe) -> torch.optim.lr_scheduler.LRScheduler:
    """Step decay at the recipe's epochs ("at epoch 6 we decreased this value"), stepped once per epoch."""
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=recipe.lr_drop_epochs,
                                                gamma=recipe.lr_drop_factor)


def shuffled_loader(train_set: Dataset, batch_size: int, *, seed: int, device: torch.device) -> DataLoader:
    """Shuffled full batches in an order fixed by ``seed``; a split smaller than one batch is an error."""
    loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, drop_last=True,
                        generator=torch.Generator().manual_seed(seed), pin_memory=device.type == "cuda")
    if len(loader) == 0:
        raise GalzooError(f"the training split has {len(train_set)} images, fewer than one batch of {batch_size}")
    return loader


def sgd_step(model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: nn.Module, x: torch.Tensor,
             y: torch.Tensor, *, device: torch.device, amp_dtype: torch.dtype | None, where: str, fix: str,
             clip_grad_norm: float = 0.0) -> float:
    """One optimisation step on a batch; returns its loss. A non-finite loss stops training with an error
    saying ``where`` it happened and what to ``fix``, before the step can spoil the weights.
    ``clip_grad_norm`` > 0 rescales the gradient to at most that global L2 norm first."""
    x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
    with autocast(device, amp_dtype):
        out = model(x)
    loss = loss_fn(out.float(), y)
    if not torch.isfinite(loss):
        raise TrainingDiverged(f"{where}: training loss became {loss.item()}; {fix} or try another model")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clip_grad_norm > 0:
        nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
    optimizer.step()
    return loss.item()


def fit(model: nn.Module, train_set: Dataset, val_set: Dataset, recipe: Recipe, *, device: torch.device,
        amp_dtype: torch.dtype | None, seed: int, eval_batch_size: int = 256, live=None,
        progress: bool = True, label: str = "") -> History:
    """Train with MSE for ``recipe.epochs`` epochs; after each, log train and validation MSE to ``live``.

    Validation is deterministic (dropout off, no augmentation), the same scoring as the test.
    """
    model.to(device)
    optimizer = make_optimizer(model, recipe)
    schedule = make_schedule(optimizer, recipe)
    loss_fn = nn.MSELoss()
    loader = shuffled_loader(train_set, recipe.batch_size, seed=seed, device=device)
    history = History()
    for epoch in range(1, recipe.epochs + 1):
        model.train()
        lr = optimizer.param_groups[0]["lr"]
        running, seen, start = 0.0, 0, time.perf_counter()
        bar = progress_bar(loader, enabled=progress, desc=f"{label} epoch {epoch}/{recipe.epochs}", leave=False)
        for x, y in bar:
            loss = sgd_step(model, optimizer, loss_fn, x, y, device=device, amp_dtype=amp_dtype,
                            where=f"{label}: in epoch {epoch} (lr {lr})", fix="lower scale_study.recipe.lr")
            running += loss * len(x)
            seen += len(x)
            bar.set_postfix(mse=f"{running / seen:.5f}")
        elapsed = time.perf_counter() - start
        schedule.step()
        val_pred, val_true = predict(model, val_set, batch_size=eval_batch_size, device=device, amp_dtype=amp_dtype)
        val_loss = float(((val_pred - val_true) ** 2).mean())
        history.train_loss.append(running / seen)
        history.val_loss.append(val_loss)
        history.lr.append(lr)
        history.images_per_second.append(seen / elapsed)
        print(f"{label} epoch {epoch}/{recipe.epochs}: train mse {running / seen:.5f}  val mse {val_loss:.5f}  "
              f"lr {lr:g}  {seen / elapsed:.0f} img/s", file=sys.stderr)
        if live is not None:
            live.log_metric("train/mse", running / seen)
            live.log_metric("val/mse", val_loss)
            live.log_metric("val/rmse", math.sqrt(val_loss))
            live.log_metric("lr", lr)
            live.log_metric("images_per_second", seen / elapsed)
            live.next_step()
    return history


def iteration_lr_factor(recipe: ClassifierRecipe, step: int) -> float:
    """The lr of iteration ``step`` (1-based) as a fraction of ``recipe.lr``: a linear warm-up over the first
    ``warmup_iterations`` steps, times ``lr_drop_factor`` for every drop already passed."""
    warmup = min(1.0, step / recipe.warmup_iterations) if recipe.warmup_iterations > 0 else 1.0
    drops = sum(step > boundary for boundary in recipe.lr_drop_iterations)
    return warmup * recipe.lr_drop_factor ** drops


def fit_iterations(model: nn.Module, train_set: Dataset, recipe: ClassifierRecipe, *, loss_fn: nn.Module,
                   validate: Callable[[nn.Module], dict[str, float]], device: torch.device,
                   amp_dtype: torch.dtype | None, seed: int, live=None, progress: bool = True,
                   label: str = "") -> dict[str, float]:
    """Train for ``recipe.iterations`` SGD steps (Dai & Tong count iterations, not epochs), dividing the lr
    by ``1 / lr_drop_factor`` after each of ``lr_drop_iterations`` (after an optional warm-up); every ``eval_every`` steps and at the end,
    log the mean training loss and ``validate(model)`` (which must leave the model as it found it).

    Returns the last validation metrics.
    """
    model.to(device)
    optimizer = make_optimizer(model, recipe)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda done: iteration_lr_factor(recipe, done + 1))
    loader = shuffled_loader(train_set, recipe.batch_size, seed=seed, device=device)
    batches = itertools.chain.from_iterable(itertools.repeat(loader))  # a new shuffle every pass
    model.train()
    running, seen, start, val = 0.0, 0, time.perf_counter(), {}
    bar = progress_bar(range(1, recipe.iterations + 1), enabled=progress, desc=f"{label} iterations", leave=False)
    for step in bar:
        x, y = next(batches)
        lr = optimizer.param_groups[0]["lr"]
        loss = sgd_step(model, optimizer, loss_fn, x, y, device=device, amp_dtype=amp_dtype,
                        where=f"{label}: at iteration {step} (lr {lr})",
                        fix="lower classifier.recipe.lr (or the budget's lr), or set a warm-up or clip_grad_norm",
                        clip_grad_norm=recipe.clip_grad_norm)
        schedule.step()
        running += loss * len(x)
        seen += len(x)
        if step % recipe.eval_every == 0 or step == recipe.iterations:
            elapsed = time.perf_counter() - start
            val = validate(model)
            model.train()
            summary = "  ".join(f"val {k} {v:.4f}" for k, v in val.items())
            print(f"{label} iteration {step}/{recipe.iterations}: train loss {running / seen:.4f}  {summary}  "
                  f"lr {lr:g}  {seen / elapsed:.0f} img/s", file=sys.stderr)
            if live is not None:
                live.step = step
                live.log_metric("train/loss", running / seen)
                for key, value in val.items():
                    live.log_metric(f"val/{key}", value)
                live.log_metric("lr", lr)
                live.log_metric("images_per_second", seen / elapsed)
                live.next_step()
            running, seen, start = 0.0, 0, time.perf_counter()
    return val


@dataclass
class PhaseOutcome:
    best_val_loss: float
    best_epoch: int
    epochs_run: int
    stopped_early: bool


def fit_phase(model: nn.Module, trainable: list[nn.Parameter] | None, train_set: Dataset, val_set: Dataset,
              recipe: PhasedRecipe, *, epochs: int, device: torch.device, amp_dtype: torch.dtype | None, seed: int,
              eval_batch_size: int = 256, live=None, progress: bool = True, label: str = "",
              phase: str = "") -> PhaseOutcome:
    """One phase of Kalvankar et al.'s Keras recipe: Adam on MSE for at most ``epochs`` epochs, the lr times
    ``plateau_factor`` after ``plateau_patience`` epochs without a better validation loss, a stop after
    ``early_stop_patience`` such epochs, and the best epoch's weights restored at the end.

    ``trainable`` (None = all) are the parameters this phase trains; the rest are frozen, and the frozen
    part runs in eval mode, as a frozen Keras backbone does (its batch-norm statistics stay fixed).
    """
    model.to(device)
    everything = list(model.parameters())
    chosen = everything if trainable is None else list(trainable)
    chosen_ids = {id(p) for p in chosen}
    for p in everything:
        p.requires_grad_(id(p) in chosen_ids)
    frozen_modules = [m for m in model.modules()
                      if list(m.parameters(recurse=False)) and not any(id(p) in chosen_ids
                                                                      for p in m.parameters(recurse=False))]
    optimizer = torch.optim.Adam(chosen, lr=recipe.lr)
    # Keras lowers the lr on the ``patience``-th epoch without an improvement of at least 1e-4; torch's
    # scheduler on the one after, so its patience is one less.
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=recipe.plateau_factor,
                                                         patience=recipe.plateau_patience - 1,
                                                         threshold=1e-4, threshold_mode="abs")
    loss_fn = nn.MSELoss()
    loader = shuffled_loader(train_set, recipe.batch_size, seed=seed, device=device)
    best = PhaseOutcome(math.inf, 0, 0, False)
    best_state = copy.deepcopy(model.state_dict())
    for epoch in range(1, epochs + 1):
        model.train()
        for module in frozen_modules:
            module.eval()
        lr = optimizer.param_groups[0]["lr"]
        running, seen, start = 0.0, 0, time.perf_counter()
        bar = progress_bar(loader, enabled=progress, desc=f"{label} {phase} epoch {epoch}/{epochs}", leave=False)
        for x, y in bar:
            loss = sgd_step(model, optimizer, loss_fn, x, y, device=device, amp_dtype=amp_dtype,
                            where=f"{label}: {phase} phase, epoch {epoch} (lr {lr:g})",
                            fix="lower efficientnet_study.recipe.lr")
            running += loss * len(x)
            seen += len(x)
            bar.set_postfix(mse=f"{running / seen:.5f}")
        elapsed = time.perf_counter() - start
        val_pred, val_true = predict(model, val_set, batch_size=eval_batch_size, device=device, amp_dtype=amp_dtype)
        val_loss = float(((val_pred - val_true) ** 2).mean())
        plateau.step(val_loss)
        best.epochs_run = epoch
        if val_loss < best.best_val_loss:
            best.best_val_loss, best.best_epoch = val_loss, epoch
            best_state = copy.deepcopy(model.state_dict())
        print(f"{label} {phase} epoch {epoch}/{epochs}: train mse {running / seen:.5f}  val rmse "
              f"{math.sqrt(val_loss):.5f}  lr {lr:g}  {seen / elapsed:.0f} img/s", file=sys.stderr)
        if live is not None:
            live.log_metric("train/mse", running / seen)
            live.log_metric("val/rmse", math.sqrt(val_loss))
            live.log_metric("lr", lr)
            live.log_metric("images_per_second", seen / elapsed)
            live.next_step()
        if epoch - best.best_epoch >= recipe.early_stop_patience:
            best.stopped_early = True
            print(f"{label} {phase}: no better validation loss for {recipe.early_stop_patience} epochs, "
                  f"stopping; restoring epoch {best.best_epoch}", file=sys.stderr)
            break
    model.load_state_dict(best_state)
    for p in everything:
        p.requires_grad_(True)
    return best
