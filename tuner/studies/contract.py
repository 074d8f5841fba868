"""A study's contract: everything that gives its trials their meaning, checked on every resume.

A study's identity (constant, seed, batch, bank) says *which* study it is; its contract says what
its numbers mean. Trials scored under one popoto (its version, every ``Defaults`` number, the
frozen default arguments the catalog tunes, the source of every popoto module), a range of
[0.01, 2.0], this scenario harness and override code and mean nDCG@5 are not comparable with
trials scored under anything else, so a resume that would mix them is refused (exit 2, naming
what changed, e.g. "popoto default WILSON_CI_THRESHOLD 0.6 -> 0.8; popoto source changed:
fields/constants.py") instead of silently producing a study whose best trial compares apples
with pears. Another ``--study-name`` starts fresh.

The catalog entry is kept in canonical form (all of the Constant's dataclass fields, so fields
added later are covered without touching this module) and reported field by field. Keys of the
contract itself are compared the same way: a key this module does not know (a later tuner's,
e.g. the incumbent values of a deployment) is reported by its name, with no code here.

A deployment profile (``tuner.catalog.profile``: family weights and world knobs) changes what a
trial means, so a non-default one is part of the contract (``profile``) and a resume under
another profile is refused, naming each weight and knob that differs. The default profile adds
no key, so a default study's contract is what it was before profiles existed.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from tuner.catalog.profile import Profile, active_profile, describe_profile, profile_changes
from tuner.evaluation.fingerprint import (
    argument_defaults,
    digest,
    harness_hash,
    override_hash,
    popoto_defaults,
    popoto_source,
    popoto_version,
    source_changes,
    value_changes,
)

CONTRACT_ATTR = "contract"
# Documentation only: rewording where a value is read, or why a constant is unreachable, does
# not change what any trial measured.
DESCRIPTIVE_FIELDS = frozenset({"owner", "reason"})


class ContractDriftError(ValueError):
    """Resuming would mix trials of different meaning; the message names every change."""


def evaluation_contract(arguments_of: tuple[Any, ...] = ()) -> dict[str, Any]:
    """What every score depends on besides the values applied: popoto's state and tuner's code.

    ``arguments_of``: catalog constants whose frozen default argument is recorded by name (the
    source hash covers them too; naming them makes a change readable). Grid studies (sweeps,
    sensitivity) record this; a tuning study adds its catalog entry and metric.
    """
    return {
        "popoto": popoto_version(),
        "popoto_defaults": popoto_defaults(),
        "popoto_arguments": argument_defaults(arguments_of),
        "popoto_source": popoto_source(),
        "harness": harness_hash(),
        "overrides": override_hash(),
    }


def study_contract(constant: Any, incumbent: Mapping[str, float] | None = None, *,
                   profile: Profile | None = None) -> dict[str, Any]:
    """The contract of a study of ``constant`` as the code, catalog and popoto stand now,
    against ``incumbent`` (by constant name: the values every trial is compared with), under
    ``profile`` (default: the active one; recorded only when it is not the default)."""
    from scenarios.runner import DEFAULT_K

    entry = catalog_entry(constant)
    profile = profile or active_profile()
    return {
        **evaluation_contract(_argument_constants(constant)),
        "catalog_entry": entry,
        "catalog_hash": digest(entry),
        "metric": family_metrics(constant),
        "k": DEFAULT_K,
        "incumbent": dict(sorted((incumbent or {}).items())),
        **({} if profile.is_default else {"profile": profile.to_dict()}),
    }


def _argument_constants(constant: Any) -> tuple[Any, ...]:
    """The shipped catalog's argument-only constants (popoto's frozen defaults it tunes), and
    ``constant`` itself when it is one: a fixed list, so the contract is the same in every
    process whatever catalog a command loaded."""
    from tuner.catalog import REPO_CATALOG, load_catalog

    shipped = tuple(c for c in load_catalog(REPO_CATALOG) if c.argument and not c.attr)
    own = (constant,) if constant.argument and not constant.attr else ()
    return shipped + tuple(c for c in own if c.name not in {s.name for s in shipped})


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


def contract_changes(stored: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """What differs between a study's stored contract and the current one, in words.

    Known keys read as sentences; any other key that differs is named generically ("incumbent
    WILSON_CI_THRESHOLD 0.6 -> 0.7" for a dict, "key old -> new" otherwise), and a key the
    stored contract lacks says it was not recorded, so a key added to ``study_contract`` later
    needs no code here.
    """
    changes: list[str] = []
    named = {"popoto", "popoto_defaults", "popoto_arguments", "popoto_source", "catalog_hash",
             "catalog_entry", "harness", "overrides", "metric", "k"}
    unrecorded = sorted(k for k in named if k in current and k not in stored)
    if stored.get("profile") != current.get("profile"):  # absent: the default profile
        changes.extend(f"profile {change}" for change in
                       profile_changes(stored.get("profile"), current.get("profile")))
    named.add("profile")

    def differs(*keys: str) -> bool:
        return any(k in stored and stored.get(k) != current.get(k) for k in keys)

    if differs("popoto"):
        changes.append(f"popoto {stored.get('popoto')} -> {current.get('popoto')}")
    for key, label in (("popoto_defaults", "popoto default"),
                       ("popoto_arguments", "popoto default argument")):
        if differs(key):
            changes.extend(value_changes(label, stored[key] or {}, current.get(key) or {}))
    if differs("popoto_source"):
        changes.extend(source_changes(stored["popoto_source"] or {},
                                      current.get("popoto_source") or {}))
    if differs("catalog_hash", "catalog_entry"):
        changes.extend(entry_changes(stored.get("catalog_entry") or {},
                                     current.get("catalog_entry") or {}))
    if differs("harness"):
        changes.append(f"scenario harness (scenarios/ sources) {stored.get('harness')} -> "
                       f"{current.get('harness')}")
    if differs("overrides"):
        changes.append(f"tuner's override code (tuner/evaluation/overrides.py) "
                       f"{stored.get('overrides')} -> {current.get('overrides')}")
    if differs("metric", "k"):
        changes.append(f"metric {stored.get('metric')}@{stored.get('k')} -> "
                       f"{current.get('metric')}@{current.get('k')}")
    for key in sorted((set(stored) | set(current)) - named):
        if stored.get(key) != current.get(key):
            changes.extend(generic_changes(key, stored, current))
    changes.extend(f"{key} not recorded (the study was made by an older tuner)"
                   for key in unrecorded)
    return changes


def generic_changes(key: str, stored: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """A key this module has no sentence for, named with its old and new value."""
    if key not in stored:
        return [f"{key} not recorded (the study was made by an older tuner)"]
    if key not in current:
        return [f"{key} no longer recorded (was {stored[key]!r})"]
    old, new = stored[key], current[key]
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        return value_changes(key, old, new) or [f"{key} changed"]
    return [f"{key} {old!r} -> {new!r}"]


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


def check_contract(study: Any, constant: Any,
                   incumbent: Mapping[str, float] | None = None, *,
                   profile: Profile | None = None) -> dict[str, Any]:
    """Record the contract on a new study; on a resumed one, refuse any drift.

    A study made before contracts existed adopts the current one: its trials cannot be checked
    retroactively, and refusing every old study would strand them.
    """
    current = study_contract(constant, incumbent, profile=profile)
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
    profile = contract.get("profile")
    where = f", profile {describe_profile(profile)}" if profile else ""
    return (f"contract: popoto {contract.get('popoto')}{where}, {contract.get('metric')}@"
            f"{contract.get('k')}, range [{entry.get('low')}, {entry.get('high')}], "
            f"family {entry.get('family')}, catalog entry {contract.get('catalog_hash')}, "
            f"harness {contract.get('harness')}, popoto source "
            f"{_digest_or_none(contract.get('popoto_source'))}, defaults "
            f"{_digest_or_none(contract.get('popoto_defaults'))}")


def _digest_or_none(value: object) -> str:
    return digest(value) if value is not None else "not recorded"
