"""Output layers that ``create_model`` puts on any network: linear, Dieleman's tree layer, or rejected."""
import pytest
import torch

from galzoo import tree
from galzoo.errors import ConfigError
from galzoo.models import create_model


def test_tree_output_layer_makes_predictions_valid_trees():
    model = create_model("kabani_maxout", num_outputs=37, input_size=64, output_layer="tree").eval()
    with torch.no_grad():
        out = model(torch.randn(4, 3, 64, 64)).numpy()
    assert tree.satisfies_tree(out, 1e-6).all()


def test_unknown_output_layer_is_rejected():
    with pytest.raises(ConfigError, match="output_layer"):
        create_model("kabani_maxout", num_outputs=37, input_size=64, output_layer="softmax")
