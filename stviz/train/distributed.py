"""Running :func:`stviz.train.train` as one DistributedDataParallel job under ``torchrun``.

``torchrun --standalone --nproc_per_node 2 -m stviz.train ...`` starts one process per rank with ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK`` in its environment; :func:`init_distributed` joins them into one process group
(gloo on CPU, NCCL on GPUs). Batch normalisation must see the global batch for a 2-process run to equal a
1-process run: on GPUs torch's ``SyncBatchNorm`` does it; on CPU, where that class refuses to run,
:class:`GlobalBatchNorm` does.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch
import torch.distributed as dist

# Imported before any process group exists: its functions default to ``group=group.WORLD``, so an import after
# init_process_group (DistributedDataParallel's constructor imports it through torch._dynamo) pins the group past
# destroy_process_group(). Its gloo threads then live on into interpreter shutdown, where freeing a finished
# collective's tensors aborts the process ("terminate called without an active exception").
import torch.distributed.nn  # noqa: F401
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from stviz.layers import update_running_statistics

__all__ = [
    "init_distributed",
    "world_size",
    "rank",
    "is_main_process",
    "GlobalBatchNorm",
    "synchronised_batchnorm",
    "gather_rows",
]


def init_distributed(device: str | None = None) -> torch.device:
    """Join the ``torchrun`` process group when the environment names one; return this rank's device.

    Without ``WORLD_SIZE`` in the environment nothing happens (one process). ``device``: ``'cpu'``, ``'cuda'``
    or None (CUDA when available). The backend is NCCL for CUDA and gloo for CPU. Rank 0 prints one line,
    e.g. ``world size 2, backend gloo``.
    """
    use_cuda = torch.cuda.is_available() if device is None else device.startswith("cuda")
    if use_cuda and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for CUDA, but torch.cuda.is_available() is False")
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    target = torch.device("cuda", local_rank % torch.cuda.device_count()) if use_cuda else torch.device("cpu")
    if "WORLD_SIZE" in os.environ and not dist.is_initialized():
        if use_cuda:
            torch.cuda.set_device(target)
        backend = "nccl" if use_cuda else "gloo"
        dist.init_process_group(backend)
        if dist.get_rank() == 0:
            print(f"world size {dist.get_world_size()}, backend {backend}", flush=True)
    return target


def world_size() -> int:
    """Processes in the job (1 without a process group)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main_process() -> bool:
    """Rank 0: the one process that logs, draws the progress bar and writes files."""
    return rank() == 0


class _SumOverRanks(torch.autograd.Function):
    """All-reduce (sum) whose gradient is the all-reduced gradient: every rank's loss depends on every input."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        out = x.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        out = grad.clone()
        dist.all_reduce(out)
        return out


def _sum_over_ranks(x: torch.Tensor) -> torch.Tensor:
    return _SumOverRanks.apply(x)


class GlobalBatchNorm(_BatchNorm):
    """Batch normalisation whose training statistics cover the batches of every rank (CPU-friendly).

    Input (N, C, ...) of any rank >= 2. In training mode inside a process group, the per-channel mean and
    variance are all-reduced (with gradients) over the ranks, so N samples split across processes are
    normalised exactly as one batch of N; outside a process group, or in eval mode, it is ``BatchNorm``.
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"GlobalBatchNorm expects (N, C, ...) input, got shape {tuple(input.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and world_size() > 1):
            return super().forward(x)
        self._check_input_dim(x)
        dims = [0, *range(2, x.dim())]
        count = torch.tensor([x.numel() / x.shape[1]], dtype=x.dtype, device=x.device)
        total = _sum_over_ranks(count)
        mean = _sum_over_ranks(x.sum(dims)) / total  # (C,)
        shape = [1, -1] + [1] * (x.dim() - 2)
        centred = x - mean.view(shape)
        var = _sum_over_ranks(centred.pow(2).sum(dims)) / total  # (C,), biased
        if self.track_running_stats:
            update_running_statistics(self, mean, var, total)
        out = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out


@contextlib.contextmanager
def synchronised_batchnorm(model: nn.Module, device: torch.device) -> Iterator[nn.Module]:
    """Within the block, every BatchNorm of ``model`` sees the global batch; afterwards the originals are back.

    The replacements share the originals' parameters and buffers (updated in place), so nothing is copied back.
    A no-op in a single process.
    """
    if world_size() == 1:
        yield model
        return
    cls = nn.SyncBatchNorm if device.type == "cuda" else GlobalBatchNorm
    swapped = []
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if isinstance(child, _BatchNorm) and not isinstance(child, cls):
                sync = cls(child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats)
                sync.weight, sync.bias = child.weight, child.bias
                sync.running_mean, sync.running_var = child.running_mean, child.running_var
                sync.num_batches_tracked = child.num_batches_tracked
                sync.train(child.training)
                setattr(parent, name, sync)
                swapped.append((parent, name, child))
    try:
        yield model
    finally:
        for parent, name, child in swapped:
            child.train(getattr(parent, name).training)
            setattr(parent, name, child)


def gather_rows(rows: torch.Tensor, total: int) -> torch.Tensor:
    """Rows computed for the samples ``rank::world`` on every rank, put back in sample order on every rank.

    ``rows``: (n_rank, ...) on this rank; returns (total, ...). With one process, ``rows`` itself.
    """
    world = world_size()
    if world == 1:
        return rows
    longest = -(-total // world)
    padded = rows.new_zeros((longest, *rows.shape[1:]))
    padded[: len(rows)] = rows
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    out = rows.new_empty((total, *rows.shape[1:]))
    for r, part in enumerate(parts):
        out[r::world] = part[: len(range(r, total, world))]
    return out
