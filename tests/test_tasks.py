"""Label views: the 37 fractions, and Dai & Tong's five clean classes from conditional fractions."""
import numpy as np
import pandas as pd
import pytest

from galzoo import tree
from galzoo.errors import ConfigError, DataError
from galzoo.tasks import class_counts, get_task, gz2_5class_labels


def votes(**conditional) -> np.ndarray:
    """One galaxy's cumulative fractions from per-question fractions given as {column: value}."""
    f = np.zeros(tree.N_ANSWERS)
    for q in tree.QUESTIONS:
        f[tree.question_slice(q)] = 1.0 / len(q.answers)  # undecided unless told
    for column, value in conditional.items():
        q = tree.question(int(column[5:].split(".")[0]))
        s = tree.question_slice(q)
        i = tree.COLUMN_INDEX[column]
        others = [j for j in range(s.start, s.stop) if j != i]
        f[others] = (1 - value) / len(others)
        f[i] = value
    return tree.cumulative_from_conditional(f[None, :])


def label(**conditional) -> int:
    return int(gz2_5class_labels(votes(**conditional))[0])


def test_each_class_follows_table_1_of_dai_and_tong():
    assert label(**{"Class1.1": 0.8, "Class7.1": 0.6}) == 0
    assert label(**{"Class1.1": 0.8, "Class7.2": 0.6}) == 1
    assert label(**{"Class1.1": 0.8, "Class7.3": 0.6}) == 2
    assert label(**{"Class1.2": 0.8, "Class2.1": 0.7}) == 3
    assert label(**{"Class1.2": 0.8, "Class2.2": 0.8, "Class4.1": 0.7}) == 4


def test_thresholds_apply_to_conditional_not_cumulative_fractions():
    # f_smooth 0.5, f_round 0.6: the cumulative Class7.1 is only 0.3, yet the galaxy is completely round.
    v = votes(**{"Class1.1": 0.5, "Class7.1": 0.6})
    assert v[0, tree.COLUMN_INDEX["Class7.1"]] == pytest.approx(0.3)
    assert gz2_5class_labels(v)[0] == 0


def test_galaxies_below_the_thresholds_are_not_clean():
    assert label(**{"Class1.1": 0.46, "Class7.1": 0.9}) == -1      # f_smooth < 0.469
    assert label(**{"Class1.2": 0.8, "Class2.1": 0.6}) == -1       # f_edge-on < 0.602
    assert label(**{"Class1.2": 0.8, "Class2.2": 0.8, "Class4.1": 0.6}) == -1  # f_spiral < 0.619


def test_a_galaxy_meeting_two_classes_is_not_clean():
    # f_smooth 0.47 and f_features 0.44 both pass; round and edge-on both hold.
    v = votes(**{"Class1.1": 0.47, "Class7.1": 0.9})
    v[0, tree.question_slice(tree.question(1))] = [0.47, 0.44, 0.09]
    v = tree.cumulative_from_conditional(tree.conditional_fractions(v))
    conditional = tree.conditional_fractions(v)
    conditional[0, tree.question_slice(tree.question(2))] = [0.9, 0.1]
    assert gz2_5class_labels(tree.cumulative_from_conditional(conditional))[0] == -1


def test_the_5class_task_selects_clean_galaxies_and_counts_classes():
    rows = [votes(**{"Class1.1": 0.8, "Class7.1": 0.6}), votes(**{"Class1.2": 0.8, "Class2.1": 0.7}),
            votes(**{"Class1.1": 0.3})]
    labels = pd.DataFrame(np.concatenate(rows), columns=list(tree.ANSWER_COLUMNS), index=[10, 11, 12])
    task = get_task("gz2_5class")
    ids, targets = task.select(labels)
    assert list(ids) == [10, 11] and list(targets) == [0, 3]
    with pytest.raises(DataError, match="no galaxy of class.*in-between smooth.*cigar-shaped smooth.*spiral"):
        class_counts(task, labels)


def test_the_votes37_task_keeps_every_galaxy_and_all_fractions():
    labels = pd.DataFrame(votes(), columns=list(tree.ANSWER_COLUMNS), index=[7])
    ids, targets = get_task("votes37").select(labels)
    assert list(ids) == [7] and targets.shape == (1, 37)


def test_unknown_task_names_the_known_ones():
    with pytest.raises(ConfigError, match="unknown task 'gz3'.*gz2_5class, perseus_member, votes37"):
        get_task("gz3")
