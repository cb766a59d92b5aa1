"""Shift-GCN's learnable temporal shift as a compiled op, with a pure-PyTorch fallback.

``temporal_shift(x, ypos)`` moves each channel of ``x`` (N, C, T, V) along time by a
real-valued, learnable number of frames ``ypos[c]``: output frame t samples the input at
``t·stride + ypos[c]`` (``+ 0.5`` when ``stride != 1``) by linear interpolation, zero
outside, and there are ``T // stride`` output frames, as in the original CUDA op.

The C++/CUDA kernels live in ``csrc/`` and are compiled on first use with
``torch.utils.cpp_extension.load`` (cached per torch version and source hash, under a
build lock that never hangs: :mod:`stviz.build_lock`). They register the ops
``torch.ops.stviz.temporal_shift``, ``temporal_shift_adjoint`` (the input gradient),
``temporal_shift_offset_grad`` (the position gradient) and ``temporal_shift_backward``
(both in one pass); this module adds their fake (meta) kernels and the autograd formula.
Without a compiler or ninja, or when the build fails, stviz warns once and uses
:func:`temporal_shift_reference`, which computes the same thing in plain PyTorch
(:mod:`stviz.shift_pytorch`).

Positions must be finite: a NaN or infinite ``ypos`` is refused with a
``ValueError`` on every path (on a GPU that check reads the C positions back, one sync).
A NaN that reaches the position gradient from ``x`` or the upstream gradient stays NaN in
both gradient modes.

Position gradient, ``grad_mode``:

* ``"exact"`` (the default): the true gradient of the output with respect to ``ypos``.
  It is what ``torch.autograd.gradcheck`` checks, it composes with any optimiser, and it
  is what a reader expects from ``loss.backward()``.
* ``"official"``: what the original CUDA code returns: the gradient averaged over the
  batch, then replaced by ``0.01·sign(g)`` (``1e-4`` where it is exactly 0). So ypos
  follows sign-SGD with step ``lr·0.01``. Use it to reproduce Shift-GCN's training.
  (The original also turns a NaN gradient into 0; here it stays NaN.)

(The original op also takes an ``xpos`` that does nothing; :mod:`stviz.official.shift` keeps it for
checkpoints.)
"""

from __future__ import annotations

import hashlib
import os
import shutil
import site
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from stviz.build_lock import BuildLockTimeout, hold_lock
from stviz.checks import check_nctv
from stviz.shift_pytorch import GatherShift

__all__ = [
    "ExtensionInfo",
    "backend",
    "load_extension",
    "output_frames",
    "temporal_shift",
    "temporal_shift_reference",
]

GRAD_MODES = ("exact", "official")
# Where csrc/ is: beside the package in a checkout or editable install; under <prefix>/share/stviz once installed
# (pyproject.toml's data-files).
_SOURCE_DIRS = (
    Path(__file__).resolve().parents[1] / "csrc",
    Path(sys.prefix) / "share" / "stviz" / "csrc",
    Path(site.USER_BASE or "~").expanduser() / "share" / "stviz" / "csrc",
)


def output_frames(frames: int, stride: int) -> int:
    """Number of output frames: ``floor(T / stride)``."""
    return frames // stride


def _check(x: torch.Tensor, ypos: torch.Tensor, stride: int, grad_mode: str) -> None:
    check_nctv(x, block="temporal_shift")
    if not isinstance(ypos, torch.Tensor) or ypos.dim() != 1 or ypos.shape[0] != x.shape[1]:
        shape = tuple(ypos.shape) if isinstance(ypos, torch.Tensor) else type(ypos).__name__
        raise ValueError(
            f"temporal_shift: ypos must have shape (C,) = ({x.shape[1]},) for x of shape "
            f"(N, C, T, V) = {tuple(x.shape)}, got {shape}"
        )
    if not ypos.is_floating_point():
        raise TypeError(f"temporal_shift: ypos must be a floating-point tensor, got dtype {ypos.dtype}")
    if ypos.device != x.device:
        raise TypeError(f"temporal_shift: ypos is on device {ypos.device} but x is on {x.device}: move one of them")
    check_finite_positions("temporal_shift", "ypos", ypos)
    if not isinstance(stride, int) or stride < 1:
        raise ValueError(f"temporal_shift: stride must be a positive int, got {stride!r}")
    if x.shape[2] < stride:
        raise ValueError(
            f"temporal_shift: x has T={x.shape[2]} frames; stride {stride} needs T >= {stride} for one output frame"
        )
    if grad_mode not in GRAD_MODES:
        raise ValueError(f"temporal_shift: grad_mode must be one of {GRAD_MODES}, got {grad_mode!r}")


def check_finite_positions(block: str, name: str, positions: torch.Tensor) -> None:
    """Refuse NaN or infinite positions (C,), naming ``block`` and the first bad channel (meta tensors have no
    values to check)."""
    if positions.device.type == "meta" or not positions.is_floating_point():
        return
    finite = torch.isfinite(positions.detach())
    if not bool(finite.all()):
        bad = (~finite).nonzero().flatten().tolist()
        more = f" (and {len(bad) - 1} more channels)" if len(bad) > 1 else ""
        raise ValueError(
            f"{block}: {name} must be finite frame offsets, got {positions[bad[0]].item()} at channel {bad[0]}{more}"
        )


def _offset(x: torch.Tensor, ypos: torch.Tensor, stride: int) -> torch.Tensor:
    """Sample offset in frames, (C,), in the precision the kernels compute in (float64 for double x)."""
    offset = ypos.to(torch.float64 if x.dtype == torch.float64 else torch.float32)
    return offset + 0.5 if stride != 1 else offset


class _SignRuleGradient(torch.autograd.Function):
    """Identity on ypos (C,) whose backward applies the original's rule: ``0.01·sign(g)``, ``1e-4`` where g is 0."""

    @staticmethod
    def forward(ypos):
        return ypos.clone()

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, grad):
        # batch mean then sign: the 1/N never changes the sign, so only sign and zero-ness matter; NaN stays NaN
        sign_rule = torch.where(grad != 0, 0.01 * torch.sign(grad), torch.full_like(grad, 1e-4))
        return torch.where(torch.isnan(grad), grad, sign_rule)


def _positions(ypos: torch.Tensor, grad_mode: str) -> torch.Tensor:
    return _SignRuleGradient.apply(ypos) if grad_mode == "official" and ypos.requires_grad else ypos


def temporal_shift_reference(
    x: torch.Tensor, ypos: torch.Tensor, stride: int = 1, grad_mode: str = "exact"
) -> torch.Tensor:
    """Pure-PyTorch temporal shift: (N, C, T, V) -> (N, C, T // stride, V).

    Same semantics and gradients as :func:`temporal_shift`, computed with weighted row
    gathers (``F.embedding_bag``) in :mod:`stviz.shift_pytorch`.
    """
    _check(x, ypos, stride, grad_mode)
    return GatherShift.apply(x, _offset(x, _positions(ypos, grad_mode), stride), stride)


# --------------------------------------------------------------------------------------------------
# The compiled ops: loader, fake kernels, autograd.


@dataclass
class ExtensionInfo:
    """What :func:`load_extension` did."""

    backend: str  # "cpu-extension", "cuda-extension" or "pytorch-fallback"
    devices: tuple[str, ...] = ()  # device types the compiled op runs on
    build_seconds: float = 0.0  # time spent in load(): the compile, or just loading a cached build
    compiled: bool = False  # False when a cached build was loaded
    reason: str | None = None  # why the fallback is used (on some or all devices)
    library: str | None = None  # the shared library that was loaded


@dataclass
class _LoaderState:
    info: ExtensionInfo | None = None  # set by the first load_extension() of the process


_state = _LoaderState()
_registered: set[str] = set()  # Python-side registrations are per process, whatever _state says


def _source_dir() -> Path:
    for d in _SOURCE_DIRS:
        if (d / "temporal_shift.cpp").is_file():
            return d
    raise FileNotFoundError(f"csrc/temporal_shift.cpp not found in {[str(d) for d in _SOURCE_DIRS]}")


def _cuda_buildable() -> bool:
    from torch.utils.cpp_extension import CUDA_HOME

    return torch.cuda.is_available() and torch.version.cuda is not None and CUDA_HOME is not None


def _cache_root() -> Path:
    if os.environ.get("TORCH_EXTENSIONS_DIR"):
        return Path(os.environ["TORCH_EXTENSIONS_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "stviz" / "extensions"


# The kernels' at::parallel_for is an OpenMP loop written in torch's headers: without -fopenmp it runs on one thread.
_OPENMP = ["-fopenmp"] if torch._C.has_openmp and sys.platform.startswith("linux") else []
_CFLAGS = ["-O3", *_OPENMP]
_CUDA_CFLAGS = ["-O3"]


def _build_target(with_cuda: bool) -> tuple[str, Path, list[Path]]:
    """(extension name, build folder, sources): the name hashes torch's version, the flags and the sources, and for
    CUDA the GPU architectures it is built for (``TORCH_CUDA_ARCH_LIST``, else the visible GPUs' compute
    capabilities), so nodes with different GPUs sharing one cache folder each keep their own build."""
    csrc = _source_dir()
    sources = [csrc / "temporal_shift.cpp"]
    headers = []  # what the sources include from csrc/: a change to them must rebuild too
    architectures = []
    if with_cuda:
        sources.append(csrc / "cuda" / "temporal_shift.cu")
        headers.append(csrc / "cuda" / "temporal_shift_plane.cuh")
        listed = os.environ.get("TORCH_CUDA_ARCH_LIST", "")  # what torch then builds for, whatever the GPUs
        visible = sorted({str(torch.cuda.get_device_capability(i)) for i in range(torch.cuda.device_count())})
        architectures = [listed] if listed else visible
    digest = hashlib.sha256()
    # The source folder is part of the key: ninja rebuilds whenever a source path changes.
    for part in [torch.__version__, str(torch.version.cuda), str(csrc), *_CFLAGS, *_CUDA_CFLAGS, *architectures]:
        digest.update(part.encode())
    for src in sources + headers:
        digest.update(src.read_bytes())
    name = f"stviz_temporal_shift_{'cuda' if with_cuda else 'cpu'}_{digest.hexdigest()[:12]}"
    return name, _cache_root() / f"torch-{torch.__version__}" / name, sources


def _compile(verbose: bool, with_cuda: bool) -> ExtensionInfo:
    """Build (or load the cached build of) csrc/ and register the ops in ``torch.ops.stviz``."""
    from torch.utils import cpp_extension

    if shutil.which(os.environ.get("CXX", "c++")) is None:
        raise RuntimeError(f"no C++ compiler ({os.environ.get('CXX', 'c++')!r} is not on PATH)")
    try:
        cpp_extension.verify_ninja_availability()
    except RuntimeError:
        raise RuntimeError("ninja is not installed (pip install ninja)") from None
    name, build_dir, sources = _build_target(with_cuda)
    build_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with hold_lock(build_dir):
        compiled = not (build_dir / f"{name}.so").is_file()
        what = "CPU and CUDA" if with_cuda else "CPU"
        if compiled and verbose:
            print(f"stviz: compiling the temporal shift op ({what}, once per torch version)...", end="", flush=True)
        try:
            library = cpp_extension.load(
                name=name,
                sources=[str(s) for s in sources],
                extra_cflags=list(_CFLAGS),  # copies: load() appends to the lists it is given
                extra_cuda_cflags=list(_CUDA_CFLAGS),
                extra_ldflags=list(_OPENMP),
                build_directory=str(build_dir),
                is_python_module=False,
                verbose=False,
            )
        finally:
            seconds = time.perf_counter() - start
            if compiled and verbose:
                print(f" {seconds:.1f} s", flush=True)
    devices = ("cpu", "cuda") if with_cuda else ("cpu",)
    return ExtensionInfo(
        backend="cuda-extension" if with_cuda else "cpu-extension",
        devices=devices,
        build_seconds=seconds,
        compiled=compiled,
        library=str(library),
    )


def _short_reason(error: Exception) -> str:
    """The most telling line of a build error: the compiler's first ``error:`` line if there is one."""
    if isinstance(error, BuildLockTimeout):  # one line that names the lock and how to clear it: keep it whole
        return str(error)
    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
    for marker in ("error:", "error"):
        found = [ln for ln in lines if marker in ln.lower()]
        if found:
            return found[0][:300]
    return (lines[-1] if lines else type(error).__name__)[:300]


def load_extension(verbose: bool = True) -> ExtensionInfo:
    """Compile (first call per torch version and source) or load the op; fall back with one warning.

    Returns an :class:`ExtensionInfo` naming the backend, the build time and, for the
    fallback, the reason.
    """
    if _state.info is None:
        with_cuda = _cuda_buildable()
        try:
            info = _compile(verbose, with_cuda)
        except Exception as error:  # no compiler, no ninja, a build or load error: all take the fallback
            info = ExtensionInfo(backend="pytorch-fallback", reason=_short_reason(error))
            if with_cuda:  # e.g. nvcc's CUDA version does not match torch's: keep the compiled CPU kernel
                try:
                    info = _compile(verbose, with_cuda=False)
                    info.reason = f"CUDA kernel: {_short_reason(error)}"
                except Exception as cpu_error:
                    info.reason = f"{info.reason}; CPU-only build: {_short_reason(cpu_error)}"
            where, there = ("on the GPU", " there") if info.devices else ("on this machine", "")
            warnings.warn(
                f"stviz: the compiled temporal shift op is unavailable {where} ({info.reason}); "
                f"using the pure-PyTorch implementation{there} (same results, slower).",
                RuntimeWarning,
                stacklevel=2,
            )
        if info.devices:
            _register_python_parts()
        _state.info = info
    return _state.info


def backend(device: str | torch.device = "cpu") -> str:
    """Which implementation :func:`temporal_shift` uses for tensors on ``device``.

    ``"cpu-extension"`` or ``"cuda-extension"`` (compiled kernels) or ``"pytorch-fallback"``.
    Loads (and if needed compiles) the extension.
    """
    info = load_extension()
    device_type = torch.device(device).type
    if device_type in info.devices:
        return f"{device_type}-extension"
    return "pytorch-fallback"


def _register_python_parts() -> None:
    """Fake kernels and autograd for the ops the shared library defined (once per process)."""
    if "stviz::temporal_shift" in _registered:
        return

    @torch.library.register_fake("stviz::temporal_shift")
    def _(x, offset, stride):
        torch._check(x.dim() == 4 and offset.shape == (x.shape[1],), lambda: "expected x (N, C, T, V), offset (C,)")
        torch._check(stride >= 1 and x.shape[2] >= stride, lambda: "stride must be in [1, T]")
        n, c, t, v = x.shape
        return x.new_empty((n, c, t // stride, v))

    @torch.library.register_fake("stviz::temporal_shift_adjoint")
    def _(grad_out, offset, stride, frames):
        n, c, _, v = grad_out.shape
        return grad_out.new_empty((n, c, frames, v))

    @torch.library.register_fake("stviz::temporal_shift_offset_grad")
    def _(grad_out, x, offset, stride):
        return offset.new_empty(offset.shape)

    @torch.library.register_fake("stviz::temporal_shift_backward")
    def _(grad_out, x, offset, stride):
        return x.new_empty(x.shape), offset.new_empty(offset.shape)

    def setup_context(ctx, inputs, output):
        x, offset, stride = inputs
        ctx.stride = stride
        ctx.frames = x.shape[2]
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, offset)

    def backward(ctx, grad_out):
        x, offset = ctx.saved_tensors
        grad_x = grad_offset = None
        grad_out = grad_out.contiguous()
        if ctx.needs_input_grad[0] and ctx.needs_input_grad[1]:
            grad_x, grad_offset = torch.ops.stviz.temporal_shift_backward(grad_out, x, offset, ctx.stride)
        elif ctx.needs_input_grad[0]:
            grad_x = torch.ops.stviz.temporal_shift_adjoint(grad_out, offset, ctx.stride, ctx.frames)
        elif ctx.needs_input_grad[1]:
            grad_offset = torch.ops.stviz.temporal_shift_offset_grad(grad_out, x, offset, ctx.stride)
        return grad_x, grad_offset, None

    torch.library.register_autograd("stviz::temporal_shift", backward, setup_context=setup_context)
    _registered.add("stviz::temporal_shift")


def temporal_shift(x: torch.Tensor, ypos: torch.Tensor, stride: int = 1, grad_mode: str = "exact") -> torch.Tensor:
    """Learnable temporal shift: (N, C, T, V) -> (N, C, T // stride, V).

    Channel c of output frame t is ``x`` linearly interpolated at frame
    ``t·stride + ypos[c]`` (``+ 0.5`` when ``stride != 1``), zero outside ``[0, T)``.
    ``grad_mode`` picks the position gradient: ``"exact"`` (default) or ``"official"``
    (Shift-GCN's batch-mean sign rule); see the module docstring. Runs the compiled
    kernel when there is one for ``x.device``, else :func:`temporal_shift_reference`.
    """
    _check(x, ypos, stride, grad_mode)
    info = load_extension()
    offset = _offset(x, _positions(ypos, grad_mode), stride)
    if info.devices and (x.device.type in info.devices or x.device.type == "meta"):
        return torch.ops.stviz.temporal_shift(x.contiguous(), offset.contiguous(), stride)
    return GatherShift.apply(x, offset, stride)
