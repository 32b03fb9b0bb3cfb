"""ImageNet networks of Dai & Tong's comparison: AlexNet, VGG-16 (with BN), Inception-v3 on 64 px crops."""
import pytest
import torch

from galzoo.models import create_model, list_models
from galzoo.models.imagenet import (
    ALEXNET_FILTERS,
    FC_WIDTH,
    INCEPTION_INPUT_SIZE,
    VGG16_BLOCK_DEPTHS,
    AlexNet,
    UpsampledInceptionV3,
    VGG16,
)

NAMES = ("alexnet", "vgg16", "inception_v3")


@pytest.fixture(scope="module")
def models_5():
    torch.manual_seed(0)
    return {name: create_model(name, num_outputs=5, input_size=64).eval() for name in NAMES}


def test_registry_lists_the_three_imagenet_networks():
    assert set(NAMES) <= set(list_models())


@pytest.mark.parametrize("name", NAMES)
def test_each_network_maps_a_64px_batch_to_5_outputs(models_5, name):
    with torch.no_grad():
        assert models_5[name](torch.randn(2, 3, 64, 64)).shape == (2, 5)


@pytest.mark.parametrize("name", NAMES)
def test_each_network_maps_a_64px_batch_to_37_outputs(name):
    model = create_model(name, num_outputs=37, input_size=64).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 64, 64)).shape == (2, 37)


@pytest.mark.parametrize("name", ["alexnet", "vgg16"])
def test_hand_written_networks_accept_inputs_larger_than_64px(name):
    model = create_model(name, num_outputs=5, input_size=80).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 80, 80)).shape == (1, 5)


@pytest.mark.parametrize("cls", [AlexNet, VGG16, UpsampledInceptionV3])
def test_inputs_under_64px_are_rejected(cls):
    with pytest.raises(ValueError, match="at least 64"):
        cls(num_outputs=5, input_size=48)


def test_alexnet_trains_backward_in_train_mode():
    torch.manual_seed(0)
    model = create_model("alexnet", num_outputs=5, input_size=64).train()
    loss = torch.nn.functional.cross_entropy(model(torch.randn(4, 3, 64, 64)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("name", ["vgg16", "inception_v3"])
def test_batch_norm_models_in_eval_mode_score_each_sample_independently_of_its_batch(models_5, name):
    # Dai & Tong's code ran batch-norm in training mode at test time: predictions then depend on the batch.
    model = models_5[name]
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model(x)[0], model(x[:1])[0], atol=1e-4)


def test_alexnet_keeps_the_paper_layout(models_5):
    net = models_5["alexnet"]
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert tuple(c.out_channels for c in convs) == ALEXNET_FILTERS == (96, 256, 384, 384, 256)
    assert convs[0].kernel_size == (11, 11) and convs[0].stride == (2, 2)  # stride 4 in the paper, 224 px
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in net.modules()) == 3
    assert sum(isinstance(m, torch.nn.LocalResponseNorm) for m in net.modules()) == 2
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert [lin.out_features for lin in linears] == [FC_WIDTH, FC_WIDTH, 5] and FC_WIDTH == 4096
    assert linears[0].in_features == 256 * 3 * 3  # 64 -> 32 -> 15 -> 7 -> 3
    assert [m.p for m in net.modules() if isinstance(m, torch.nn.Dropout)] == [0.5, 0.5]


def test_vgg16_is_configuration_d_with_batch_norm(models_5):
    net = models_5["vgg16"]
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == sum(VGG16_BLOCK_DEPTHS) == 13
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()) == 13
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in net.modules()) == 5
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert [(lin.in_features, lin.out_features) for lin in linears] == [(512 * 2 * 2, 4096), (4096, 4096), (4096, 5)]
    assert [m.p for m in net.modules() if isinstance(m, torch.nn.Dropout)] == [0.5, 0.5]


def test_inception_v3_upsamples_64px_inputs_and_has_no_auxiliary_classifier(models_5):
    net = models_5["inception_v3"]
    assert net.resize_to == INCEPTION_INPUT_SIZE == 139
    assert not getattr(net.net, "aux_logits", False)
    assert not any("AuxLogits" in name for name, _ in net.named_modules())
    seen = []
    handle = net.net.Conv2d_1a_3x3.register_forward_pre_hook(lambda _m, args: seen.append(args[0].shape[-1]))
    with torch.no_grad():
        net(torch.randn(1, 3, 64, 64))
    handle.remove()
    assert seen == [139]
