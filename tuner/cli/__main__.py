"""``python -m tuner.cli``: the same entry point as the ``tuner`` script."""

from tuner.cli import main

main()
