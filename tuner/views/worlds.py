"""``tuner worlds`` as text: every family's declared world knobs (``scenarios/knobs.py``).

A knob is a shape constant of a scenario world (how often related records recur, the share of
bad policies, ...): the table says what each means, today's value and the range a deployment
profile or a robustness design may set it to, so a reviewer sees which worlds a decision is
relative to.
"""

from __future__ import annotations

import textwrap

from tuner.views.formatting import fmt_value

MEANING_WIDTH = 64


def all_knobs() -> dict[str, tuple]:
    """Every registered family's knobs (``scenarios/knobs.py``), by family name, sorted."""
    from scenarios.families import FAMILIES

    return {name: tuple(cls.knobs) for name, cls in sorted(FAMILIES.items())}


def knob_rows() -> list[dict]:
    """One row per knob of every registered family (the ``--json`` form), family order."""
    from scenarios.outside import OUTSIDE_FAMILIES, outside_reason

    rows = [knob.to_dict() for knobs in all_knobs().values() for knob in knobs]
    for row in rows:  # outside families (docs/locomo.md): listed too while data is absent
        if row["family"] in OUTSIDE_FAMILIES:
            row.update(outside=True, unavailable=None)
    for name, cls in sorted(OUTSIDE_FAMILIES.items()):
        reason = outside_reason(name)
        if reason is not None:
            rows += [{**knob.to_dict(), "outside": True, "unavailable": reason}
                     for knob in cls.knobs]
    return rows


def worlds_table(rows: list[dict]) -> str:
    """Family, knob, default, range, then the meaning wrapped under its own column."""
    head = ("family", "knob", "default", "range")
    cells = [(r["family"], r["name"], fmt_value(r["default"]),
              f"[{fmt_value(r['low'])}, {fmt_value(r['high'])}]" + (" int" if r["integer"] else ""))
             for r in rows]
    widths = [max(len(str(c[i])) for c in [head, *cells]) for i in range(len(head))]
    indent = sum(widths) + 2 * len(widths)

    def line(parts: tuple[str, ...]) -> str:
        return "  ".join(str(p).ljust(w) for p, w in zip(parts, widths, strict=True))

    out = [line(head) + "  meaning"]
    for row, cell in zip(rows, cells, strict=True):
        wrapped = textwrap.wrap(row["meaning"], MEANING_WIDTH) or [""]
        out.append(line(cell) + "  " + wrapped[0])
        out.extend(" " * indent + more for more in wrapped[1:])
    families = len({r["family"] for r in rows})
    out.append(f"{len(rows)} knobs in {families} families; set them with a profile's "
               f"[knobs.FAMILY] table (--profile FILE)")
    return "\n".join(out)
