"""Serve optuna-dashboard over the study storage, loopback by default.

What a user sees there: every study, each trial's user attrs (sampled seeds, per-scenario
nDCG@5 and Spearman rho), the validation/gate note on each validated study, and the exported
patch as an artifact of the ratchet ledger study.
"""

from __future__ import annotations

import socket
from pathlib import Path

from tuner.export.proposals import artifact_dir_for

LOOPBACK = "127.0.0.1"


class DashboardError(RuntimeError):
    """The dashboard cannot start; the message says why."""


def check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise DashboardError(f"cannot listen on {host}:{port}: {exc.strerror}; "
                                 "pass another --host or --port") from None


def check_storage(storage: str) -> None:
    """A missing SQLite file would be created empty; refuse instead."""
    prefix = "sqlite:///"
    if storage.startswith(prefix) and not Path(storage[len(prefix):]).exists():
        raise DashboardError(f"no study database at {storage[len(prefix):]}; run "
                             "`tuner optimize` first")


def serve_dashboard(storage: str, *, host: str = LOOPBACK, port: int = 8080,
                    artifact_dir: str | None = None) -> None:
    """Block serving optuna-dashboard until interrupted."""
    import optuna
    from optuna_dashboard import run_server

    from tuner.studies.storage import is_journal, open_storage

    check_storage(storage)
    check_port_free(host, port)
    store_dir = artifact_dir_for(storage, artifact_dir)
    store_dir.mkdir(parents=True, exist_ok=True)
    store = optuna.artifacts.FileSystemArtifactStore(str(store_dir))
    run_server(open_storage(storage, heartbeat=False) if is_journal(storage) else storage,
               host=host, port=port, artifact_store=store)  # a journal's ?prefix= is tuner's
