"""The training loop: one loop for every study, short enough to read in one sitting (nanoGPT style).

A study varies it through small hooks, never through a copy: how long it runs (``Epochs`` or ``Iterations``),
what validation measures (``validate(model) -> dict``), how the lr moves (``LrSchedule``), when to stop and
which weights to keep (``EarlyStopping``), and what trains (the parameters its optimizer holds; the rest are
frozen). The recipe adapters at the end (``fit``, ``fit_iterations``, ``fit_phase``) turn a study's recipe
into those hooks.
"""
from __future__ import annotations

import copy
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, ClassVar

import numpy as np
import torch
from torch import nn
from torch.utils.data import Subset

from galzoo.config import CnnComparisonRecipe, PhasedRecipe, Recipe
from galzoo.errors import GalzooError
from galzoo.progress import progress_bar
from galzoo.training.device_data import ResidentImages, as_batches
from galzoo.training.distributed import SINGLE_PROCESS, Distributed
from galzoo.training.inference import predict_dataset
from galzoo.training.runtime import Acceleration, autocast, prepare_for_training

CHECK_EVERY_CUDA = 50
"""On CUDA the running loss stays on the device and is read (and checked for NaN) every this many steps:
reading it every step would make the GPU wait for the host after each batch."""


class TrainingDiverged(GalzooError):
    """The loss became NaN or infinite: the learning rate is too high for this model and data."""


# ---------------------------------------------------------------------------------------------------------
# One step


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
        return predict_dataset(model, val, batch_size=batch_size, device=device, amp_dtype=amp_dtype)
    if len(val) < dist.world_size:
        raise GalzooError(f"the validation split has {len(val)} images, fewer than the {dist.world_size} "
                          f"processes (runtime.nproc)")
    indices = dist.shard(len(val))
    if isinstance(val, ResidentImages):
        pred = val.predict(model, indices, batch_size=batch_size, amp_dtype=amp_dtype)
        true = val.targets[indices].astype(np.float64)
    else:
        pred, true = predict_dataset(model, Subset(val, indices.tolist()), batch_size=batch_size, device=device,
                                     amp_dtype=amp_dtype)
    return dist.gather_rows(indices, pred, true, n=len(val))


def _mse(pred: np.ndarray, true: np.ndarray) -> float:
    return float(((pred - true) ** 2).mean())


# ---------------------------------------------------------------------------------------------------------
# The hooks


@dataclass(frozen=True)
class Epochs:
    """``n`` passes over the training batches, validated after each."""

    n: int
    unit: ClassVar[str] = "epoch"
    logs_step: ClassVar[bool] = False  # DVCLive counts the validations itself, on across a second phase

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"Epochs({self.n}): train for at least one epoch")

    def steps(self, per_pass: int) -> tuple[int, int]:
        """(Steps in all, steps between validations) with ``per_pass`` batches per pass."""
        return self.n * per_pass, per_pass

    def count(self, step: int, per_pass: int) -> int:
        """The epoch of step ``step`` (1-based)."""
        return (step - 1) // per_pass + 1


@dataclass(frozen=True)
class Iterations:
    """``n`` optimisation steps, however many passes that takes, validated every ``every`` steps and after the
    last (Dai & Tong count iterations, not epochs)."""

    n: int
    every: int
    unit: ClassVar[str] = "iteration"
    logs_step: ClassVar[bool] = True  # DVCLive's step is the iteration

    def __post_init__(self) -> None:
        if self.n < 1 or self.every < 1:
            raise ValueError(f"Iterations({self.n}, every={self.every}): both must be at least 1")

    def steps(self, per_pass: int) -> tuple[int, int]:
        return self.n, self.every

    def count(self, step: int, per_pass: int) -> int:
        return step


class LrSchedule:
    """A torch lr scheduler and when the loop moves it: after every optimisation step (``each_step``), or
    after every validation, with the validation's ``monitor`` figure when it watches one (a plateau)."""

    def __init__(self, scheduler, *, each_step: bool = False, monitor: str | None = None):
        self.scheduler, self.each_step, self.monitor = scheduler, each_step, monitor

    @classmethod
    def per_step(cls, optimizer: torch.optim.Optimizer, factor: Callable[[int], float]) -> LrSchedule:
        """lr = the optimizer's lr x ``factor(steps done)`` (a warm-up, drops by iteration, Keras' decay)."""
        return cls(torch.optim.lr_scheduler.LambdaLR(optimizer, factor), each_step=True)

    @classmethod
    def milestones(cls, optimizer: torch.optim.Optimizer, validations: list[int], factor: float) -> LrSchedule:
        """lr x ``factor`` after each of the ``validations``-th validations ("at epoch 6 we decreased this
        value", when validating every epoch)."""
        return cls(torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=validations, gamma=factor))

    @classmethod
    def on_plateau(cls, optimizer: torch.optim.Optimizer, monitor: str, *, factor: float, patience: int,
                   min_delta: float = 1e-4) -> LrSchedule:
        """Keras' ReduceLROnPlateau: lr x ``factor`` on the ``patience``-th validation in a row whose
        ``monitor`` is not at least ``min_delta`` below the best. torch lowers it on the one after, so its
        patience is one less."""
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=factor,
                                                             patience=patience - 1, threshold=min_delta,
                                                             threshold_mode="abs")
        return cls(plateau, monitor=monitor)

    def after_step(self) -> None:
        if self.each_step:
            self.scheduler.step()

    def after_validation(self, metrics: dict[str, float]) -> None:
        if self.monitor is not None:
            self.scheduler.step(metrics[self.monitor])
        elif not self.each_step:
            self.scheduler.step()


@dataclass
class EarlyStopping:
    """The lowest validation ``monitor`` so far and the weights that gave it (Keras' EarlyStopping): training
    stops after ``patience`` validations without a lower one (0: never), and with ``restore_best`` it ends on
    the best weights rather than the last."""

    monitor: str
    patience: int = 0
    restore_best: bool = True
    best: float = math.inf
    best_at: int = 0  # the epoch (or iteration) of the best validation; 0 before one
    stopped_early: bool = False
    since_best: int = field(default=0, init=False)
    weights: dict | None = field(default=None, init=False, repr=False)

    def update(self, model: nn.Module, metrics: dict[str, float], at: int) -> bool:
        """Take the validation of epoch (or iteration) ``at``; True when training should stop."""
        self.since_best += 1
        if metrics[self.monitor] < self.best:
            self.best, self.best_at, self.since_best = metrics[self.monitor], at, 0
            if self.restore_best:
                self.weights = copy.deepcopy(model.state_dict())
        self.stopped_early = 0 < self.patience <= self.since_best
        return self.stopped_early

    def restore(self, model: nn.Module) -> bool:
        """Put the best weights back (with ``restore_best``); False when there is nothing to restore."""
        if self.weights is None:
            return False
        model.load_state_dict(self.weights)
        return True


@dataclass(frozen=True)
class Logged:
    """One validation's line of the log; ``step`` counts the optimisation steps done."""

    step: int
    train_loss: float
    val: dict[str, float]
    lr: float
    images_per_second: float


# ---------------------------------------------------------------------------------------------------------
# The loop


def train(model: nn.Module, batches, optimizer: torch.optim.Optimizer, loss_fn: nn.Module, *,
          length: Epochs | Iterations, validate: Callable[[nn.Module], dict[str, float]], fix: str,
          schedule: LrSchedule | None = None, stopping: EarlyStopping | None = None, clip_grad_norm: float = 0.0,
          device: torch.device, amp_dtype: torch.dtype | None, accel: Acceleration = Acceleration(), live=None,
          progress: bool = True, label: str = "", train_metric: str = "loss") -> list[Logged]:
    """Train ``model`` (on ``device``) on ``batches`` (``as_batches``) for ``length``; at every validation log
    ``train/<train_metric>``, ``val/<key>`` for each figure ``validate(model)`` returns, the last step's lr and
    the throughput to ``live`` (DVCLive) and stderr. Returns the log.

    The parameters ``optimizer`` holds train; the rest are frozen for the run, their modules in eval mode as
    a frozen Keras backbone's (batch-norm statistics stay fixed). With several processes (``accel.dist``)
    ``validate`` must give every process the same figures; the logged loss covers all of them. A non-finite
    loss stops training with an error saying where, and ``fix``: what the caller's user can change.
    """
    dist = accel.dist
    frozen, requires_grad = _freeze_all_but(model, optimizer)
    net = prepare_for_training(model, accel, device)  # after freezing: DDP synchronises what trains
    per_pass = len(batches)
    total, every = length.steps(per_pass)
    log = []
    running, start = RunningLoss(device, dist, label, fix), time.perf_counter()
    _train_mode(model, frozen)
    bar = progress_bar(_passes(batches), total=total, enabled=progress and dist.is_main, desc=label, leave=False)
    for step, (x, y) in enumerate(bar, start=1):
        lr = optimizer.param_groups[0]["lr"]
        at = length.count(step, per_pass)
        running.where = f"{label}: at {length.unit} {at} (lr {lr:g})"
        loss = train_step(net, optimizer, loss_fn, x, y, device=device, amp_dtype=amp_dtype,
                          clip_grad_norm=clip_grad_norm, accel=accel, check=running.check)
        if schedule is not None:
            schedule.after_step()
        if running.add(loss, len(x)):
            bar.set_postfix({train_metric: f"{running.mean():.4g}"}, refresh=False)
        if step % every and step < total:
            continue
        train_loss, seen = running.reduce()
        images_per_second = seen / (time.perf_counter() - start)
        log.append(Logged(step, train_loss, validate(model), lr, images_per_second))
        if schedule is not None:
            schedule.after_validation(log[-1].val)
        if dist.is_main:
            _report(log[-1], live, f"{label} {length.unit} {at}/{length.n}", train_metric, length.logs_step)
        stop = stopping is not None and stopping.update(model, log[-1].val, at)
        if stop:
            _say(dist, f"{label}: no better val {stopping.monitor} for {stopping.patience} validations, stopping")
        if stop or step == total:
            break
        running, start = RunningLoss(device, dist, label, fix), time.perf_counter()
        _train_mode(model, frozen)
    if stopping is not None and stopping.restore(model):
        _say(dist, f"{label}: keeping {length.unit} {stopping.best_at}, the best val {stopping.monitor} "
                   f"({stopping.best:.5g})")
    for parameter, flag in zip(model.parameters(), requires_grad):
        parameter.requires_grad_(flag)
    return log


def _passes(batches):
    """Pass after pass over ``batches`` (each pass in a new order), without end."""
    while True:
        yield from batches


def _freeze_all_but(model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[list[nn.Module], list[bool]]:
    """Freeze the parameters ``optimizer`` does not hold; returns the modules left with nothing to train and
    every parameter's ``requires_grad`` before, to put back at the end."""
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    before = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(id(p) in held)
    frozen = [m for m in model.modules()
              if list(m.parameters(recurse=False)) and not any(id(p) in held for p in m.parameters(recurse=False))]
    return frozen, before


def _train_mode(model: nn.Module, frozen: list[nn.Module]) -> None:
    model.train()
    for module in frozen:
        module.eval()


def _report(row: Logged, live, position: str, train_metric: str, at_step: bool) -> None:
    """One validation to stderr and to DVCLive (at the step count when ``at_step``, else DVCLive's next step)."""
    figures = "".join(f"  val {key} {value:.5g}" for key, value in row.val.items())
    print(f"{position}: train {train_metric} {row.train_loss:.5g}{figures}  lr {row.lr:g}  "
          f"{row.images_per_second:.0f} img/s", file=sys.stderr)
    if live is None:
        return
    if at_step:
        live.step = row.step
    live.log_metric(f"train/{train_metric}", row.train_loss)
    for key, value in row.val.items():
        live.log_metric(f"val/{key}", value)
    live.log_metric("lr", row.lr)
    live.log_metric("images_per_second", row.images_per_second)
    live.next_step()


def _say(dist: Distributed, message: str) -> None:
    if dist.is_main:
        print(message, file=sys.stderr)


# ---------------------------------------------------------------------------------------------------------
# Each study's recipe on the loop (the fix hints name where the recipe lives in params.yaml)


@dataclass
class History:
    """What ``fit`` logged, one entry per epoch."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    images_per_second: list[float] = field(default_factory=list)


@dataclass
class PhaseOutcome:
    """How a ``fit_phase`` ended: the best validation MSE, its epoch, the epochs run, whether it stopped early."""

    best_val_loss: float
    best_epoch: int
    epochs_run: int
    stopped_early: bool


def make_optimizer(model: nn.Module, recipe: Recipe | CnnComparisonRecipe) -> torch.optim.Optimizer:
    """The recipe's optimizer: SGD as the papers, or (a classifier's choice) AdamW, which ignores momentum and
    nesterov and applies weight_decay decoupled from the gradient."""
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                           nesterov=recipe.nesterov, weight_decay=recipe.weight_decay)


def mse_validation(val_set, *, batch_size: int, device: torch.device, amp_dtype: torch.dtype | None,
                   dist: Distributed = SINGLE_PROCESS) -> Callable[[nn.Module], dict[str, float]]:
    """The vote-fraction studies' ``validate``: MSE and RMSE over the whole validation split (a Dataset or
    ResidentImages), deterministic (dropout off, no augmentation): the same scoring as the test."""
    def validate(model: nn.Module) -> dict[str, float]:
        pred, true = validation_predictions(model, val_set, batch_size=batch_size, device=device,
                                            amp_dtype=amp_dtype, dist=dist)
        mse = _mse(pred, true)
        return {"mse": mse, "rmse": math.sqrt(mse)}

    return validate


def fit(model: nn.Module, train_set, val_set, recipe: Recipe, *, device: torch.device,
        amp_dtype: torch.dtype | None, seed: int, eval_batch_size: int = 256, live=None, progress: bool = True,
        label: str = "", accel: Acceleration = Acceleration(), fix: str = "lower scale_study.recipe.lr") -> History:
    """Kabani & El-Sakka's recipe: SGD on MSE for ``recipe.epochs`` epochs, the lr times ``lr_drop_factor``
    at each of ``lr_drop_epochs``, and the validation MSE after each epoch.

    ``train_set`` is a Dataset (the DataLoader path) or DeviceBatches (the device-resident path);
    ``val_set`` a Dataset or ResidentImages.
    """
    optimizer = make_optimizer(model.to(device), recipe)
    batches = as_batches(train_set, recipe.batch_size, seed=seed, device=device, dist=accel.dist)
    log = train(model, batches, optimizer, nn.MSELoss(), length=Epochs(recipe.epochs), fix=fix,
                validate=mse_validation(val_set, batch_size=eval_batch_size, device=device, amp_dtype=amp_dtype,
                                        dist=accel.dist),
                schedule=LrSchedule.milestones(optimizer, recipe.lr_drop_epochs, recipe.lr_drop_factor),
                device=device, amp_dtype=amp_dtype, accel=accel, live=live, progress=progress, label=label,
                train_metric="mse")
    return History([row.train_loss for row in log], [row.val["mse"] for row in log], [row.lr for row in log],
                   [row.images_per_second for row in log])


def iteration_lr_factor(recipe: CnnComparisonRecipe, step: int) -> float:
    """The lr of iteration ``step`` (1-based) as a fraction of ``recipe.lr``: a linear warm-up over the first
    ``warmup_iterations`` steps, times ``lr_drop_factor`` for every drop already passed."""
    warmup = min(1.0, step / recipe.warmup_iterations) if recipe.warmup_iterations > 0 else 1.0
    drops = sum(step > boundary for boundary in recipe.lr_drop_iterations)
    return warmup * recipe.lr_drop_factor ** drops


def fit_iterations(model: nn.Module, train_set, recipe: CnnComparisonRecipe, *, loss_fn: nn.Module,
                   validate: Callable[[nn.Module], dict[str, float]], device: torch.device,
                   amp_dtype: torch.dtype | None, seed: int, live=None, progress: bool = True, label: str = "",
                   accel: Acceleration = Acceleration(),
                   fix: str = "lower cnn_comparison.recipe.lr (or the budget's lr), or set a warm-up or "
                              "clip_grad_norm") -> dict[str, float]:
    """Dai & Tong's recipe: SGD for ``recipe.iterations`` steps, the lr after an optional warm-up divided by
    ``1 / lr_drop_factor`` after each of ``lr_drop_iterations``, the gradient clipped when asked;
    ``validate(model)`` every ``eval_every`` steps and after the last. Returns the last validation's figures.
    """
    optimizer = make_optimizer(model.to(device), recipe)
    schedule = LrSchedule.per_step(optimizer, lambda done: iteration_lr_factor(recipe, done + 1))
    batches = as_batches(train_set, recipe.batch_size, seed=seed, device=device, dist=accel.dist)
    log = train(model, batches, optimizer, loss_fn, length=Iterations(recipe.iterations, recipe.eval_every),
                validate=validate, fix=fix, schedule=schedule, clip_grad_norm=recipe.clip_grad_norm, device=device,
                amp_dtype=amp_dtype, accel=accel, live=live, progress=progress, label=label)
    return log[-1].val


def fit_phase(model: nn.Module, trainable: list[nn.Parameter] | None, train_set, val_set,
              recipe: PhasedRecipe, *, epochs: int, device: torch.device, amp_dtype: torch.dtype | None, seed: int,
              eval_batch_size: int = 256, live=None, progress: bool = True, label: str = "",
              phase: str = "", accel: Acceleration = Acceleration(),
              fix: str = "lower efficientnet.recipe.lr") -> PhaseOutcome:
    """One phase of Kalvankar et al.'s Keras recipe: Adam on MSE for at most ``epochs`` epochs, the lr times
    ``plateau_factor`` after ``plateau_patience`` epochs without a better validation loss, a stop after
    ``early_stop_patience`` such epochs, and the best epoch's weights restored at the end.

    ``trainable`` (None = all) are the parameters this phase trains; the rest are frozen.
    """
    model.to(device)
    optimizer = torch.optim.Adam(list(model.parameters() if trainable is None else trainable), lr=recipe.lr)
    plateau = LrSchedule.on_plateau(optimizer, "mse", factor=recipe.plateau_factor, patience=recipe.plateau_patience,
                                    min_delta=recipe.plateau_min_delta)
    stopping = EarlyStopping("mse", recipe.early_stop_patience)
    batches = as_batches(train_set, recipe.batch_size, seed=seed, device=device, dist=accel.dist,
                         shuffle=recipe.shuffle)
    log = train(model, batches, optimizer, nn.MSELoss(), length=Epochs(epochs), fix=fix, schedule=plateau,
                stopping=stopping,
                validate=mse_validation(val_set, batch_size=eval_batch_size, device=device, amp_dtype=amp_dtype,
                                        dist=accel.dist),
                device=device, amp_dtype=amp_dtype, accel=accel, live=live, progress=progress,
                label=f"{label} {phase}".strip(), train_metric="mse")
    return PhaseOutcome(stopping.best, stopping.best_at, len(log), stopping.stopped_early)
