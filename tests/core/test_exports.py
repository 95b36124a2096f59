import pytest

from core.exports import neutralise_cell, restore_cell


@pytest.mark.parametrize("text", ["=1+1", "+SUM(A1)", "-2", "@cmd", "\tx", "\rx", "'=already", "'plain"])
def test_formula_like_cells_are_neutralised_and_restored_exactly(text):
    safe = neutralise_cell(text)
    assert safe.startswith("'")
    assert restore_cell(safe) == text


@pytest.mark.parametrize("value", ["hello", "a=b", "", 3, None, 2.5])
def test_other_values_pass_through(value):
    assert neutralise_cell(value) == value
    assert restore_cell(value) == value
