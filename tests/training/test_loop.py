"""The one training loop and its hooks, as specifications: how long it runs and when it validates, how the lr
moves (per step, at milestones, on a plateau), early stopping with the best weights restored, frozen
parameters, and what a diverging run says."""
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from galzoo.config import load_params
from galzoo.errors import ConfigError
from galzoo.training.device_data import LoaderBatches, as_batches
from galzoo.training.distributed import Distributed
from galzoo.training.loop import (EarlyStopping, Epochs, Iterations, LrSchedule, TrainingDiverged, make_optimizer,
                                 train)
from galzoo.training.runtime import resolve_data_path
from tests.conftest import REPO_ROOT

CPU = torch.device("cpu")
BATCHES_PER_PASS = 4


class Live:
    """Records what the loop logs, as DVCLive would: ``(step, name, value)``; its step counts up per line."""

    def __init__(self):
        self.step, self.logged = 0, []

    def log_metric(self, name, value):
        self.logged.append((self.step, name, value))

    def next_step(self):
        self.step += 1

    def values(self, name):
        return [value for _, logged_name, value in self.logged if logged_name == name]

    def steps(self, name):
        return [step for step, logged_name, _ in self.logged if logged_name == name]


def regression(n: int = 32, seed: int = 0) -> TensorDataset:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=generator)
    return TensorDataset(x, x @ torch.arange(1.0, 5.0).unsqueeze(1))


def scripted(values):
    """A ``validate`` hook that returns the next of ``values`` as its loss at every call."""
    calls = iter(values)
    return lambda model: {"loss": next(calls)}


def run(model, *, length, validate, optimizer=None, data=None, **hooks):
    data = data if data is not None else regression()
    optimizer = optimizer or torch.optim.SGD(model.parameters(), lr=0.01)
    batches = as_batches(data, len(data) // BATCHES_PER_PASS, seed=0, device=CPU)
    live = Live()
    log = train(model, batches, optimizer, nn.MSELoss(), length=length, validate=validate, fix="lower my.lr",
                device=CPU, amp_dtype=None, live=live, progress=False, label="[net]", **hooks)
    return log, live


def weights(model) -> dict:
    return {key: value.clone() for key, value in model.state_dict().items()}


# --- how long, and when it validates ------------------------------------------------------------------------


def test_epochs_validate_after_every_pass_and_log_one_dvclive_step_per_epoch():
    log, live = run(nn.Linear(4, 1), length=Epochs(3), validate=lambda m: {"loss": 1.0})
    assert [row.step for row in log] == [4, 8, 12]
    assert live.steps("val/loss") == [0, 1, 2]
    assert {name for _, name, _ in live.logged} == {"train/loss", "val/loss", "lr", "images_per_second"}


def test_iterations_validate_every_n_steps_and_after_the_last_at_the_iteration_count():
    validated = []
    log, live = run(nn.Linear(4, 1), length=Iterations(10, every=4),
                    validate=lambda m: validated.append(m.training) or {"loss": 1.0})
    assert [row.step for row in log] == [4, 8, 10]  # 10 steps run on into a third pass over the 4 batches
    assert live.steps("val/loss") == [4, 8, 10]
    assert validated == [True, True, True]  # scoring mode is the hook's choice; the loop resumes training after


# --- the lr ------------------------------------------------------------------------------------------------


def test_a_per_step_schedule_moves_the_lr_after_every_step_with_a_warm_up():
    model = nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.3)

    def warm_up_then_drop(done):  # the factor of step done + 1: a warm-up over 3 steps, x0.1 from step 5 on
        return min(1.0, (done + 1) / 3) * (0.1 if done >= 4 else 1.0)

    _, live = run(model, optimizer=optimizer, length=Iterations(6, every=1), validate=lambda m: {},
                  schedule=LrSchedule.per_step(optimizer, warm_up_then_drop))
    assert live.values("lr") == pytest.approx([0.1, 0.2, 0.3, 0.3, 0.03, 0.03])  # the lr each step trained at


def test_milestones_drop_the_lr_after_the_given_validations():
    model = nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    _, live = run(model, optimizer=optimizer, length=Epochs(4), validate=lambda m: {},
                  schedule=LrSchedule.milestones(optimizer, [2], 0.1))
    assert live.values("lr") == pytest.approx([0.1, 0.1, 0.01, 0.01])


def test_a_plateau_lowers_the_lr_on_the_patience_th_validation_without_a_better_figure():
    model = nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    plateau = LrSchedule.on_plateau(optimizer, "loss", factor=0.5, patience=2)
    # epochs 2 and 3 do not improve on 1.0 by 1e-4, so the lr halves after epoch 3; epoch 4 improves, 5 and 6
    # do not, so it halves again after epoch 6
    _, live = run(model, optimizer=optimizer, length=Epochs(6), schedule=plateau,
                  validate=scripted([1.0, 1.0, 0.99995, 0.5, 0.6, 0.7]))
    assert live.values("lr") == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.05])
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.025)


# --- early stopping ----------------------------------------------------------------------------------------


def test_early_stopping_stops_after_patience_and_restores_the_best_weights():
    model = nn.Linear(4, 1)
    seen = []

    def validate(m):
        seen.append(weights(m))
        return {"loss": [3.0, 1.0, 2.0, 2.0, 0.1][len(seen) - 1]}

    stopping = EarlyStopping("loss", patience=2)
    log, _ = run(model, length=Epochs(5), validate=validate, stopping=stopping)
    assert len(log) == 4 and stopping.stopped_early  # epochs 3 and 4 are no better than epoch 2
    assert (stopping.best, stopping.best_at) == (1.0, 2)
    assert all(torch.equal(value, seen[1][key]) for key, value in model.state_dict().items())
    assert not torch.equal(seen[1]["weight"], seen[3]["weight"])  # training did move on after the best


def test_without_patience_training_runs_to_the_end_and_without_restore_keeps_the_last_weights():
    model = nn.Linear(4, 1)
    stopping = EarlyStopping("loss", patience=0, restore_best=False)
    log, _ = run(model, length=Epochs(3), validate=scripted([1.0, 2.0, 3.0]), stopping=stopping)
    last = weights(model)
    assert len(log) == 3 and not stopping.stopped_early and stopping.best_at == 1
    assert not stopping.restore(model) and all(torch.equal(v, last[k]) for k, v in model.state_dict().items())


# --- what trains -------------------------------------------------------------------------------------------


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.backbone = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU())
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        return self.head(self.backbone(x))


def test_parameters_the_optimizer_does_not_hold_are_frozen_with_their_batch_norm_statistics():
    model = Net()
    before = weights(model)
    head_only = torch.optim.SGD(model.head.parameters(), lr=0.1)
    run(model, optimizer=head_only, length=Epochs(2), validate=lambda m: {})
    after = weights(model)
    for key in before:  # the backbone's weights and running statistics, untouched
        assert torch.equal(after[key], before[key]) == key.startswith("backbone."), key
    assert all(p.requires_grad for p in model.parameters())  # unfrozen again for the next phase


# --- a diverging run ---------------------------------------------------------------------------------------


def test_a_diverging_run_names_where_and_the_callers_fix():
    x = torch.full((32, 4), float("nan"))
    with pytest.raises(TrainingDiverged, match=r"^\[net\]: at epoch 1 \(lr 0.01\): training loss became nan; "
                                               r"lower my.lr or try another model"):
        run(nn.Linear(4, 1), length=Epochs(2), validate=lambda m: {}, data=TensorDataset(x, torch.zeros(32, 1)))


# --- the loader path and its data path -------------------------------------------------------------------


def test_two_processes_on_the_loader_path_each_load_their_share_of_the_batches_one_process_loads():
    data = TensorDataset(torch.arange(24.0).unsqueeze(1), torch.arange(24))

    def passes(dist):
        batches = LoaderBatches(data, 8, seed=3, device=CPU, dist=dist)
        return [[y for _, y in batches] for _ in range(2)]

    whole = passes(Distributed())
    shares = [passes(Distributed(rank=r, world_size=2, local_rank=r)) for r in (0, 1)]
    for p in range(2):
        for step, y in enumerate(whole[p]):
            assert torch.equal(torch.cat([shares[0][p][step], shares[1][p][step]]), y)
    assert not torch.equal(whole[0][0], whole[1][0])  # a new order every pass


def test_a_study_without_a_device_path_takes_the_loader_and_refuses_device():
    for device in (CPU, torch.device("cuda")):
        assert resolve_data_path("auto", device, device_path=False) == "loader"
    with pytest.raises(ConfigError, match="runtime.data_path"):
        resolve_data_path("device", CPU, device_path=False)
    assert resolve_data_path("device", CPU) == "device"


def test_the_classifier_recipe_trains_with_sgd_as_the_paper_or_with_adamw_when_asked():
    params = load_params(REPO_ROOT / "params.yaml")
    paper = params.cnn_comparison.recipe_for("paper")
    sgd = make_optimizer(nn.Linear(3, 2), paper)
    assert isinstance(sgd, torch.optim.SGD)
    assert sgd.defaults["lr"] == paper.lr
    assert (sgd.defaults["momentum"], sgd.defaults["nesterov"]) == (0.9, True)

    chosen = {"cnn_comparison.budgets.embedded.optimizer": "adamw", "cnn_comparison.budgets.embedded.lr": 0.0005}
    adamw_params = load_params(REPO_ROOT / "params.yaml", overrides=chosen)
    recipe = adamw_params.cnn_comparison.recipe_for("embedded", "kabani_maxout")
    adamw = make_optimizer(nn.Linear(3, 2), recipe)
    assert isinstance(adamw, torch.optim.AdamW)
    assert (adamw.defaults["lr"], adamw.defaults["weight_decay"]) == (0.0005, recipe.weight_decay)
