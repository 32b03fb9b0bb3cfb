"""``predict_batches`` is the one inference loop of every validation, evaluation and ``galzoo predict``: what it
promises about shapes, probabilities, test-time augmentation, dropout, the model's mode and batching."""
import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from galzoo.training.inference import (DatasetBatches, d4_transforms, enable_dropout_only, predict_batches,
                                       predict_dataset, tensor_batches)

CPU = torch.device("cpu")
OUTPUTS = 5


def small_model() -> nn.Module:
    """Conv, batch-norm and dropout: everything whose behaviour depends on train/eval mode."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Dropout(0.5), nn.Linear(4 * 6 * 6, OUTPUTS))


def inputs(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(1))


def model_outputs(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return model.eval()(x).double().numpy()


def test_plain_batches_give_one_float64_row_per_input_in_order():
    model, x = small_model(), inputs(7, 3, 6, 6)
    got = predict_batches(model, tensor_batches(x, 3), device=CPU)
    assert got.dtype == np.float64 and got.shape == (7, OUTPUTS)
    np.testing.assert_allclose(got, model_outputs(model, x), rtol=1e-6, atol=1e-6)


def test_views_go_through_the_model_flattened_and_come_back_as_n_x_v_x_outputs():
    model, views = small_model(), inputs(4, 3, 3, 6, 6)
    got = predict_batches(model, tensor_batches(views, 3), device=CPU)
    assert got.shape == (4, 3, OUTPUTS)
    np.testing.assert_allclose(got[2, 1], model_outputs(model, views[2, 1:2])[0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got.reshape(12, OUTPUTS), model_outputs(model, views.reshape(12, 3, 6, 6)),
                               rtol=1e-6, atol=1e-6)


def test_softmax_rows_are_probabilities_that_sum_to_one():
    got = predict_batches(small_model(), [inputs(6, 3, 6, 6)], device=CPU, softmax=True)
    assert (got >= 0).all()
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("softmax", [False, True])
def test_tta_is_the_mean_over_the_eight_d4_transforms_of_the_model_outputs(softmax):
    model, x = small_model(), inputs(3, 3, 6, 6)
    per_transform = [model_outputs(model, t) for t in d4_transforms(x)]
    if softmax:
        per_transform = [torch.softmax(torch.from_numpy(p), dim=1).numpy() for p in per_transform]
    got = predict_batches(model, [x], device=CPU, softmax=softmax, tta=True)
    np.testing.assert_allclose(got, np.mean(per_transform, axis=0), rtol=1e-5, atol=1e-6)


def test_the_d4_transforms_are_the_eight_distinct_symmetries_and_the_first_is_the_input():
    x = torch.arange(9.0).reshape(1, 3, 3)
    transforms = d4_transforms(x)
    assert len(transforms) == 8 and torch.equal(transforms[0], x)
    assert len({tuple(t.flatten().tolist()) for t in transforms}) == 8


def test_stochastic_keeps_dropout_on_while_batch_norm_uses_its_frozen_statistics():
    model, x = small_model(), inputs(8, 3, 6, 6)
    model[1].running_mean.fill_(0.3)
    before = {k: v.clone() for k, v in model[1].state_dict().items()}
    modes = {}
    for name, module in (("batch_norm", model[1]), ("dropout", model[4])):
        module.register_forward_hook(lambda m, i, o, name=name: modes.__setitem__(name, m.training))
    torch.manual_seed(3)
    first = predict_batches(model, [x], device=CPU, stochastic=True)
    second = predict_batches(model, [x], device=CPU, stochastic=True)
    assert modes == {"batch_norm": False, "dropout": True}
    assert not np.array_equal(first, second)  # dropout draws a new mask each pass
    for key, value in model[1].state_dict().items():  # test batches never change the running statistics
        assert torch.equal(value, before[key]), key
    deterministic = [predict_batches(model, [x], device=CPU) for _ in range(2)]
    assert np.array_equal(*deterministic)


@pytest.mark.parametrize("stochastic", [False, True])
def test_every_modules_train_or_eval_flag_is_restored(stochastic):
    model = small_model().train()
    model[1].eval()  # a frozen batch-norm, as in a fine-tuning phase
    predict_batches(model, [inputs(2, 3, 6, 6)], device=CPU, stochastic=stochastic)
    assert [m.training for m in model.modules()] == [True, True, False, True, True, True, True]
    model.eval()
    predict_batches(model, [inputs(2, 3, 6, 6)], device=CPU, stochastic=stochastic)
    assert not any(m.training for m in model.modules())


def test_the_mode_is_restored_even_when_a_batch_fails():
    model = small_model().train()
    with pytest.raises(RuntimeError):
        predict_batches(model, [inputs(2, 3, 6, 6), inputs(2, 3, 7, 7)], device=CPU)
    assert all(m.training for m in model.modules())


def test_the_batch_size_does_not_change_the_results():
    model, x = small_model(), inputs(10, 3, 6, 6)
    results = [predict_batches(model, tensor_batches(x, size), device=CPU, softmax=True) for size in (1, 3, 10, 64)]
    for other in results[1:]:
        np.testing.assert_allclose(other, results[0], rtol=1e-6, atol=1e-7)


def test_a_dataset_pass_keeps_its_targets_in_order_beside_the_outputs():
    x, y = inputs(7, 3, 6, 6), torch.arange(14.0).reshape(7, 2)
    model = small_model()
    pred, true = predict_dataset(model, TensorDataset(x, y), batch_size=3, device=CPU)
    assert pred.dtype == true.dtype == np.float64
    np.testing.assert_array_equal(true, y.numpy())
    np.testing.assert_allclose(pred, model_outputs(model, x), rtol=1e-6, atol=1e-6)
    batches = DatasetBatches(TensorDataset(x, y), 4)
    assert [len(b) for b in batches] == [4, 3]
    np.testing.assert_array_equal(batches.targets(), y.numpy())


def test_channels_last_converts_the_inputs_and_other_formats_leave_them_as_they_come():
    seen = []
    model = small_model()
    model[0].register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    nhwc = inputs(2, 6, 6, 3).permute(0, 3, 1, 2)  # channels-last strides, as a permuted uint8 store gives
    predict_batches(model, [inputs(2, 3, 6, 6)], device=CPU, memory_format=torch.channels_last)
    predict_batches(model, [nhwc], device=CPU, memory_format=torch.contiguous_format)
    assert seen[0].is_contiguous(memory_format=torch.channels_last) and not seen[0].is_contiguous()
    assert seen[1].stride() == nhwc.stride()


def test_no_batches_give_an_empty_array_and_a_wrong_shape_names_what_was_expected():
    assert predict_batches(small_model(), [], device=CPU).shape == (0, 0)
    with pytest.raises(ValueError, match=r"B x C x H x W or B x V x C x H x W.*\(3, 6, 6\)"):
        predict_batches(small_model(), [inputs(3, 6, 6)], device=CPU)


def test_non_deterministic_scoring_keeps_dropout_on_and_everything_else_in_eval_mode():
    model = torch.nn.Sequential(torch.nn.BatchNorm1d(4), torch.nn.Dropout(0.5))
    enable_dropout_only(model)
    assert not model[0].training and model[1].training
