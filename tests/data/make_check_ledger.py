"""Writes ``check-ledger.json``: a ledger in the shape a full ratchet writes, with the cases
that broke ``tuner check`` on real ledgers (issue 23).

- ``ACTED_CONFIDENCE_SIGNAL``: the held-out proposal 0.6837 is also a grid value (listed twice,
  with two different bounds);
- ``MIN_EVENTS_FOR_CRYSTALLIZATION``: an int constant, its proposal 4 repeated as the float 4.0
  of the grid, a zero-variance point (bound == mean == 0.0) and a point bounded at Infinity (one
  scenario: no variance estimate, as ``certificate.upper_bound`` writes it);
- ``CHI_SQUARED_P_THRESHOLD``: a collapsed study (its certificate lists the reference too);
- ``WILSON_CI_THRESHOLD``: accepted, confirmed by the joint record;
- ``TD_GAMMA``: rejected without a certificate (the decision stands);
- keys a later tuner adds (``robustness``, ``replication``, a bank seed) that this one ignores.

Run ``python tests/data/make_check_ledger.py`` to rewrite it; the numbers are made up but in
the ranges a full ``--tier all`` run writes.
"""

from __future__ import annotations

import json
from pathlib import Path


def value(v: float, mean: float, bound: float, n: int, source: str, sd: dict) -> dict:
    return {"value": v, "mean": mean, "bound": bound, "n": n, "source": source,
            "sd_by_family": sd}


def certificate(constant: str, incumbent: float, low: float, high: float,
                families: list[str], values: list[dict], *, collapsed: bool = False) -> dict:
    bound = max(v["bound"] for v in values)
    return {"constant": constant, "incumbent": incumbent, "low": low, "high": high,
            "bound": bound, "confidence": 0.95, "level_each": 0.000357, "families": families,
            "values": values, "collapsed": collapsed, "narrow_with": None, "target": 0.01,
            "text": f"no value of the {len(values)} looked at beats {incumbent} by more than "
                    f"{max(bound, 0.0):.4f}"}


def record(constant: str, attr: str | None, default: float, *, proposal: float | None,
           decision: str, reason: str, families: dict, cert: dict | None = None,
           **more: object) -> dict:
    return {"constant": constant, "attr": attr, "default": default, "proposal": proposal,
            "decision": decision, "reason": reason, "detail": reason,
            "train_delta": 0.004, "validation_delta": 0.001, "ci_low": -0.006,
            "ci_high": 0.008, "trials": 11, "validation_scenarios": 200,
            "study_name": f"tuner-{constant}@b0n800", "date": "2026-12-06",
            "extra": {"margin_from": "train", "bound_from": None, "cliff": None,
                      "p_value": 0.41, "alpha": 0.05, "families": families,
                      "train_families": families, "screen": None, "confirmation": None,
                      "stage_families": families, "cost": {"scenarios": 1234}},
            "incumbent": default, "popoto_default": default, "certificate": cert, **more}


def ledger() -> dict:
    acted = certificate("ACTED_CONFIDENCE_SIGNAL", 0.9, 0.5, 0.99,
                        ["confidence", "context_assembler", "cyclic", "prediction_ledger"], [
                            value(0.5, -0.031, 0.004, 800, "train grid", {"confidence": 0.08}),
                            value(0.6837, -0.012, 0.011, 800, "train grid",
                                  {"confidence": 0.06}),
                            value(0.99, -0.002, 0.006, 800, "train grid", {"confidence": 0.03}),
                            value(0.6837, -0.009, 0.019, 200, "held-out", {"confidence": 0.06}),
                        ])
    events = certificate("MIN_EVENTS_FOR_CRYSTALLIZATION", 3, 1.0, 10.0, ["policy_cache"], [
        value(1, 0.0, 0.0, 800, "train grid", {"policy_cache": 0.0}),
        value(4.0, -0.004, 0.002, 800, "train grid", {"policy_cache": 0.01}),
        value(10, 0.02, 0.06, 800, "train grid", {"policy_cache": 0.04}),
        value(4, -0.003, 0.008, 200, "held-out", {"policy_cache": 0.01}),
        value(7, 0.0, float("inf"), 1, "held-out", {}),
    ])
    chi = certificate("CHI_SQUARED_P_THRESHOLD", 0.05, 0.001, 0.2, ["policy_cache"], [
        value(0.001, 0.0, 0.0, 800, "train grid", {"policy_cache": 0.0}),
        value(0.05, 0.0, 0.0, 800, "train grid", {"policy_cache": 0.0}),
        value(0.2, 0.0, 0.0, 800, "train grid", {"policy_cache": 0.0}),
    ], collapsed=True)
    records = [
        record("ACTED_CONFIDENCE_SIGNAL", "ACTED_CONFIDENCE_SIGNAL", 0.9, proposal=0.6837,
               decision="REJECT", reason="not significant", cert=acted,
               families={"confidence": -0.01, "context_assembler": 0.0, "cyclic": 0.002,
                         "prediction_ledger": 0.0},
               robustness={"0.6837": {"worst": -0.02}}),
        record("MIN_EVENTS_FOR_CRYSTALLIZATION", "MIN_EVENTS_FOR_CRYSTALLIZATION", 3,
               proposal=4, decision="REJECT", reason="no validation improvement", cert=events,
               families={"policy_cache": -0.003}, replication={"seed": 7}),
        record("CHI_SQUARED_P_THRESHOLD", "CHI_SQUARED_P_THRESHOLD", 0.05, proposal=None,
               decision="REJECT", reason="no sensitivity", cert=chi, families={}),
        record("WILSON_CI_THRESHOLD", "WILSON_CI_THRESHOLD", 0.6, proposal=0.45,
               decision="ACCEPT", reason="accepted", families={"policy_cache": 0.03}),
        record("TD_GAMMA", "TD_GAMMA", 0.95, proposal=0.97, decision="REJECT",
               reason="not significant", families={"policy_cache": 0.001}),
    ]
    joint = {"mean": 0.03, "ci_low": 0.01, "ci_high": 0.05, "p_value": 0.001, "n": 800,
             "ready": True, "bank": "b20270101n800", "confirmation": True,
             "constants": {"WILSON_CI_THRESHOLD": 0.45}, "incumbent": {},
             "families": {"policy_cache": 0.03}, "regressions": [], "margin": 0.02,
             "drop": None, "leave_one_out": {},
             "alone": {"WILSON_CI_THRESHOLD": {"families": {"policy_cache": 0.03}}},
             "bank_seed": 20270101, "errors": []}
    return {"format": "tuner-ledger", "version": 1, "exported": "2026-12-06",
            "popoto": "1.10.1", "bank": "b0n800", "source": "hand-made (make_check_ledger.py)",
            "records": records, "joint": joint}


if __name__ == "__main__":
    out = Path(__file__).with_name("check-ledger.json")
    out.write_text(json.dumps(ledger(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {out}")
