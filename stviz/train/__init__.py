"""The trainer: the originals' recipes, four input streams, one process or a torchrun job.

* :mod:`stviz.train.recipes`      each original's optimiser, schedule, batch size and epochs
* :mod:`stviz.train.loop`         :func:`train`, :func:`evaluate`, :func:`predict`
* :mod:`stviz.train.streams`      joint, bone, joint-motion and bone-motion inputs
* :mod:`stviz.train.distributed`  DistributedDataParallel under ``torchrun`` (gloo on CPU, NCCL on GPUs)

Command line: ``python -m stviz.train --help``.
"""

from stviz.train.loop import TrainResult, evaluate, load_checkpoint, predict, train
from stviz.train.recipes import RECIPES, Recipe, get_recipe
from stviz.train.streams import STREAMS

__all__ = [
    "TrainResult",
    "train",
    "evaluate",
    "predict",
    "load_checkpoint",
    "Recipe",
    "RECIPES",
    "get_recipe",
    "STREAMS",
]
