"""The ``tuner`` command line: parse, call, print. Bad input exits 2 with one line.

One module per command group; importing this package registers them all on ``main``.
"""

from tuner.cli import (  # noqa: F401 - importing registers the commands
    check_commands,
    ratchet_commands,
    sensitivity_commands,
    study_commands,
    view_commands,
    world_commands,
)
from tuner.cli.app import main

__all__ = ["main"]
