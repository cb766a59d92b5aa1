"""The training loop: seeded, one process or one DistributedDataParallel job, checkpoints reused when they match.

>>> from stviz.data import synthetic_dataset, train_test_split
>>> train_set, test_set = train_test_split(*synthetic_dataset(480, num_frames=32, num_bodies=1))
>>> result = train(TinyGCN(12), train_set, test_set, epochs=10)                   # doctest: +SKIP
>>> result = train(model, train_set, test_set, recipe=get_recipe("ctrgcn").scaled(12))  # doctest: +SKIP

Batches come from a ``DistributedSampler`` in every case (one replica in a single process), so a run on W
processes with local batch B / W sees, step by step, the same global batches as one process with batch B (when W
divides the number of training samples; otherwise the sampler repeats a few samples to even out the ranks).

The training data is a pair of tensors, or a ``Dataset`` of (X (C, T, V, M), y) items that draws its own
augmentation, such as :class:`stviz.data.npz.NpzDataset`: its ``set_epoch`` is called with the sampler's.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, TensorDataset
from tqdm.auto import tqdm

from stviz import set_seed
from stviz.checks import read_torch_file
from stviz.train.distributed import gather_rows, is_main_process, rank, synchronised_batchnorm, world_size
from stviz.train.recipes import Recipe, build_optimizer, build_schedule, get_recipe
from stviz.train.streams import stream_transform

__all__ = ["TrainResult", "train", "evaluate", "predict", "load_checkpoint"]

Data = tuple[torch.Tensor, torch.Tensor]
# What amp=True autocasts to, by device type.
AMP_DTYPES = {"cuda": torch.float16, "cpu": torch.bfloat16}


@dataclass
class TrainResult:
    """What :func:`train` returns.

    ``history`` has one entry per epoch for each of ``train_loss``, ``train_accuracy``, ``lr`` and, with test
    data, ``test_loss`` and ``test_accuracy``. ``test_scores`` are the final logits on the test data (N, K).
    """

    model: nn.Module
    history: dict[str, list[float]] = field(default_factory=dict)
    test_accuracy: float | None = None
    seconds: float = 0.0
    from_checkpoint: bool = False
    recipe: Recipe | None = None
    test_scores: torch.Tensor | None = None


def _check_data(data: Data, name: str) -> Data:
    if not (isinstance(data, tuple | list) and len(data) == 2):
        raise TypeError(f"{name} must be a pair (X, y) of tensors, got {type(data).__name__}")
    x, y = data
    if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)):
        raise TypeError(f"{name}: expected X and y to be tensors, got {type(x).__name__} and {type(y).__name__}")
    if x.dim() != 5 or y.dim() != 1 or len(x) != len(y):
        raise ValueError(f"{name}: expected X (N, C, T, V, M) and y (N,), got {tuple(x.shape)} and {tuple(y.shape)}")
    if len(x) == 0:
        raise ValueError(f"{name}: expected at least one sample, got X of shape {tuple(x.shape)}")
    if y.dtype != torch.int64:
        raise ValueError(f"{name}: y must be int64 class indices, got {y.dtype}")
    if bool((y < 0).any()):
        raise ValueError(f"{name}: y must be class indices >= 0, got {int(y.min())}")
    for start in range(0, len(x), 256) if x.is_floating_point() else ():  # in chunks: no mask as large as X
        finite = torch.isfinite(x[start : start + 256]).flatten(1).all(1)
        if not bool(finite.all()):
            raise ValueError(f"{name}: X holds NaN or inf, first in sample {start + int((~finite).nonzero()[0])}")
    return x, y


def _check_labels(y: torch.Tensor, num_classes: int, name: str) -> None:
    """Class indices ``y`` must be below the model's number of outputs."""
    if len(y) and int(y.max()) >= num_classes:
        raise ValueError(
            f"{name}: y holds class {int(y.max())}, but the model has {num_classes} classes (0..{num_classes - 1})"
        )


def _check_train_data(data: Data | Dataset, name: str) -> Data | Dataset:
    """A pair of tensors (checked by :func:`_check_data`), or a non-empty ``Dataset`` of (X (C, T, V, M), y)."""
    if isinstance(data, tuple | list) or not isinstance(data, Dataset):
        return _check_data(data, name)
    if len(data) == 0:
        raise ValueError(f"{name}: expected at least one sample, got an empty {type(data).__name__}")
    item = data[0]
    x = item[0] if isinstance(item, tuple | list) and len(item) == 2 else None
    if not (isinstance(x, torch.Tensor) and x.dim() == 4):
        got = f"X of shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else f"{type(item).__name__}"
        raise ValueError(f"{name}: expected a Dataset of (X (C, T, V, M), y) pairs, got {got}")
    return data


def _check_positive_int(value, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _device_of(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 128, stream: str = "joint") -> torch.Tensor:
    """Logits (N, K) of ``model`` in eval mode on x (N, C, T, V, M), on the CPU.

    In a process group each rank computes the samples ``rank::world`` and every rank gets all rows.
    """
    _check_positive_int(batch_size, "batch_size")
    if len(x) < world_size():
        raise ValueError(f"predict needs at least one sample per process ({world_size()}), got {len(x)}")
    transform, device = stream_transform(stream), _device_of(model)
    was_training = model.training
    model.eval()
    mine = x[rank() :: world_size()]
    rows = [model(transform(chunk.to(device))).float() for chunk in mine.split(batch_size)]
    model.train(was_training)
    return gather_rows(torch.cat(rows), len(x)).cpu()


def evaluate(model: nn.Module, data: Data, batch_size: int = 128, stream: str = "joint") -> dict[str, float]:
    """Mean cross-entropy ``loss`` and ``accuracy`` (fraction correct) of ``model`` in eval mode on (X, y)."""
    return _scores(model, data, batch_size, stream)[0]


def _scores(model: nn.Module, data: Data, batch_size: int, stream: str) -> tuple[dict[str, float], torch.Tensor]:
    """:func:`evaluate`'s loss and accuracy, and the logits (N, K) they come from."""
    x, y = _check_data(data, "data")
    logits = predict(model, x, batch_size, stream)
    _check_labels(y, logits.shape[1], "data")
    loss = nn.functional.cross_entropy(logits, y).item()
    return {"loss": loss, "accuracy": (logits.argmax(1) == y).float().mean().item()}, logits


def _fingerprint(data: Data | Dataset | None) -> str | None:
    """A hash of the data, so a checkpoint is only reused for the data it was trained on.

    A ``Dataset`` hashes itself with its ``fingerprint()`` method; one without it gives None.
    """
    if data is None or isinstance(data, Dataset):
        return data.fingerprint() if hasattr(data, "fingerprint") else None
    digest = hashlib.sha1()
    for tensor in data:
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()


def _architecture(model: nn.Module) -> str:
    """A hash of the state dict's names and shapes: a checkpoint is only reused for the same architecture."""
    layout = [(name, tuple(value.shape)) for name, value in model.state_dict().items()]
    return hashlib.sha1(repr(layout).encode()).hexdigest()


def load_checkpoint(path: str | Path) -> dict:
    """A checkpoint written by :func:`train`, checked: a dict whose ``state_dict`` maps names to tensors."""
    path = Path(path)
    saved = read_torch_file(
        path, "a file written by torch.save holding a dict with a 'state_dict'", label="checkpoint "
    )
    state = saved.get("state_dict") if isinstance(saved, dict) else None
    if not (isinstance(state, dict) and all(isinstance(v, torch.Tensor) for v in state.values())):
        got = type(saved).__name__ if state is None else f"a 'state_dict' of type {type(state).__name__}"
        if isinstance(saved, dict) and state is None:
            got = f"a dict with keys {sorted(map(str, saved))[:5]}"
        raise TypeError(f"checkpoint {path}: expected a dict with a 'state_dict' mapping names to tensors, got {got}")
    return saved


def train(
    model: nn.Module,
    train_data: Data | Dataset,
    test_data: Data | None = None,
    *,
    recipe: str | Recipe = "adamw-onecycle",
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    weight_decay: float | None = None,
    seed: int = 0,
    stream: str = "joint",
    checkpoint: str | Path | None = None,
    progress: bool = True,
    num_threads: int | None = 1,
    amp: bool = False,
) -> TrainResult:
    """Train ``model`` with a :class:`~stviz.train.recipes.Recipe` and cross-entropy, where its parameters live.

    ``train_data``/``test_data``: (X (N, C, T, V, M) joint stream, y (N,) int64); ``train_data`` may also be a
    ``Dataset`` of (X (C, T, V, M), y) items with its own augmentation (see the module's docstring). ``stream``
    (``joint``, ``bone``, ``joint-motion``, ``bone-motion``) is formed from X batch by batch. ``epochs``,
    ``batch_size``, ``lr`` and ``weight_decay`` override the recipe's (the batch size is the global batch). Seeded:
    the same arguments give the same weights. Under ``torchrun`` it runs as one DistributedDataParallel job; rank 0
    alone draws the progress bar and writes the checkpoint. When ``checkpoint`` names an existing file whose config
    (model, recipe, stream, seed, data hash) matches, its weights and history are loaded instead of training;
    otherwise the result is saved there (a ``Dataset`` without ``fingerprint()`` is never matched). ``num_threads``
    sets torch's CPU threads while training (None: leave as is); one thread is the default, since on a shared 2-core
    CPU two spinning threads ran far slower. ``amp``: mixed precision, the forward pass under autocast: float16 with
    gradient scaling on CUDA, bfloat16 on the CPU (no scaling needed: it has float32's range). bfloat16 is fast only
    on CPUs with bfloat16 instructions; elsewhere it is slower than float32.
    """
    train_data = _check_train_data(train_data, "train_data")
    if test_data is not None:
        _check_data(test_data, "test_data")
    for value, name in ((epochs, "epochs"), (batch_size, "batch_size")):
        if value is not None:
            _check_positive_int(value, name)
    stream_transform(stream)  # refuses an unknown stream name before any work
    recipe = get_recipe(recipe)
    recipe = (recipe.scaled(epochs) if epochs is not None else recipe).replace(
        batch_size=batch_size, lr=lr, weight_decay=weight_decay
    )
    device = _device_of(model)
    if amp and device.type not in AMP_DTYPES:
        raise ValueError(f"amp=True needs the model on a device in {sorted(AMP_DTYPES)}, got {device.type}")
    if recipe.batch_size % world_size():
        raise ValueError(
            f"the global batch size must be divisible by the world size {world_size()}, got {recipe.batch_size}"
        )
    config = {
        "model": type(model).__name__,
        "model_config": getattr(model, "config", None),
        "architecture": _architecture(model),
        "recipe": recipe.to_dict(),
        "stream": stream,
        "seed": seed,
        "train_data": _fingerprint(train_data),
        "test_data": _fingerprint(test_data),
    }
    if checkpoint is not None and Path(checkpoint).exists() and config["train_data"] is not None:
        saved = load_checkpoint(checkpoint)
        if saved.get("config") == config:
            model.load_state_dict(saved["state_dict"])
            model.eval()
            scores = saved.get("test_scores")
            return TrainResult(model, saved["history"], saved["test_accuracy"], saved["seconds"], True, recipe, scores)

    previous_threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        result = _fit(model, train_data, test_data, recipe, seed, stream, progress, amp)
    finally:
        torch.set_num_threads(previous_threads)
    if checkpoint is not None and is_main_process():
        Path(checkpoint).parent.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "state_dict": model.state_dict(),
                "config": config,
                "history": result.history,
                "test_accuracy": result.test_accuracy,
                "test_scores": result.test_scores,
                "seconds": result.seconds,
            },
            checkpoint,
        )
    return result


def _fit(model, train_data, test_data, recipe, seed, stream, progress, amp) -> TrainResult:
    """The training loop of :func:`train`."""
    set_seed(seed)
    device, world = _device_of(model), world_size()
    dataset = train_data if isinstance(train_data, Dataset) else TensorDataset(*train_data)
    sampler = DistributedSampler(dataset, num_replicas=world, rank=rank(), shuffle=True, seed=seed)
    loader = DataLoader(dataset, batch_size=recipe.batch_size // world, sampler=sampler)
    optimizer = build_optimizer(model, recipe)
    schedule = build_schedule(optimizer, recipe, len(loader))
    scaler = torch.amp.GradScaler(device.type, enabled=amp and device.type == "cuda")
    transform = stream_transform(stream)
    history: dict[str, list[float]] = {"train_loss": [], "train_accuracy": [], "lr": []}
    test_scores = None  # the last epoch's test logits (N, K)
    if test_data is not None:
        history.update(test_loss=[], test_accuracy=[])
    start = time.perf_counter()
    name = type(model).__name__
    bar = tqdm(range(recipe.epochs), desc=f"training {name}", disable=not (progress and is_main_process()), leave=False)
    with synchronised_batchnorm(model, device):
        net = model
        if world > 1:
            net = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
        for epoch in bar:
            sampler.set_epoch(epoch)
            if hasattr(dataset, "set_epoch"):
                dataset.set_epoch(epoch)
            model.train()
            history["lr"].append(optimizer.param_groups[0]["lr"])
            totals = torch.zeros(3, dtype=torch.float64)  # loss sum, correct, samples
            for xb, labels in loader:
                xb, yb = transform(xb.to(device)), labels.to(device)
                with torch.autocast(device.type, dtype=AMP_DTYPES.get(device.type), enabled=amp):
                    logits = net(xb)
                    _check_labels(labels, logits.shape[1], "train_data")  # the loader's batch: no device sync
                    loss = nn.functional.cross_entropy(logits.float(), yb)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                schedule.step()
                totals += torch.tensor([loss.item() * len(yb), (logits.argmax(1) == yb).sum().item(), len(yb)])
            if world > 1:
                totals = _sum_over_ranks(totals, device)
            if not math.isfinite(totals[0].item()):  # summed over the ranks: every rank stops here together
                raise FloatingPointError(
                    f"training {name}: the loss is {totals[0].item()} in epoch {epoch}: the learning rate may be too "
                    f"high for this model (recipe {recipe.name!r}, lr {recipe.lr})"
                )
            history["train_loss"].append(totals[0].item() / totals[2].item())
            history["train_accuracy"].append(totals[1].item() / totals[2].item())
            if test_data is not None:
                scores, test_scores = _scores(model, test_data, 128, stream)
                history["test_loss"].append(scores["loss"])
                history["test_accuracy"].append(scores["accuracy"])
            bar.set_postfix({k: f"{v[-1]:.3f}" for k, v in history.items() if k != "lr"})
    seconds = time.perf_counter() - start
    model.eval()
    test_accuracy = history["test_accuracy"][-1] if test_data is not None else None
    return TrainResult(model, history, test_accuracy, seconds, False, recipe, test_scores)


def _sum_over_ranks(values: torch.Tensor, device: torch.device) -> torch.Tensor:
    """All-reduce (sum) a small CPU tensor, through ``device`` (NCCL needs CUDA tensors)."""
    moved = values.to(device)
    torch.distributed.all_reduce(moved)
    return moved.cpu()
