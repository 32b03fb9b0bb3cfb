"""The decision tree: 11 questions, 37 answers, parents, constraints and Dieleman's output layer."""
import numpy as np
import pytest
import torch

from galzoo import tree
from galzoo.models.layers import DielemanTreeLayer
from tests.conftest import valid_votes as random_valid_votes


def test_the_tree_has_11_questions_and_37_answers_in_kaggle_column_order():
    assert tree.N_QUESTIONS == 11
    assert tree.N_ANSWERS == 37
    assert tree.ANSWER_COLUMNS[0] == "Class1.1"
    assert tree.ANSWER_COLUMNS[-1] == "Class11.6"
    assert [len(q.answers) for q in tree.QUESTIONS] == [3, 2, 2, 2, 4, 2, 3, 7, 3, 3, 6]


def test_parents_follow_the_kaggle_normalisation():
    parents = {q.number: q.parent for q in tree.QUESTIONS}
    assert parents == {1: None, 2: "Class1.2", 3: "Class2.2", 4: "Class2.2", 5: "Class2.2", 6: None,
                       7: "Class1.1", 8: "Class6.1", 9: "Class2.1", 10: "Class4.1", 11: "Class4.1"}


def test_every_parent_is_final_before_its_children_in_topological_order():
    seen = set()
    for q in tree.TOPOLOGICAL_ORDER:
        assert q.parent is None or q.parent in seen
        seen.update(q.columns)


def test_valid_votes_pass_and_a_broken_question_fails():
    votes = random_valid_votes(50)
    assert tree.satisfies_tree(votes, 1e-9).all()
    broken = votes.copy()
    broken[3, tree.COLUMN_INDEX["Class7.1"]] += 0.05
    ok = tree.satisfies_tree(broken, 1e-3)
    assert not ok[3] and ok[np.arange(50) != 3].all()


def test_values_outside_unit_interval_fail():
    votes = random_valid_votes(2)
    votes[0, 0] = 1.2
    assert not tree.satisfies_tree(votes)[0]


def test_conditional_and_cumulative_fractions_round_trip():
    votes = random_valid_votes(20, seed=1)
    conditional = tree.conditional_fractions(votes)
    for q in tree.QUESTIONS:
        np.testing.assert_allclose(conditional[:, tree.question_slice(q)].sum(axis=1), 1.0)
    np.testing.assert_allclose(tree.cumulative_from_conditional(conditional), votes, atol=1e-12)


def test_a_question_nobody_reached_has_zero_conditional_fractions():
    votes = random_valid_votes(1)
    votes[0, tree.question_slice(tree.question(8))] = 0.0
    assert (tree.conditional_fractions(votes)[0, tree.question_slice(tree.question(8))] == 0).all()


def test_unknown_question_is_a_clear_error():
    with pytest.raises(KeyError, match="no question 12"):
        tree.question(12)


@pytest.mark.parametrize("seed", range(5))
def test_dieleman_layer_output_always_satisfies_the_tree(seed):
    torch.manual_seed(seed)
    x = torch.randn(64, 37) * 3
    x[0] = -1.0  # everything negative: ReLU zeroes every question
    out = DielemanTreeLayer()(x).numpy()
    assert tree.satisfies_tree(out, 1e-6).all()


def test_dieleman_layer_keeps_a_valid_tree_unchanged():
    votes = random_valid_votes(10, seed=3)
    conditional = torch.tensor(tree.conditional_fractions(votes), dtype=torch.float64)
    out = DielemanTreeLayer()(conditional)
    np.testing.assert_allclose(out.numpy(), votes, atol=1e-9)


def test_dieleman_layer_can_be_trained_through():
    """Gradients reach every input (a regression: in-place writes once broke the backward pass)."""
    x = torch.randn(16, 37, requires_grad=True)
    target = torch.tensor(random_valid_votes(16, seed=4), dtype=torch.float32)
    loss = ((DielemanTreeLayer()(x) - target) ** 2).mean()
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and (x.grad != 0).any()
