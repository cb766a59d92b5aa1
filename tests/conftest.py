"""Shared by every test: a headless matplotlib backend, one thread per parallel worker, and no figure left open after
a test."""

import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

if "PYTEST_XDIST_WORKER" in os.environ:  # `pytest -n N`: N workers share the cores, so one thread each, and in the
    # notebook kernels and the processes that the tests start: threads that outnumber the cores spin and wait
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


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


@pytest.fixture(params=["matmul", "conv"])
def pointwise_kernel(request, monkeypatch):
    """Each kernel that :mod:`stviz.cpu` can pick for a 1x1 convolution in turn, whatever this CPU picks; "conv" at
    any size, so that the tests' small layers take it too."""
    from stviz import cpu

    monkeypatch.setattr(cpu, "POINTWISE_KERNEL", request.param)
    if request.param == "conv":
        monkeypatch.setattr(cpu, "CONV_MIN_CHANNELS", 1)
        monkeypatch.setattr(cpu, "CONV_MIN_UNBLOCKED_CHANNELS", 1)
        monkeypatch.setattr(cpu, "CONV_MIN_MACS", 0)
    return request.param
