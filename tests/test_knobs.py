"""Bad parameters fail loudly, naming the parameter, the value and what is allowed."""

from __future__ import annotations

import math

import pytest

from parity.knobs import ParameterError
from parity.problems import MultiScale1D
from parity.solvers import FBPINN, PINN, Budget


@pytest.mark.parametrize(
    ("kwargs", "fragments"),
    [
        ({"omega2": -3.0}, ["omega2", "-3.0", "> 0"]),
        ({"omega2": 0}, ["omega2", "0.0", "> 0"]),
        ({"omega2": math.nan}, ["omega2", "finite"]),
        ({"omega2": math.inf}, ["omega2", "finite"]),
        ({"omega2": "15"}, ["omega2", "'15'", "number", "str"]),
        ({"omega1": True}, ["omega1", "number", "bool"]),
        ({"n_test": 2.5}, ["n_test", "integer"]),
        ({"n_test": 3}, ["n_test", ">= 10"]),
    ],
)
def test_bad_problem_parameters_are_named(kwargs: dict, fragments: list[str]) -> None:
    with pytest.raises(ParameterError) as info:
        MultiScale1D(**kwargs)
    message = str(info.value)
    assert message.startswith("multiscale_1d: parameter")
    for fragment in fragments:
        assert fragment in message


def test_bad_solver_parameters_are_named() -> None:
    with pytest.raises(ParameterError, match=r"fbpinn: parameter 'overlap' = 0.5 is not allowed; allowed: number > 1"):
        FBPINN(overlap=0.5)
    with pytest.raises(ParameterError, match=r"'levels' = \(\) is not allowed"):
        FBPINN(levels=())
    with pytest.raises(ParameterError, match=r"'activation' = 'relu' is not allowed; allowed: tanh \| sin"):
        PINN(activation="relu")


def test_overrides_parse_strings_by_declared_type() -> None:
    solver = FBPINN.from_overrides({"levels": "1,2,4", "learning_rate": "3e-3", "width": "8"})
    assert solver.levels == (1, 2, 4) and solver.learning_rate == 3e-3 and solver.width == 8
    assert MultiScale1D.from_overrides({"omega2": "30"}).omega2 == 30.0
    with pytest.raises(ParameterError, match=r"pinn: parameter 'width' = 'wide' is not a valid int"):
        PINN.from_overrides({"width": "wide"})
    with pytest.raises(ParameterError, match=r"unknown parameter\(s\) 'omega3'; known: half_width, n_test, omega1, omega2"):
        MultiScale1D.from_overrides({"omega3": "1"})


def test_problems_are_hashable_and_compare_by_value() -> None:
    assert MultiScale1D(omega2=15) == MultiScale1D(omega2=15.0)
    assert len({MultiScale1D(), MultiScale1D(), MultiScale1D(omega2=30)}) == 2
    assert MultiScale1D(omega2=30).params()["omega2"] == 30.0


def test_budget_validation() -> None:
    with pytest.raises(ValueError, match="budget steps must be an integer >= 1; got 0"):
        Budget(steps=0)
