"""A study's contract: everything that gives its trials their meaning, checked on every resume.

A study's identity (constant, seed, batch, bank) says *which* study it is; its contract says what
its numbers mean. Trials scored under popoto 1.10.1, a range of [0.01, 2.0], this scenario harness
and mean nDCG@5 are not comparable with trials scored under anything else, so a resume that
would mix them is refused (exit 2, naming what changed) instead of silently producing a study
whose best trial compares apples with pears. Another ``--study-name`` starts fresh.

The catalog entry is kept in canonical form (all of the Constant's dataclass fields, so fields
added later are covered without touching this module) and reported field by field.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from tuner.evaluation.fingerprint import harness_hash, popoto_version

CONTRACT_ATTR = "contract"
# Documentation only: rewording where a value is read, or why a constant is unreachable, does
# not change what any trial measured.
DESCRIPTIVE_FIELDS = frozenset({"owner", "reason"})


class ContractDriftError(ValueError):
    """Resuming would mix trials of different meaning; the message names every change."""


def study_contract(constant: Any) -> dict[str, Any]:
    """The contract of a study of ``constant`` as the code and catalog stand now."""
    from scenarios.runner import DEFAULT_K

    entry = catalog_entry(constant)
    return {
        "popoto": popoto_version(),
        "catalog_entry": entry,
        "catalog_hash": digest(entry),
        "harness": harness_hash(),
        "metric": family_metrics(constant),
        "k": DEFAULT_K,
    }


def family_metrics(constant: Any) -> str:
    """The metric each reached family scores with, e.g. ``decay:ndcg,policy_cache:signed_ndcg``.

    The objective is their equal-weight mean, so changing any of them changes what trials mean.
    """
    from scenarios.runner import family_metric

    return ",".join(f"{f}:{family_metric(f)}" for f in constant.reached_families)


def catalog_entry(constant: Any) -> dict[str, Any]:
    """Every dataclass field of the Constant that bears on the trials, JSON-canonical."""
    fields = {f.name: getattr(constant, f.name) for f in dataclasses.fields(constant)
              if f.name not in DESCRIPTIVE_FIELDS}
    return json.loads(json.dumps(fields, sort_keys=True, default=str))


def digest(value: object) -> str:
    canonical = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def contract_changes(stored: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """What differs between a study's stored contract and the current one, in words."""
    changes = []
    if stored.get("popoto") != current["popoto"]:
        changes.append(f"popoto {stored.get('popoto')} -> {current['popoto']}")
    if stored.get("catalog_hash") != current["catalog_hash"]:
        changes.extend(entry_changes(stored.get("catalog_entry") or {},
                                     current["catalog_entry"]))
    if stored.get("harness") != current["harness"]:
        changes.append(f"scenario harness (scenarios/ sources) {stored.get('harness')} -> "
                       f"{current['harness']}")
    if (stored.get("metric"), stored.get("k")) != (current["metric"], current["k"]):
        changes.append(f"metric {stored.get('metric')}@{stored.get('k')} -> "
                       f"{current['metric']}@{current['k']}")
    return changes


def entry_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Catalog field changes; low and high read together as the range."""
    changes = []
    if (old.get("low"), old.get("high")) != (new.get("low"), new.get("high")):
        changes.append(f"range [{old.get('low')}, {old.get('high')}] -> "
                       f"[{new.get('low')}, {new.get('high')}]")
    for key in sorted((set(old) | set(new)) - {"low", "high"}):
        if old.get(key) != new.get(key):
            changes.append(f"{key} {old.get(key)!r} -> {new.get(key)!r}")
    return changes or ["catalog entry (same fields, different hash)"]


def check_contract(study: Any, constant: Any) -> dict[str, Any]:
    """Record the contract on a new study; on a resumed one, refuse any drift.

    A study made before contracts existed adopts the current one: its trials cannot be checked
    retroactively, and refusing every old study would strand them.
    """
    current = study_contract(constant)
    stored = study.user_attrs.get(CONTRACT_ATTR)
    if not stored:
        study.set_user_attr(CONTRACT_ATTR, current)
        return current
    changes = contract_changes(stored, current)
    if changes:
        raise ContractDriftError(
            f"study {study.study_name!r} was run under another contract: "
            f"{'; '.join(changes)}; its trials would not be comparable, so it is not resumed "
            "(pass another --study-name to start a fresh study)")
    return current


def contract_text(contract: Mapping[str, Any] | None) -> str:
    """One line for the report and the dashboard note."""
    if not contract:
        return "contract: not recorded (study made before contracts)"
    entry = contract.get("catalog_entry") or {}
    return (f"contract: popoto {contract.get('popoto')}, {contract.get('metric')}@"
            f"{contract.get('k')}, range [{entry.get('low')}, {entry.get('high')}], "
            f"family {entry.get('family')}, catalog entry {contract.get('catalog_hash')}, "
            f"harness {contract.get('harness')}")
