"""The one numeric option check used by every public constructor."""

import math

import pytest

from streamline import ConfigurationError
from streamline._validation import check_number


@pytest.mark.parametrize(
    ("value", "kwargs"),
    [
        (0, {"above": 0}),
        (-1, {"minimum": 0}),
        (1.5, {"minimum": 0, "integer": True}),
        (True, {"minimum": 0}),
        ("3", {"minimum": 0}),
        (math.nan, {"minimum": 0}),
        (11, {"maximum": 10}),
        (None, {"minimum": 0}),
    ],
)
def test_refused_with_one_line_naming_the_option(value: object, kwargs: dict) -> None:
    with pytest.raises(ConfigurationError) as info:
        check_number("tick_interval", value, **kwargs)
    text = str(info.value)
    assert text.startswith("tick_interval must be") and "\n" not in text and repr(value) in text


@pytest.mark.parametrize(
    ("value", "kwargs"),
    [(0, {"minimum": 0}), (0.001, {"above": 0}), (10, {"maximum": 10, "integer": True}), (None, {"allow_none": True})],
)
def test_accepted_values_come_back_unchanged(value: object, kwargs: dict) -> None:
    assert check_number("x", value, **kwargs) == value or value is None


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: __import__("streamline").Checkpoints("/tmp/x", flush_interval=0), id="checkpoints"),
        pytest.param(lambda: __import__("streamline").RateLimit(0), id="rate-limit"),
        pytest.param(lambda: __import__("streamline").Stage(42), id="stage-not-callable"),
        pytest.param(lambda: __import__("streamline").follow("x.log", poll_interval=0), id="poll-interval"),
        pytest.param(lambda: __import__("streamline").follow("x.log", rotate_wait=-1), id="rotate-wait"),
        pytest.param(lambda: __import__("streamline").follow("x.log", linger=-0.001), id="linger"),
        pytest.param(lambda: __import__("streamline").Pipeline([], to=print, tick_interval=0), id="tick-interval"),
    ],
)
def test_every_public_constructor_refuses_bad_options_with_a_configuration_error(make) -> None:
    with pytest.raises(ConfigurationError) as info:
        make()
    assert "\n" not in str(info.value)
