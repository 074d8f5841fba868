"""The bank registry: which confirmation banks a storage has spent, and a fresh one per claim.

Why: alpha is counted per run, but a bank is spent across runs. A bank every run confirms on
(the old fixed base seed 20270101) is seen again and again: the design is changed between
runs, reruns of the maintainers' loop confirm there, and a value that happens to win on those
particular scenarios keeps winning. So every run that confirms draws a bank no earlier claim
drew, and records which one; a run asked to confirm on a spent bank refuses unless told to.

The registry lives in the Optuna storage itself (SQLite, PostgreSQL or the Redis journal: it
travels with the studies), as a study named ``tuner:banks`` holding **one trial per claim**.
The storage numbers trials atomically (an RDB locks the study row while it numbers a new
trial; the journal numbers them in log order), so the claim's trial number ``k`` is unique even
when two processes claim at once, and a fresh claim's base seed derives from it alone:
``CONFIRMATION_BASE_SEED + (k + 1) * BANK_STEP``. Two concurrent runs never get the same seed,
and a run is reproducible given the storage. The trial's user attrs say who claimed it
(command, time, purpose, the run's constants and settings). Every claim counts as spent,
whatever became of its run: a claim is never given back (an interrupted ratchet keeps its
claim in its ledger and resumes on it).

An explicit base seed (``--confirm-base-seed S``) is claimed the same way, its trial carrying
``explicit_seed``; when an earlier claim (a lower trial number) holds S, the run refuses
(``BankSpentError``, its own claim withdrawn) unless it was told to reuse the bank, and then
the claim says ``reused``. The old fixed bank counts as spent by every run before the registry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner.defaults import CONFIRMATION_BASE_SEED

REGISTRY_STUDY = "tuner:banks"
BANK_STEP = 1_000_003  # a prime: fresh base seeds never meet the old fixed one, nor each other
MAX_SKIPS = 100  # fresh claims in a row that may land on a seed to avoid (one is the rule)
LEGACY = {CONFIRMATION_BASE_SEED: "the fixed confirmation bank of every run before the bank "
                                  "registry"}


class BankSpentError(ValueError):
    """An explicitly asked-for bank was spent by an earlier claim; one line saying by whom."""


@dataclass(frozen=True)
class BankClaim:
    """One claim of the registry: the base seed, its claim number, and who claimed it (the
    registry also keeps when; the claim leaves it out, so a run's output is reproducible)."""

    base_seed: int
    index: int  # the registry trial's number (-1: a bank of the old design, no claim)
    purpose: str  # "confirmation" | "replication"
    command: str = ""
    explicit: bool = False  # asked for by --confirm-base-seed rather than drawn fresh
    reused: bool = False  # an explicit bank an earlier claim had spent (--reuse-bank)
    spent_by: dict = field(default_factory=dict)  # reused: the earlier claim

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BankClaim:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    def text(self) -> str:
        """One phrase for a summary: the seed and how it was drawn."""
        how = "asked for" if self.explicit else f"fresh claim #{self.index}"
        if self.reused:
            by = self.spent_by.get("command") or "an earlier run"
            return f"{self.base_seed} ({how}; REUSED a bank spent by {by}, --reuse-bank)"
        return f"{self.base_seed} ({how})"


def fresh_seed(index: int) -> int:
    """The base seed of fresh claim number ``index``: a pure function of the claim order."""
    return CONFIRMATION_BASE_SEED + (index + 1) * BANK_STEP


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class BankRegistry:
    """The ``tuner:banks`` study of one storage: every claim, and new ones."""

    def __init__(self, storage: str | optuna.storages.BaseStorage) -> None:
        if isinstance(storage, str):
            from tuner.studies.storage import open_storage

            if storage.startswith("sqlite:///"):  # like study.ensure_sqlite_dir (no popoto)
                Path(storage[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
            storage = open_storage(storage)
        self.study = optuna.create_study(study_name=REGISTRY_STUDY, storage=storage,
                                         load_if_exists=True)

    # ---------------------------------------------------------------- reading

    def claims(self) -> list[dict]:
        """Every claim in claim order, each with its ``base_seed`` and ``index``."""
        trials = sorted(self.study.get_trials(deepcopy=False), key=lambda t: t.number)
        return [_claim_of(t) for t in trials]

    def spender(self, seed: int, *, before: int | None = None) -> dict | None:
        """The first claim that spent ``seed`` (withdrawn and skipped claims spend nothing),
        among claims numbered below ``before`` when given; the old fixed bank's record for it."""
        for claim in self.claims():
            if before is not None and claim["index"] >= before:
                break
            if claim["base_seed"] == seed and not claim.get("withdrawn") \
                    and not claim.get("skipped"):
                return claim
        if seed in LEGACY:
            return {"index": -1, "base_seed": seed, "command": LEGACY[seed], "time": ""}
        return None

    def spent(self) -> dict[int, dict]:
        """Every spent base seed and the claim that spent it first."""
        seeds = {c["base_seed"] for c in self.claims()} | set(LEGACY)
        found = {s: self.spender(s) for s in sorted(seeds)}
        return {s: c for s, c in found.items() if c is not None}

    def refuse_if_spent(self, seed: int) -> None:
        """Raise ``BankSpentError`` when ``seed`` was spent (a fail-fast check before a run)."""
        earlier = self.spender(seed)
        if earlier is not None:
            raise BankSpentError(spent_message(seed, earlier))

    # ---------------------------------------------------------------- claiming

    def claim(self, *, purpose: str, command: str, run: Mapping[str, Any] | None = None,
              avoid: Collection[int] = ()) -> BankClaim:
        """A fresh bank: the next claim number's seed (skipping seeds in ``avoid`` or spent)."""
        for _ in range(MAX_SKIPS):
            trial_id, number = self._open(purpose, command, run, None, False)
            seed = fresh_seed(number)
            earlier = self.spender(seed, before=number)
            if seed in avoid or earlier is not None:
                why = "a bank to avoid" if seed in avoid else "spent by an explicit claim"
                self._close(trial_id, seed, skipped=why)
                continue
            self._close(trial_id, seed)
            return BankClaim(seed, number, purpose, command)
        raise RuntimeError(f"no fresh bank after {MAX_SKIPS} claims; the registry "
                           f"{REGISTRY_STUDY} is inconsistent")

    def claim_explicit(self, seed: int, *, purpose: str, command: str,
                       run: Mapping[str, Any] | None = None, reuse: bool = False) -> BankClaim:
        """Claim ``seed`` as asked; refuse a spent one unless ``reuse`` (then say so)."""
        if not reuse:
            self.refuse_if_spent(seed)
        trial_id, number = self._open(purpose, command, run, seed, reuse)
        earlier = self.spender(seed, before=number)
        if earlier is not None and not reuse:  # another run claimed it meanwhile
            self._close(trial_id, seed, withdrawn=True)
            raise BankSpentError(spent_message(seed, earlier))
        self._close(trial_id, seed)
        return BankClaim(seed, number, purpose, command, explicit=True,
                         reused=earlier is not None, spent_by=_brief(earlier))

    def _open(self, purpose: str, command: str, run: Mapping[str, Any] | None,
              explicit: int | None, reuse: bool) -> tuple[int, int]:
        """Create the claim's trial with its attrs in one storage operation; its number."""
        attrs = {"purpose": purpose, "command": command, "time": _now(),
                 "run": dict(run or {}), "reuse": reuse}
        if explicit is not None:
            attrs["explicit_seed"] = int(explicit)
        template = FrozenTrial(number=0, state=TrialState.RUNNING, value=None,
                               datetime_start=dt.datetime.now(), datetime_complete=None,
                               params={}, distributions={}, user_attrs=attrs, system_attrs={},
                               intermediate_values={}, trial_id=0)
        storage = self.study._storage
        trial_id = storage.create_new_trial(self.study._study_id, template_trial=template)
        return trial_id, storage.get_trial_number_from_id(trial_id)

    def _close(self, trial_id: int, seed: int, *, skipped: str | None = None,
               withdrawn: bool = False) -> None:
        storage = self.study._storage
        storage.set_trial_user_attr(trial_id, "seed", seed)
        if skipped:
            storage.set_trial_user_attr(trial_id, "skipped", skipped)
        if withdrawn:
            storage.set_trial_user_attr(trial_id, "withdrawn", True)
        storage.set_trial_state_values(trial_id, TrialState.COMPLETE, values=[float(seed)])


def _claim_of(trial: FrozenTrial) -> dict:
    attrs = trial.user_attrs
    explicit = attrs.get("explicit_seed")
    seed = int(explicit) if explicit is not None else fresh_seed(trial.number)
    return {**{k: v for k, v in attrs.items() if k != "seed"}, "index": trial.number,
            "base_seed": seed, "explicit": explicit is not None}


def _brief(claim: Mapping[str, Any] | None) -> dict:
    if not claim:
        return {}
    return {k: claim.get(k) for k in ("index", "command", "purpose")}


def spent_message(seed: int, earlier: Mapping[str, Any]) -> str:
    """The one line a refused run prints."""
    if earlier.get("index", -1) < 0:
        by = str(earlier.get("command"))
    else:
        by = (f"claim #{earlier['index']} ({earlier.get('purpose', 'confirmation')} of "
              f"`tuner {earlier.get('command') or '?'}` at {earlier.get('time') or '?'})")
    return (f"the confirmation bank {seed} is already spent in this storage, by {by}; leave "
            "out --confirm-base-seed to claim a fresh bank, or pass --reuse-bank to confirm "
            "on it anyway (the summary and ledger will say so)")


__all__ = ["BANK_STEP", "REGISTRY_STUDY", "BankClaim", "BankRegistry", "BankSpentError",
           "fresh_seed", "spent_message"]
