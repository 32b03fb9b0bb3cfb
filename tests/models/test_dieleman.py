"""Dieleman's view-sharing network on Dai & Tong's 64 px crops."""
import pytest
import torch

from galzoo.models import list_models
from galzoo.models.dieleman import N_VIEWS, DielemanNet, dihedral_views

pytestmark = pytest.mark.usefixtures("one_thread")

TRANSFORMS = {
    "rot90": lambda x: torch.rot90(x, 1, dims=(-2, -1)),
    "rot180": lambda x: torch.rot90(x, 2, dims=(-2, -1)),
    "hflip": lambda x: torch.flip(x, dims=(-1,)),
    "vflip": lambda x: torch.flip(x, dims=(-2,)),
}


def test_the_network_is_registered():
    assert "dieleman" in list_models()


@pytest.mark.parametrize("num_outputs", [5, 37])
def test_the_network_maps_a_64px_batch_to_its_outputs(built, num_outputs):
    with torch.no_grad():
        assert built("dieleman", num_outputs)(torch.randn(2, 3, 64, 64)).shape == (2, num_outputs)


def test_dihedral_views_are_the_eight_rotations_of_the_image_and_its_mirror_image_stacked_view_major():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).view(2, 3, 4, 4)
    views = dihedral_views(x)
    assert views.shape == (N_VIEWS * 2, 3, 4, 4)
    torch.testing.assert_close(views[:2], x)
    torch.testing.assert_close(views[2:4], torch.rot90(x, 1, dims=(-2, -1)))
    torch.testing.assert_close(views[8:10], torch.flip(x, dims=(-1,)))
    distinct = {tuple(v.flatten().tolist()) for v in views[::2]}
    assert len(distinct) == N_VIEWS


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_dieleman_views_of_a_rotated_or_flipped_galaxy_are_the_same_features_in_another_order(built, transform):
    """The concatenated (registered) network sees the same evidence; its dense layers must learn invariance."""
    model = built("dieleman", 5)
    torch.manual_seed(2)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        original, moved = model.view_features(x), model.view_features(TRANSFORMS[transform](x))
    for sample in range(2):
        distance = torch.cdist(original[sample], moved[sample])  # (8, 8)
        matched = distance.argmin(dim=1)
        assert sorted(matched.tolist()) == list(range(N_VIEWS))  # a permutation
        assert distance.min(dim=1).values.max() < 1e-4 * original[sample].norm(dim=1).max()


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_dieleman_with_mean_view_pooling_is_exactly_invariant_to_the_dihedral_group(transform):
    torch.manual_seed(0)
    model = DielemanNet(num_outputs=37, view_pooling="mean").eval()
    torch.manual_seed(3)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(TRANSFORMS[transform](x)), model(x), atol=1e-4, rtol=1e-4)


def test_dieleman_centre_crop_views_give_dielemans_2x2x128_features_per_view():
    model = DielemanNet(num_outputs=5, view_size=46, view_pooling="mean").eval()
    with torch.no_grad():
        assert model.view_features(torch.randn(1, 3, 64, 64)).shape == (1, N_VIEWS, 2 * 2 * 128)
    with pytest.raises(ValueError, match="even margin"):
        DielemanNet(num_outputs=5, view_size=45)
