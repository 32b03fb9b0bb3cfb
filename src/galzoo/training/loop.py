"""The training loop: short enough to read in one sitting (nanoGPT style), shared by every study."""
from __future__ import annotations

import copy
import itertools
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from galzoo.config import ClassifierRecipe, PhasedRecipe, Recipe
from galzoo.errors import GalzooError
from galzoo.evaluation.regression import predict
from galzoo.progress import progress_bar
from galzoo.training.device_data import ResidentImages, as_batches
from galzoo.training.distributed import SINGLE_PROCESS, Distributed
from galzoo.training.runtime import Acceleration, autocast, prepare_for_training

CHECK_EVERY_CUDA = 50
"""On CUDA the running loss stays on the device and is read (and checked for NaN) every this many steps:
reading it every step would make the GPU wait for the host after each batch."""


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


def train_step(net: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: nn.Module, x: torch.Tensor,
               y: torch.Tensor, *, device: torch.device, amp_dtype: torch.dtype | None, clip_grad_norm: float = 0.0,
               accel: Acceleration = Acceleration(), check: tuple[str, str] | None = None) -> torch.Tensor:
    """One optimisation step on a batch; returns its loss, detached and still on the device.

    ``check = (where, fix)`` reads the loss before the update and stops with an error saying where it
    became non-finite and what to fix (with several processes the decision is taken together, so no process
    is left waiting). ``clip_grad_norm`` > 0 rescales the gradient to at most that global L2 norm first.
    """
    x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
    if accel.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    if accel.compile_mode == "reduce-overhead":
        torch.compiler.cudagraph_mark_step_begin()
    with autocast(device, amp_dtype):
        out = net(x)
    loss = loss_fn(out.float(), y)
    if check is not None:
        _stop_if_diverged(loss, accel.dist, *check)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clip_grad_norm > 0:
        nn.utils.clip_grad_norm_(net.parameters(), clip_grad_norm)
    optimizer.step()
    return loss.detach()


def _stop_if_diverged(value: torch.Tensor, dist: Distributed, where: str, fix: str) -> None:
    if dist.enabled:  # a NaN on any process stops all of them
        value = dist.all_reduce_sum(value.detach().double().reshape(1))[0]
    if not torch.isfinite(value):
        raise TrainingDiverged(f"{where}: training loss became {value.item()}; {fix} or try another model")


def sgd_step(model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: nn.Module, x: torch.Tensor,
             y: torch.Tensor, *, device: torch.device, amp_dtype: torch.dtype | None, where: str, fix: str,
             clip_grad_norm: float = 0.0) -> float:
    """One optimisation step on a batch; returns its loss. A non-finite loss stops training with an error
    saying ``where`` it happened and what to ``fix``, before the step can spoil the weights.
    ``clip_grad_norm`` > 0 rescales the gradient to at most that global L2 norm first."""
    return train_step(model, optimizer, loss_fn, x, y, device=device, amp_dtype=amp_dtype,
                      clip_grad_norm=clip_grad_norm, check=(where, fix)).item()


class RunningLoss:
    """The mean training loss over an interval of steps (batch losses weighted by batch size).

    On the CPU each step's loss is read, and checked, before its update, and summed in Python as it always
    was. On CUDA the sum stays on the device and is read and checked every ``CHECK_EVERY_CUDA`` steps and
    at the end of the interval. With several processes ``reduce`` sums over all of them.
    """

    def __init__(self, device: torch.device, dist: Distributed, where: str, fix: str):
        self.deferred = device.type == "cuda"
        self.device, self.dist, self.where, self.fix = device, dist, where, fix
        self.total: float | torch.Tensor = torch.zeros((), dtype=torch.float64, device=device) if self.deferred else 0.0
        self.seen = 0
        self.steps = 0

    @property
    def check(self) -> tuple[str, str] | None:
        """What ``train_step`` needs to check each loss before its update (None when checks are deferred)."""
        return None if self.deferred else (self.where, self.fix)

    def add(self, loss: torch.Tensor, count: int) -> bool:
        """Count one step; True when the running mean is readable now without waiting for the device."""
        if self.deferred:
            self.total += loss.double() * count
        else:
            self.total += loss.item() * count
        self.seen += count
        self.steps += 1
        if self.deferred and self.steps % CHECK_EVERY_CUDA == 0:
            _stop_if_diverged(self.total, self.dist, self.where, self.fix)
            return True
        return not self.deferred

    def mean(self) -> float:
        """This process's mean so far."""
        return float(self.total) / self.seen

    def reduce(self) -> tuple[float, int]:
        """The mean over every process and the number of images they saw (reads the device)."""
        if self.deferred:
            _stop_if_diverged(self.total, self.dist, self.where, self.fix)
        if not self.dist.enabled:
            return float(self.total) / self.seen, self.seen
        sums = torch.tensor([float(self.total), float(self.seen)], dtype=torch.float64,
                            device=self.device if self.device.type == "cuda" else "cpu")
        total, seen = self.dist.all_reduce_sum(sums).tolist()
        return total / seen, int(seen)


def validation_predictions(model: nn.Module, val, *, batch_size: int, device: torch.device,
                           amp_dtype: torch.dtype | None, dist: Distributed = SINGLE_PROCESS
                           ) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic outputs and targets over the whole validation split (a Dataset or ResidentImages), on
    every process; with several processes each predicts its shard and the shards are gathered."""
    if not dist.enabled and not isinstance(val, ResidentImages):
        return predict(model, val, batch_size=batch_size, device=device, amp_dtype=amp_dtype)
    if len(val) < dist.world_size:
        raise GalzooError(f"the validation split has {len(val)} images, fewer than the {dist.world_size} "
                          f"processes (runtime.nproc)")
    indices = dist.shard(len(val))
    if isinstance(val, ResidentImages):
        pred = val.predict(model, indices, batch_size=batch_size, amp_dtype=amp_dtype)
        true = val.targets[indices].astype(np.float64)
    else:
        pred, true = predict(model, Subset(val, indices.tolist()), batch_size=batch_size, device=device,
                             amp_dtype=amp_dtype)
    return dist.gather_rows(indices, pred, true, n=len(val))


def _mse(pred: np.ndarray, true: np.ndarray) -> float:
    return float(((pred - true) ** 2).mean())


def fit(model: nn.Module, train_set, val_set, recipe: Recipe, *, device: torch.device,
        amp_dtype: torch.dtype | None, seed: int, eval_batch_size: int = 256, live=None,
        progress: bool = True, label: str = "", accel: Acceleration = Acceleration()) -> History:
    """Train with MSE for ``recipe.epochs`` epochs; after each, log train and validation MSE to ``live``.

    ``train_set`` is a Dataset (the DataLoader path) or DeviceBatches (the device-resident path);
    ``val_set`` a Dataset or ResidentImages. Validation is deterministic (dropout off, no augmentation), the
    same scoring as the test. With several processes (``accel.dist``) the logged figures cover all of them.
    """
    model.to(device)
    dist = accel.dist
    net = prepare_for_training(model, accel, device)
    optimizer = make_optimizer(model, recipe)
    schedule = make_schedule(optimizer, recipe)
    loss_fn = nn.MSELoss()
    batches = as_batches(train_set, recipe.batch_size, seed=seed, device=device, dist=dist)
    history = History()
    for epoch in range(1, recipe.epochs + 1):
        model.train()
        batches.set_epoch(epoch)
        lr = optimizer.param_groups[0]["lr"]
        running = RunningLoss(device, dist, f"{label}: in epoch {epoch} (lr {lr})", "lower scale_study.recipe.lr")
        start = time.perf_counter()
        bar = progress_bar(batches, enabled=progress and dist.is_main, desc=f"{label} epoch {epoch}/{recipe.epochs}",
                           leave=False)
        for x, y in bar:
            loss = train_step(net, optimizer, loss_fn, x, y, device=device, amp_dtype=amp_dtype, accel=accel,
                              check=running.check)
            if running.add(loss, len(x)):
                bar.set_postfix(mse=f"{running.mean():.5f}", refresh=False)
        train_loss, seen = running.reduce()
        elapsed = time.perf_counter() - start
        schedule.step()
        val_pred, val_true = validation_predictions(model, val_set, batch_size=eval_batch_size, device=device,
                                                    amp_dtype=amp_dtype, dist=dist)
        val_loss = _mse(val_pred, val_true)
        history.train_loss.append(train_loss)
        history.val_loss.append(val_loss)
        history.lr.append(lr)
        history.images_per_second.append(seen / elapsed)
        if dist.is_main:
            print(f"{label} epoch {epoch}/{recipe.epochs}: train mse {train_loss:.5f}  val mse {val_loss:.5f}  "
                  f"lr {lr:g}  {seen / elapsed:.0f} img/s", file=sys.stderr)
        if live is not None and dist.is_main:
            live.log_metric("train/mse", train_loss)
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


def fit_iterations(model: nn.Module, train_set, recipe: ClassifierRecipe, *, loss_fn: nn.Module,
                   validate: Callable[[nn.Module], dict[str, float]], device: torch.device,
                   amp_dtype: torch.dtype | None, seed: int, live=None, progress: bool = True,
                   label: str = "", accel: Acceleration = Acceleration()) -> dict[str, float]:
    """Train for ``recipe.iterations`` SGD steps (Dai & Tong count iterations, not epochs), dividing the lr
    by ``1 / lr_drop_factor`` after each of ``lr_drop_iterations`` (after an optional warm-up); every
    ``eval_every`` steps and at the end, log the mean training loss and ``validate(model)`` (which must leave
    the model as it found it, and with several processes return the same figures on all of them).

    Returns the last validation metrics.
    """
    model.to(device)
    dist = accel.dist
    net = prepare_for_training(model, accel, device)
    optimizer = make_optimizer(model, recipe)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda done: iteration_lr_factor(recipe, done + 1))
    loader = as_batches(train_set, recipe.batch_size, seed=seed, device=device, dist=dist)
    batches = itertools.chain.from_iterable(itertools.repeat(loader))  # a new shuffle every pass
    model.train()
    fix = "lower classifier.recipe.lr (or the budget's lr), or set a warm-up or clip_grad_norm"
    running, start, val = None, time.perf_counter(), {}
    bar = progress_bar(range(1, recipe.iterations + 1), enabled=progress and dist.is_main,
                       desc=f"{label} iterations", leave=False)
    for step in bar:
        x, y = next(batches)
        lr = optimizer.param_groups[0]["lr"]
        where = f"{label}: at iteration {step} (lr {lr})"
        if running is None:
            running = RunningLoss(device, dist, where, fix)
        running.where = where
        loss = train_step(net, optimizer, loss_fn, x, y, device=device, amp_dtype=amp_dtype,
                          clip_grad_norm=recipe.clip_grad_norm, accel=accel, check=running.check)
        schedule.step()
        running.add(loss, len(x))
        if step % recipe.eval_every == 0 or step == recipe.iterations:
            train_loss, seen = running.reduce()
            elapsed = time.perf_counter() - start
            val = validate(model)
            model.train()
            if dist.is_main:
                summary = "  ".join(f"val {k} {v:.4f}" for k, v in val.items())
                print(f"{label} iteration {step}/{recipe.iterations}: train loss {train_loss:.4f}  {summary}  "
                      f"lr {lr:g}  {seen / elapsed:.0f} img/s", file=sys.stderr)
            if live is not None and dist.is_main:
                live.step = step
                live.log_metric("train/loss", train_loss)
                for key, value in val.items():
                    live.log_metric(f"val/{key}", value)
                live.log_metric("lr", lr)
                live.log_metric("images_per_second", seen / elapsed)
                live.next_step()
            running, start = None, time.perf_counter()
    return val


@dataclass
class PhaseOutcome:
    best_val_loss: float
    best_epoch: int
    epochs_run: int
    stopped_early: bool


def fit_phase(model: nn.Module, trainable: list[nn.Parameter] | None, train_set, val_set,
              recipe: PhasedRecipe, *, epochs: int, device: torch.device, amp_dtype: torch.dtype | None, seed: int,
              eval_batch_size: int = 256, live=None, progress: bool = True, label: str = "",
              phase: str = "", accel: Acceleration = Acceleration()) -> PhaseOutcome:
    """One phase of Kalvankar et al.'s Keras recipe: Adam on MSE for at most ``epochs`` epochs, the lr times
    ``plateau_factor`` after ``plateau_patience`` epochs without a better validation loss, a stop after
    ``early_stop_patience`` such epochs, and the best epoch's weights restored at the end.

    ``trainable`` (None = all) are the parameters this phase trains; the rest are frozen, and the frozen
    part runs in eval mode, as a frozen Keras backbone does (its batch-norm statistics stay fixed).
    """
    model.to(device)
    dist = accel.dist
    everything = list(model.parameters())
    chosen = everything if trainable is None else list(trainable)
    chosen_ids = {id(p) for p in chosen}
    for p in everything:
        p.requires_grad_(id(p) in chosen_ids)
    frozen_modules = [m for m in model.modules()
                      if list(m.parameters(recurse=False)) and not any(id(p) in chosen_ids
                                                                      for p in m.parameters(recurse=False))]
    net = prepare_for_training(model, accel, device)  # after freezing: DDP synchronises what trains
    optimizer = torch.optim.Adam(chosen, lr=recipe.lr)
    # Keras lowers the lr on the ``patience``-th epoch without an improvement of at least 1e-4; torch's
    # scheduler on the one after, so its patience is one less.
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=recipe.plateau_factor,
                                                         patience=recipe.plateau_patience - 1,
                                                         threshold=1e-4, threshold_mode="abs")
    loss_fn = nn.MSELoss()
    batches = as_batches(train_set, recipe.batch_size, seed=seed, device=device, dist=dist)
    best = PhaseOutcome(math.inf, 0, 0, False)
    best_state = copy.deepcopy(model.state_dict())
    for epoch in range(1, epochs + 1):
        model.train()
        for module in frozen_modules:
            module.eval()
        batches.set_epoch(epoch)
        lr = optimizer.param_groups[0]["lr"]
        running = RunningLoss(device, dist, f"{label}: {phase} phase, epoch {epoch} (lr {lr:g})",
                              "lower efficientnet_study.recipe.lr")
        start = time.perf_counter()
        bar = progress_bar(batches, enabled=progress and dist.is_main, desc=f"{label} {phase} epoch {epoch}/{epochs}",
                           leave=False)
        for x, y in bar:
            loss = train_step(net, optimizer, loss_fn, x, y, device=device, amp_dtype=amp_dtype, accel=accel,
                              check=running.check)
            if running.add(loss, len(x)):
                bar.set_postfix(mse=f"{running.mean():.5f}", refresh=False)
        train_loss, seen = running.reduce()
        elapsed = time.perf_counter() - start
        val_pred, val_true = validation_predictions(model, val_set, batch_size=eval_batch_size, device=device,
                                                    amp_dtype=amp_dtype, dist=dist)
        val_loss = _mse(val_pred, val_true)
        plateau.step(val_loss)
        best.epochs_run = epoch
        if val_loss < best.best_val_loss:
            best.best_val_loss, best.best_epoch = val_loss, epoch
            best_state = copy.deepcopy(model.state_dict())
        if dist.is_main:
            print(f"{label} {phase} epoch {epoch}/{epochs}: train mse {train_loss:.5f}  val rmse "
                  f"{math.sqrt(val_loss):.5f}  lr {lr:g}  {seen / elapsed:.0f} img/s", file=sys.stderr)
        if live is not None and dist.is_main:
            live.log_metric("train/mse", train_loss)
            live.log_metric("val/rmse", math.sqrt(val_loss))
            live.log_metric("lr", lr)
            live.log_metric("images_per_second", seen / elapsed)
            live.next_step()
        if epoch - best.best_epoch >= recipe.early_stop_patience:
            best.stopped_early = True
            if dist.is_main:
                print(f"{label} {phase}: no better validation loss for {recipe.early_stop_patience} epochs, "
                      f"stopping; restoring epoch {best.best_epoch}", file=sys.stderr)
            break
    model.load_state_dict(best_state)
    for p in everything:
        p.requires_grad_(True)
    return best
