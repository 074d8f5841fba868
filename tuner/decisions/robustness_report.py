"""How a robustness verdict reads: one summary line, and the study's dashboard note.

The data is ``Robustness.to_dict()`` (``robustness.py``) as the ledger keeps it, so a resumed
ratchet, ``tuner report`` and the exported PR description print the same words.
"""

from __future__ import annotations

from collections.abc import Mapping


def robustness_text(data: Mapping | None) -> str:
    """One line for the summary: robust, or conditional with each knob and crossing."""
    if not data:
        return ""
    rows, cost = data.get("rows", []), f"{data.get('runs', 0)} scenario runs, " \
                                          f"{data.get('seconds', 0):.0f} s"
    outside = "".join(f"; {_outside_text(o)}" for o in data.get("outside") or [])
    if data["verdict"] == "robust":
        return (f"robust: the gain's lower bound stays above -{data['harm_margin']:g} in all "
                f"{len(rows)} world variants ({cost}){outside}")
    parts = []
    for c in data["conditions"]:
        if c.get("knob") and c.get("crossing") is not None:
            parts.append(f"{c['family']}.{c['knob']} beyond {c['crossing']:.3g} "
                         f"(gain {c['estimate']:+.3f} at {c['end']:.3g})")
        elif c.get("why") == "today's world":
            parts.append(f"{c['family']}: not shown to hold even in today's world on the "
                         f"robustness bank (gain {c['estimate']:+.3f}, lower bound "
                         f"{c['lower_bound']:+.3f})")
        elif c.get("why") == "loses on LoCoMo":
            parts.append(f"loses on LoCoMo ({c['family']}, gain {c['estimate']:+.3f})")
        elif c.get("estimate") is not None:
            parts.append(f"{c['family']} with all knobs together at "
                         f"{_knobs(c.get('knobs', {}))} (gain {c['estimate']:+.3f})")
        else:
            parts.append(f"{c['family']}: {c['why']}")
    return f"CONDITIONAL: {'; '.join(parts)} ({cost}){outside}"


def _outside_text(line: Mapping) -> str:
    """A LoCoMo line: "holds on LoCoMo (locomo_decay): +0.016 [+0.000, +0.039] ..."."""
    if line["verdict"] == "unavailable":
        return f"LoCoMo {line['family']}: unavailable ({line.get('reason', '')})"
    return (f"{line['verdict']} on LoCoMo ({line['family']}): {line['estimate']:+.4f} "
            f"[{line['ci_low']:+.4f}, {line['ci_high']:+.4f}], 95% CI by conversation "
            f"over {line['conversations']} conversations")


def _knobs(knobs: Mapping[str, float]) -> str:
    return ", ".join(f"{k}={v:.3g}" for k, v in knobs.items())


NOTE_HEADING = "\n\n## Robustness over world variants\n\n"


def note_robustness(storage: str, study_name: str, data: Mapping) -> None:
    """Append (or replace) the robustness section of the study's optuna-dashboard note."""
    import optuna
    from optuna_dashboard import get_note, save_note

    from tuner.studies.storage import open_storage

    study = optuna.load_study(study_name=study_name, storage=open_storage(storage))
    lines = [f"**{data['verdict'].upper()}**: {robustness_text(data)}", "",
             "| family | knob | crossing | gain at the end | lower bound |",
             "|---|---|---|---|---|"]
    lines += [f"| {c['family']} | {c.get('knob') or 'all together'} | "
              f"{_num(c.get('crossing'))} | {_num(c.get('estimate'))} | "
              f"{_num(c.get('lower_bound'))} |" for c in data["conditions"]]
    study.set_user_attr("robustness", dict(data))
    save_note(study, get_note(study).split(NOTE_HEADING)[0] + NOTE_HEADING + "\n".join(lines))


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"
