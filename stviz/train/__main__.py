"""``python -m stviz.train``: see :mod:`stviz.train.cli`."""

from stviz.train.cli import main

main()
