"""Bad inputs to the trainer, the ensemble and the zoo: each is refused with a message naming expected and got."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stviz import zoo
from stviz.baselines import TinyGCN
from stviz.ensemble import load_scores
from stviz.ensemble import main as ensemble_main
from stviz.train import Recipe, evaluate, load_checkpoint, train
from stviz.train.cli import main
from stviz.train.models import build_family_model

GOOD = ["--model", "tiny-gcn", "--samples", "24", "--frames", "8", "--epochs", "1", "--no-progress"]


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--epochs", "0", "argument --epochs: expected a positive integer, got 0"),
        ("--epochs", "-3", "argument --epochs: expected a positive integer, got -3"),
        ("--epochs", "ten", "argument --epochs: expected a positive integer, got 'ten'"),
        ("--samples", "5", "argument --samples: expected an integer >= 24 (two per class), got 5"),
        ("--samples", "1e3", "argument --samples: expected an integer >= 24 (two per class), got '1e3'"),
        ("--batch-size", "0", "argument --batch-size: expected a positive integer, got 0"),
        ("--batch-size", "2.5", "argument --batch-size: expected a positive integer, got '2.5'"),
        ("--width", "0", "argument --width: expected a positive integer, got 0"),
        ("--frames", "0", "argument --frames: expected a positive integer, got 0"),
        ("--frames", "-8", "argument --frames: expected a positive integer, got -8"),
        ("--lr", "-0.1", "argument --lr: expected a positive number, got -0.1"),
        ("--lr", "nan", "argument --lr: expected a positive number, got nan"),
        ("--weight-decay", "-1", "argument --weight-decay: expected a number >= 0, got -1.0"),
        ("--test-fraction", "1.5", "argument --test-fraction: expected a number between 0 and 1 (exclusive), got 1.5"),
        ("--threads", "0", "argument --threads: expected a positive integer, got 0"),
        ("--p-interval", "1.5", "argument --p-interval: expected a number in (0, 1], got 1.5"),
    ],
)
def test_command_line_refuses_bad_values(flag, value, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*GOOD, flag, value])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "msg3d", "--width", "8"], "argument --width: msg3d: width must be a multiple of 6"),
        (
            ["--model", "efficientgcn-b0", "--width", "6"],
            "width must be a multiple of 4 (its attention reduction), got 6",
        ),
        (["--model", "shiftgcn", "--frames", "2"], "argument --frames: expected at least 4 for shiftgcn, got 2"),
        (
            ["--p-interval", "0.5", "1.0"],
            "arguments --p-interval and --random-rot: expected with --data FILE.npz, got --data synthetic",
        ),
        (
            ["--random-rot"],
            "arguments --p-interval and --random-rot: expected with --data FILE.npz, got --data synthetic",
        ),
        (["--model", "resnet"], "argument --model: invalid choice: 'resnet'"),
        (["--stream", "velocity"], "argument --stream: invalid choice: 'velocity'"),
    ],
)
def test_command_line_refuses_bad_combinations(argv, message, capsys):
    with pytest.raises(SystemExit):
        main([*GOOD, *argv])
    assert message in capsys.readouterr().err


def test_missing_data_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"--data: expected 'synthetic' or an existing .npz file, got '.*nope"):
        main([*GOOD, "--data", str(tmp_path / "nope.npz")])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--p-interval", "0.9", "0.5"],
            "argument --p-interval: expected P or LOW HIGH with LOW <= HIGH, got [0.9, 0.5]",
        ),
        (["--p-interval", "0.5", "0.7", "0.9"], "expected P or LOW HIGH with LOW <= HIGH, got [0.5, 0.7, 0.9]"),
        (["--seed", "-1"], "argument --seed: expected an integer >= 0 with an .npz file, got -1"),
    ],
)
def test_command_line_refuses_bad_npz_augmentation(tmp_path, argv, message, capsys):
    path = tmp_path / "ntu.npz"
    x = np.ones((4, 6, 150), dtype=np.float32)
    np.savez(path, x_train=x, y_train=np.eye(2)[[0, 1, 0, 1]], x_test=x, y_test=np.eye(2)[[0, 1, 0, 1]])
    with pytest.raises(SystemExit):
        main([*GOOD, "--data", str(path), *argv])
    assert message in capsys.readouterr().err


def test_asking_for_cuda_without_a_gpu_is_named():
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    with pytest.raises(ValueError, match=r"device 'cuda' asked for CUDA, but torch.cuda.is_available\(\) is False"):
        main([*GOOD, "--device", "cuda", "--amp"])


@pytest.fixture
def data():
    return torch.randn(8, 3, 8, 25, 1), torch.arange(8) % 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "epochs must be a positive integer, got 0"),
        ({"epochs": 2.5}, "epochs must be a positive integer, got 2.5"),
        ({"batch_size": -4}, "batch_size must be a positive integer, got -4"),
        ({"batch_size": True}, "batch_size must be a positive integer, got True"),
        ({"recipe": "adam"}, r"unknown recipe 'adam'; expected one of \["),
        ({"lr": -1.0}, "lr must be a positive finite number, got -1.0"),
    ],
)
def test_train_refuses_bad_arguments(data, kwargs, message):
    with pytest.raises(ValueError, match=message):
        train(TinyGCN(2), data, **{"epochs": 1, "progress": False, **kwargs})


def test_train_and_evaluate_refuse_data_that_would_give_nan_or_an_index_error(data):
    x, y = data
    bad = x.clone()
    bad[5, 0, 3, 2, 0] = float("nan")
    with pytest.raises(ValueError, match=r"train_data: X holds NaN or inf, first in sample 5"):
        train(TinyGCN(2), (bad, y), epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"train_data: y holds class 2, but the model has 2 classes \(0..1\)"):
        train(TinyGCN(2), (x, y + 1), epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"test_data: y must be class indices >= 0, got -1"):
        train(TinyGCN(2), data, (x, y - 1), epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"data: y holds class 3, but the model has 2 classes"):
        evaluate(TinyGCN(2), (x, y + 2))


class _Diverging(torch.nn.Module):
    """Logits that overflow to inf: a model whose training loss is not finite."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(1e38))

    def forward(self, x):
        return x.flatten(1)[:, :2] * self.scale * 1e38


def test_train_stops_at_a_loss_that_is_not_finite(data):
    with pytest.raises(FloatingPointError, match=r"training _Diverging: the loss is (nan|inf) in epoch 0"):
        train(_Diverging(), data, epochs=1, progress=False)


def test_train_refuses_amp_off_cpu_and_cuda_and_a_batch_split_it_cannot_make(data):
    with pytest.raises(ValueError, match=r"amp=True needs the model on a device in \['cpu', 'cuda'\], got meta"):
        train(TinyGCN(2).to("meta"), data, epochs=1, amp=True, progress=False)
    with pytest.raises(ValueError, match="warmup_epochs must be in \\[0, epochs=3\\), got 3"):
        Recipe("x", epochs=3, warmup_epochs=3)


@pytest.mark.parametrize(
    ("content", "error", "message"),
    [
        (torch.zeros(3), TypeError, "expected a dict with a 'state_dict' mapping names to tensors, got Tensor"),
        (
            {"weights": torch.zeros(3)},
            TypeError,
            r"expected a dict with a 'state_dict' .*got a dict with keys \['weights'\]",
        ),
        ({"state_dict": [1, 2]}, TypeError, "got a 'state_dict' of type list"),
        ({"state_dict": {"w": "text"}}, TypeError, "expected a dict with a 'state_dict' mapping names to tensors"),
    ],
)
def test_checkpoint_that_is_not_a_state_dict_is_named(tmp_path, data, content, error, message):
    path = tmp_path / "bad.pt"
    torch.save(content, path)
    with pytest.raises(error, match=message):
        train(TinyGCN(2), data, epochs=1, checkpoint=path, progress=False)
    with pytest.raises(error, match=str(path).replace(".", r"\.")):
        load_checkpoint(path)


def test_checkpoint_that_is_not_a_torch_file_is_named(tmp_path, data):
    path = tmp_path / "notes.pt"
    path.write_text("not a checkpoint\n")
    with pytest.raises(ValueError, match=r"notes\.pt: expected a file written by torch\.save .* could not be read"):
        train(TinyGCN(2), data, epochs=1, checkpoint=path, progress=False)


def test_family_widths_and_names_are_checked():
    with pytest.raises(ValueError, match="width must be a positive integer, got 0"):
        build_family_model("ctrgcn", 12, width=0)
    with pytest.raises(ValueError, match=r"unknown model 'agcn'; expected one of \['stgcn'"):
        build_family_model("agcn", 12)


def test_ensemble_and_zoo_name_what_they_expected(tmp_path, capsys):
    path = tmp_path / "scores.pt"
    torch.save({"scores": torch.zeros(2, 3)}, path)
    with pytest.raises(ValueError, match=r"expected a dict with keys \['labels', 'scores', 'stream'\], got keys"):
        load_scores(path)
    with pytest.raises(SystemExit):
        ensemble_main([str(path), str(path), "--weights", "1"])
    assert "argument --weights: expected 2 values (one per file), got 1" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"unknown zoo model 'alexnet'; expected one of \['stgcn'"):
        zoo.load("alexnet")
