"""The ``tuner`` command line: parse, call, print. Bad input exits 2 with one line.

One module per command group; importing this package registers them all on ``main``.
"""

from tuner.cli import ratchet_commands, study_commands, view_commands  # noqa: F401 - registers
from tuner.cli.app import main

__all__ = ["main"]
