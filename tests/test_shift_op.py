"""The learnable temporal shift op: compiled kernels, pure-PyTorch reference and explicit formula agree.

The first test that needs the compiled op builds it (once per torch version and source,
cached under ~/.cache/stviz or TORCH_EXTENSIONS_DIR); every later test reuses it.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import torch
from torch.utils import cpp_extension

from stviz import ops

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
STRIDES = (1, 2, 3)
# Fractional, integer, negative and larger-than-T shifts; one channel entirely outside the clip.
YPOS = [0.3, -1.7, 2.0, -3.0, 4.25, 11.6, -12.4, 0.0]


def explicit_shift(x: torch.Tensor, ypos: torch.Tensor, stride: int) -> torch.Tensor:
    """The op's definition written as loops: linear interpolation at t·stride + ypos (+0.5 if stride != 1)."""
    n, c, t, v = x.shape
    out = torch.zeros(n, c, t // stride, v, dtype=x.dtype)
    for ch in range(c):
        pos = float(ypos[ch]) + (0.5 if stride != 1 else 0.0)
        k = math.floor(pos)
        frac = pos - k
        for to in range(t // stride):
            for src, weight in ((to * stride + k, 1 - frac), (to * stride + k + 1, frac)):
                if 0 <= src < t and weight != 0:
                    out[:, ch, to] += weight * x[:, ch, src]
    return out


def sample(n=3, frames=9, v=5, dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, len(YPOS), frames, v, generator=gen, dtype=dtype)
    return x, torch.tensor(YPOS, dtype=dtype)


def test_extension_builds_where_a_compiler_exists():
    if shutil.which("c++") is None or not cpp_extension.is_ninja_available():
        pytest.skip("no C++ compiler or no ninja: the fallback is expected here")
    info = ops.load_extension(verbose=True)
    assert info.backend in ("cpu-extension", "cuda-extension"), info.reason
    assert ops.backend("cpu") == "cpu-extension"


@pytest.mark.parametrize("stride", STRIDES)
@pytest.mark.parametrize("frames", [9, 8])
def test_reference_equals_explicit_formula(stride, frames):
    x, ypos = sample(frames=frames)
    want = explicit_shift(x, ypos, stride)
    torch.testing.assert_close(ops.temporal_shift_reference(x, ypos, stride=stride), want)
    assert want.shape[2] == frames // stride


@pytest.mark.parametrize("stride", STRIDES)
def test_reference_reuses_its_plan_for_new_fractions(stride):
    """The fallback caches its gather plan by the positions' integer parts: positions that keep their integer
    parts but change their fractions (one to exactly 0, one from 0) must still give the formula and its gradient."""
    x, ypos = sample(seed=4)
    moved = ypos.clone()
    moved[0] += 0.45  # 0.3 -> 0.75, same floor
    moved[2] += 0.5  # an integer shift becomes fractional
    moved[4] -= 0.25  # 4.25 -> 4.0: a fraction becomes exactly 0
    for positions in (ypos, moved, ypos):
        xi = x.clone().requires_grad_(True)
        out = ops.temporal_shift_reference(xi, positions, stride=stride)
        torch.testing.assert_close(out, explicit_shift(x, positions, stride))
        out.sum().backward()
        xe = x.clone().requires_grad_(True)
        explicit_shift(xe, positions, stride).sum().backward()
        torch.testing.assert_close(xi.grad, xe.grad)


def test_integer_shift_moves_frames():
    x = torch.arange(1.0, 11.0).reshape(1, 1, 10, 1)  # frame i holds i + 1
    out = ops.temporal_shift_reference(x, torch.tensor([2.0]))[0, 0, :, 0]
    assert out.tolist() == [3, 4, 5, 6, 7, 8, 9, 10, 0, 0]  # frame t reads t + 2, zero past the end
    out = ops.temporal_shift_reference(x, torch.tensor([-1.5]))[0, 0, :, 0]
    assert out[:3].tolist() == [0, 0.5, 1.5]  # frame 1 reads -0.5: half zero padding, half frame 0


@pytest.mark.parametrize("stride", STRIDES)
@pytest.mark.parametrize("frames", [9, 8, 2 * 3 + 1])
def test_compiled_forward_and_grads_equal_reference(compiled, stride, frames):
    x, ypos = sample(frames=frames)
    got_x, got_y = x.clone().requires_grad_(), ypos.clone().requires_grad_()
    ref_x, ref_y = x.clone().requires_grad_(), ypos.clone().requires_grad_()
    got = ops.temporal_shift(got_x, got_y, stride=stride)
    ref = ops.temporal_shift_reference(ref_x, ref_y, stride=stride)
    torch.testing.assert_close(got, ref, atol=1e-12, rtol=0)
    torch.testing.assert_close(got, explicit_shift(x, ypos, stride), atol=1e-12, rtol=0)
    grad = torch.randn_like(got)
    got.backward(grad)
    ref.backward(grad)
    torch.testing.assert_close(got_x.grad, ref_x.grad, atol=1e-12, rtol=0)
    torch.testing.assert_close(got_y.grad, ref_y.grad, atol=1e-10, rtol=1e-10)
    assert got_y.grad[YPOS.index(-12.4)] == 0  # that channel reads only padding


@pytest.mark.parametrize("stride", STRIDES)
def test_official_gradient_is_sign_of_exact(compiled, stride):
    x, ypos = sample(frames=11)
    exact = ypos.clone().requires_grad_()
    ops.temporal_shift(x, exact, stride=stride).pow(2).sum().backward()
    want = torch.where(exact.grad != 0, 0.01 * exact.grad.sign(), torch.full_like(exact.grad, 1e-4))
    assert (exact.grad == 0).any()  # the channel outside the clip takes the 1e-4 branch
    for fn in (ops.temporal_shift, ops.temporal_shift_reference):
        y = ypos.clone().requires_grad_()
        fn(x, y, stride=stride, grad_mode="official").pow(2).sum().backward()
        torch.testing.assert_close(y.grad, want)


@pytest.mark.parametrize("stride", STRIDES)
def test_adjoint_is_the_transpose(compiled, stride):
    """<shift(x), g> == <x, adjoint(g)> for every stride, odd T and any offsets."""
    x, ypos = sample(frames=13)
    offset = ops._offset(x, ypos, stride)
    g = torch.randn(x.shape[0], x.shape[1], 13 // stride, x.shape[3], dtype=x.dtype)
    lhs = (torch.ops.stviz.temporal_shift(x, offset, stride) * g).sum()
    rhs = (x * torch.ops.stviz.temporal_shift_adjoint(g, offset, stride, 13)).sum()
    torch.testing.assert_close(lhs, rhs)


@pytest.mark.parametrize("stride", STRIDES)
def test_gradcheck_exact_mode(compiled, stride):
    # Offsets away from integers: the gradient in ypos is piecewise constant with kinks at integers.
    x = torch.randn(2, 4, 7, 3, dtype=torch.float64, requires_grad=True)
    ypos = torch.tensor([0.3, -1.6, 2.2, 7.4], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: ops.temporal_shift(a, b, stride=stride), (x, ypos))
    assert torch.autograd.gradcheck(lambda a, b: ops.temporal_shift_reference(a, b, stride=stride), (x, ypos))


def opcheck_samples(device):
    samples = []
    for stride, dtype, grad in [(1, torch.float32, False), (2, torch.float64, True), (3, torch.float32, True)]:
        offset_dtype = torch.float64 if dtype == torch.float64 else torch.float32
        x = torch.randn(2, 3, 8, 4, dtype=dtype, device=device, requires_grad=grad)
        offset = torch.tensor([0.3, -2.5, 9.0], dtype=offset_dtype, device=device, requires_grad=grad)
        samples.append((x, offset, stride))
    return samples


def run_opcheck(device):
    for x, offset, stride in opcheck_samples(device):
        torch.library.opcheck(torch.ops.stviz.temporal_shift, (x, offset, stride))
        g = torch.randn(x.shape[0], x.shape[1], x.shape[2] // stride, x.shape[3], dtype=x.dtype, device=device)
        torch.library.opcheck(torch.ops.stviz.temporal_shift_adjoint, (g, offset.detach(), stride, x.shape[2]))
        torch.library.opcheck(torch.ops.stviz.temporal_shift_offset_grad, (g, x.detach(), offset.detach(), stride))
        torch.library.opcheck(torch.ops.stviz.temporal_shift_backward, (g, x.detach(), offset.detach(), stride))


@pytest.mark.parametrize("stride", STRIDES)
def test_fused_backward_equals_the_two_gradient_ops(compiled, stride):
    """temporal_shift_backward (one pass) against the input-gradient and position-gradient ops run alone."""
    x, ypos = sample(frames=13)
    offset = ops._offset(x, ypos, stride)
    g = torch.randn(x.shape[0], x.shape[1], 13 // stride, x.shape[3], dtype=x.dtype)
    grad_x, grad_offset = torch.ops.stviz.temporal_shift_backward(g, x, offset, stride)
    assert torch.equal(grad_x, torch.ops.stviz.temporal_shift_adjoint(g, offset, stride, 13))
    assert torch.equal(grad_offset, torch.ops.stviz.temporal_shift_offset_grad(g, x, offset, stride))


def test_kernels_use_every_thread_and_stay_deterministic(compiled):
    """The build links OpenMP where torch uses it; results do not depend on the number of threads."""
    assert ("-fopenmp" in ops._CFLAGS) == (torch._C.has_openmp and sys.platform.startswith("linux"))
    x = torch.randn(8, 16, 40, 25)
    offset = torch.linspace(-3.7, 4.2, 16)
    g = torch.randn(8, 16, 20, 25)
    threads = torch.get_num_threads()
    results = []
    for n in (1, 2):
        torch.set_num_threads(n)
        try:
            results.append(
                (
                    torch.ops.stviz.temporal_shift(x, offset, 2),
                    *torch.ops.stviz.temporal_shift_backward(g, x, offset, 2),
                )
            )
        finally:
            torch.set_num_threads(threads)
    for one, two in zip(*results, strict=True):
        assert torch.equal(one, two)


def test_opcheck_cpu(compiled):
    run_opcheck("cpu")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_cpu(compiled, dtype):
    x, ypos = sample(dtype=torch.float32)
    got = ops.temporal_shift(x.to(dtype), ypos, stride=2)
    assert got.dtype == dtype
    torch.testing.assert_close(got.float(), ops.temporal_shift_reference(x, ypos, stride=2), atol=3e-2, rtol=3e-2)


def test_meta_tensors_give_shapes(compiled):
    x = torch.empty(2, 8, 9, 5, device="meta")
    out = ops.temporal_shift(x, torch.zeros(8, device="meta"), stride=2)
    assert out.shape == (2, 8, 4, 5) and out.device.type == "meta"


def test_cached_build_is_reused_in_a_new_process(compiled):
    code = "import stviz.ops as o; i = o.load_extension(); print(i.backend, i.compiled)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines() == [f"{compiled.backend} False"], run.stdout  # no compile line either


def test_build_failure_falls_back_with_one_warning(monkeypatch):
    def fail(verbose, with_cuda):
        raise RuntimeError("ninja: build stopped\nerror: simulated compiler failure")

    monkeypatch.setattr(ops, "_state", ops._LoaderState())
    monkeypatch.setattr(ops, "_compile", fail)
    x, ypos = sample()
    with pytest.warns(RuntimeWarning, match="simulated compiler failure"):
        out = ops.temporal_shift(x, ypos, stride=2)
    torch.testing.assert_close(out, explicit_shift(x, ypos, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ops.temporal_shift(x, ypos)  # no second warning
        assert ops.backend() == "pytorch-fallback"
    assert "simulated compiler failure" in ops.load_extension().reason


def test_cuda_build_failure_keeps_the_compiled_cpu_kernel(compiled):
    """A CUDA build that fails (here: nvcc's CUDA does not match torch's) leaves the compiled CPU kernel and the
    fallback on the GPU, with one warning that says so. In a new interpreter: one that has loaded the CUDA build, as
    this session has on a GPU machine, cannot load a CPU-only build too (one TORCH_LIBRARY per namespace)."""
    code = textwrap.dedent("""
        import warnings
        import stviz.ops as ops

        real_compile = ops._compile

        def cuda_fails(verbose, with_cuda):
            if with_cuda:
                raise RuntimeError("The detected CUDA version (13.0) mismatches the version used to compile PyTorch")
            return real_compile(verbose, with_cuda)

        ops._cuda_buildable = lambda: True
        ops._compile = cuda_fails
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            info = ops.load_extension(verbose=False)
        print([str(w.message) for w in caught])
        print(info.devices, ops.backend("cpu"), ops.backend("cuda"))
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    warned, state = run.stdout.strip().splitlines()
    assert "unavailable on the GPU" in warned and "CUDA version" in warned and warned.count("stviz:") == 1
    assert state == "('cpu',) cpu-extension pytorch-fallback"


def test_missing_compiler_or_ninja_is_named_in_the_warning(monkeypatch):
    monkeypatch.setattr(ops, "_state", ops._LoaderState())
    monkeypatch.setenv("CXX", "no-such-compiler-c++")
    with pytest.warns(RuntimeWarning, match="no C\\+\\+ compiler"):
        assert ops.load_extension().backend == "pytorch-fallback"

    def no_ninja():
        raise RuntimeError("Ninja is required to load C++ extensions")

    monkeypatch.setattr(ops, "_state", ops._LoaderState())
    monkeypatch.delenv("CXX")
    monkeypatch.setattr(cpp_extension, "verify_ninja_availability", no_ninja)
    with pytest.warns(RuntimeWarning, match="ninja is not installed"):
        assert ops.backend() == "pytorch-fallback"


@pytest.mark.parametrize("fn", [ops.temporal_shift, ops.temporal_shift_reference])
def test_bad_inputs_raise_clear_errors(fn):
    x, ypos = sample(dtype=torch.float32)
    with pytest.raises(ValueError, match=r"\(N, C, T, V\)"):
        fn(x[0], ypos)
    with pytest.raises(ValueError, match=r"ypos must have shape \(C,\) = \(8,\)"):
        fn(x, ypos[:5])
    with pytest.raises(TypeError, match="floating-point"):
        fn(x.long(), ypos)
    with pytest.raises(TypeError, match="ypos must be a floating-point"):
        fn(x, ypos.long())
    with pytest.raises(ValueError, match="stride must be a positive int"):
        fn(x, ypos, stride=0)
    with pytest.raises(ValueError, match="T=2 frames; stride 3 needs T >= 3"):
        fn(x[:, :, :2], ypos, stride=3)
    with pytest.raises(ValueError, match="grad_mode must be one of"):
        fn(x, ypos, grad_mode="sign")


def test_compiled_op_checks_its_arguments(compiled):
    x = torch.randn(2, 3, 8, 4)
    with pytest.raises(RuntimeError, match="offset must be Float"):
        torch.ops.stviz.temporal_shift(x, torch.zeros(3, dtype=torch.float64), 1)
    with pytest.raises(RuntimeError, match=r"offset must have shape \(C,\)"):
        torch.ops.stviz.temporal_shift(x, torch.zeros(4), 1)


@CUDA
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("stride", STRIDES)
def test_cuda_equals_cpu(compiled, dtype, stride):
    assert ops.backend("cuda") == "cuda-extension"
    x, ypos = sample(n=4, frames=31, v=25, dtype=torch.float64)
    x = x.to(dtype)
    tol = {torch.float16: 2e-3, torch.bfloat16: 2e-2}.get(dtype, 1e-5)
    results = []
    for device in ("cpu", "cuda"):
        xd = x.to(device).requires_grad_()
        yd = ypos.to(device).requires_grad_()
        out = ops.temporal_shift(xd, yd, stride=stride)
        out.backward(torch.ones_like(out))
        results.append([t.detach().cpu().double() for t in (out, xd.grad, yd.grad)])
    for cpu, gpu in zip(*results, strict=True):
        torch.testing.assert_close(gpu, cpu, atol=tol, rtol=tol)


@CUDA
@pytest.mark.parametrize(
    "shape, stride",
    [((300, 256, 4, 2), 1), ((2, 8, 100, 25), 1), ((2, 8, 100, 25), 3), ((1, 8, 300, 25), 2)],
    ids=["planes beyond gridDim.y", "several blocks per plane", "strided", "T=300"],
)
def test_cuda_grid_covers_every_plane_and_element(compiled, shape, stride):
    """More (n, c) planes than the grid's 65535 rows of blocks, planes longer than one block's 1024 elements, and a
    non-contiguous input: the CUDA kernels' three ops equal the CPU kernels'."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape[0], shape[2], shape[1], shape[3], generator=gen).transpose(1, 2)  # not contiguous
    offset = torch.rand(shape[1], generator=gen) * 16 - 8
    g = torch.randn(shape[0], shape[1], shape[2] // stride, shape[3], generator=gen)
    stviz_ops = torch.ops.stviz
    for got, want in (
        (stviz_ops.temporal_shift(x.cuda(), offset.cuda(), stride), stviz_ops.temporal_shift(x, offset, stride)),
        (stviz_ops.temporal_shift_adjoint(g.cuda(), offset.cuda(), stride, shape[2]),
         stviz_ops.temporal_shift_adjoint(g, offset, stride, shape[2])),
        (stviz_ops.temporal_shift_offset_grad(g.cuda(), x.cuda(), offset.cuda(), stride),
         stviz_ops.temporal_shift_offset_grad(g, x, offset, stride)),
    ):  # fmt: skip
        torch.testing.assert_close(got.cpu(), want, rtol=1e-5, atol=1e-4)


@CUDA
def test_cuda_refuses_a_plane_too_long_for_32_bit_indices(compiled):
    """A plane of more T * V elements than 32-bit indices allow (2^31 - 1025, leaving room for a pass past the end) is
    refused with the reason, before the input is made contiguous (an expanded input of one row takes no memory)."""
    frames = 2**31 // 25 + 1
    x = torch.zeros(1, 1, 1, 25, device="cuda").expand(1, 1, frames, 25)
    with pytest.raises(RuntimeError, match=r"T \* V = 2147483650 elements; the CUDA kernels index a plane"):
        torch.ops.stviz.temporal_shift(x, torch.zeros(1, device="cuda"), 1)


@CUDA
@pytest.mark.parametrize("op", ["temporal_shift_offset_grad", "temporal_shift_backward"])
def test_cuda_refuses_more_planes_than_one_launch_holds(compiled, op):
    """The offset gradient runs one block per (n, c) plane: over 2^31 - 1 planes is refused before anything runs
    (expanded inputs of one element take no memory)."""
    n, c = 2**16, 2**15 + 1
    x = torch.zeros(1, 1, 1, 1, device="cuda").expand(n, c, 1, 1)
    with pytest.raises(RuntimeError, match=f"N \\* C = {n * c} planes, more than the 2147483647 blocks"):
        getattr(torch.ops.stviz, op)(x, x, torch.zeros(c, device="cuda"), 1)


@CUDA
def test_opcheck_cuda(compiled):
    run_opcheck("cuda")


def test_cuda_build_is_kept_per_gpu_architecture(monkeypatch):
    """Nodes with different GPUs sharing a cache folder each keep their own build (no rebuild back and forth); with
    TORCH_CUDA_ARCH_LIST set, torch builds for that list alone, so the GPUs present do not matter."""
    monkeypatch.delenv("TORCH_CUDA_ARCH_LIST", raising=False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)

    def names(capability):
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda i: capability)
        return ops._build_target(with_cuda=True)[0], ops._build_target(with_cuda=False)[0]

    (a100, cpu_a100), (h100, cpu_h100) = names((8, 0)), names((9, 0))
    assert a100 != h100 and cpu_a100 == cpu_h100  # the CPU build: one name whatever the GPUs
    monkeypatch.setenv("TORCH_CUDA_ARCH_LIST", "8.0;9.0")
    listed_a100, listed_h100 = names((8, 0))[0], names((9, 0))[0]
    assert listed_a100 == listed_h100 and listed_a100 not in (a100, h100)


def test_a_change_to_the_cuda_header_is_a_new_build(monkeypatch, tmp_path):
    """The CUDA build's name hashes the header that the kernel includes, so an edited header is compiled afresh
    (a build kept under the old name would still run the old arithmetic); the CPU build does not include it."""
    csrc = tmp_path / "csrc"
    shutil.copytree(Path(ops.__file__).resolve().parents[1] / "csrc", csrc)
    monkeypatch.setattr(ops, "_SOURCE_DIRS", (csrc,))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda i: (9, 0))
    before = ops._build_target(with_cuda=True)[0], ops._build_target(with_cuda=False)[0]
    header = csrc / "cuda" / "temporal_shift_plane.cuh"
    header.write_text(header.read_text() + "\n// edited\n")
    after = ops._build_target(with_cuda=True)[0], ops._build_target(with_cuda=False)[0]
    assert after[0] != before[0] and after[1] == before[1]
