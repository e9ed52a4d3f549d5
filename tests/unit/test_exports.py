"""The public API: everything in __all__ exists, is documented, and the list is sorted."""

import streamline


def test_all_is_sorted_and_complete() -> None:
    assert list(streamline.__all__) == sorted(streamline.__all__)
    for name in streamline.__all__:
        assert hasattr(streamline, name), name


def test_public_names_have_docstrings() -> None:
    for name in streamline.__all__:
        obj = getattr(streamline, name)
        assert (obj.__doc__ or "").strip(), f"{name} has no docstring"


def test_package_is_typed() -> None:
    from importlib.resources import files

    assert files("streamline").joinpath("py.typed").is_file()
