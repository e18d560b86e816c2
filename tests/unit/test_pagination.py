"""Connection arguments."""

from __future__ import annotations

import pytest

from wren.errors import BadUserInput
from wren.schema.relay import page_args
from wren.validation import MAX_FIRST


@pytest.mark.parametrize("first", [0, 1, MAX_FIRST])
def test_first_within_bounds(first: int) -> None:
    assert page_args(first, None) == (first, None)


@pytest.mark.parametrize("first", [-1, MAX_FIRST + 1, 10**9])
def test_first_out_of_bounds(first: int) -> None:
    with pytest.raises(BadUserInput) as raised:
        page_args(first, None)
    assert raised.value.extensions["argument"] == "first"
