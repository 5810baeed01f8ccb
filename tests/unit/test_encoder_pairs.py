"""The pure parts of ``citewise tune encoder``'s pair building: synthetic queries and the held-out split."""

from __future__ import annotations

import pytest

from citewise.errors import InvalidRequest
from evals.encoder_pairs import split_ids, synthetic_query
from evals.encoder_train import TrainOptions

BODY = " ".join(["Cells divided faster in the treated group than in the controls over six weeks."] * 3)


def test_a_title_line_is_the_query_and_the_rest_the_positive() -> None:
    made = synthetic_query(f"Vitamin D lowers the risk of fractures\n\n{BODY}")
    assert made == ("Vitamin D lowers the risk of fractures", BODY)


def test_without_a_title_line_the_first_sentence_is_the_query() -> None:
    made = synthetic_query(f"Statins reduce cardiovascular events in adults. {BODY}")
    assert made is not None and made[0] == "Statins reduce cardiovascular events in adults."
    assert made[1] == BODY


@pytest.mark.parametrize("text", ["Too short\n\nonly a few words here", "Hi\n\n" + BODY, "one sentence only"])
def test_chunks_that_teach_nothing_give_no_query(text: str) -> None:
    assert synthetic_query(text) is None


def test_the_held_out_split_is_stable_and_disjoint() -> None:
    ids = [str(i) for i in range(50)]
    train, held = split_ids(ids)
    assert len(held) == 10 and not set(train) & set(held) and set(train) | set(held) == set(ids)
    assert split_ids(list(reversed(ids)))[1] == list(reversed(held))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"epochs": 0}, "--epochs 0"), ({"batch_size": 1}, "--batch-size"), ({"mini_batch": -1}, "--mini-batch -1")],
)
def test_bad_training_options_are_clear_errors(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        TrainOptions(**kwargs)
