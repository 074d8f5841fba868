"""``tuner worlds``: list every family's declared world knobs (name, default, range, meaning)."""

from __future__ import annotations

import click

from tuner.cli.app import main
from tuner.cli.common import emit_json, json_option


@main.command("worlds")
@json_option
def worlds_command(as_json: bool) -> None:
    """List the world knobs: each family's shape constants a profile or robustness may set."""
    from tuner.views.worlds import knob_rows, worlds_table

    rows = knob_rows()
    if as_json:
        emit_json(rows)
        return
    click.echo(worlds_table(rows))
