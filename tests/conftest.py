"""Shared by every test: a headless matplotlib backend, and no figure left open after a test."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="session")
def compiled():
    """The compiled shift op's ExtensionInfo; the test is skipped where it cannot be built."""
    from stviz import ops

    info = ops.load_extension(verbose=True)
    if info.backend == "pytorch-fallback":
        pytest.skip(f"compiled op unavailable: {info.reason}")
    return info
