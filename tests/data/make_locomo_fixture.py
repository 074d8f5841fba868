"""Write tests/data/locomo_fixture.json: invented conversations in LoCoMo's skeleton format.

Everything in it is drawn here from a fixed seed: ids, dates, speakers, lengths, evidence and
categories are invented by this project and hold no LoCoMo data (which is CC BY-NC and never
enters this repository). The shape only mimics the format so the replay families and their
reader can be tested without the real file: a few conversations of dated sessions, questions
citing one to four turns, some turns cited again and again, longer turns cited a little more.

Run ``.venv/bin/python tests/data/make_locomo_fixture.py`` to regenerate (the output is
deterministic).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

OUT = Path(__file__).with_name("locomo_fixture.json")
HEADER = {
    "source": "written by the tuner project (tests/data/make_locomo_fixture.py): invented "
              "conversations, ids, dates, lengths and evidence; holds no LoCoMo data",
    "derived": "nothing: a synthetic fixture in the skeleton format of docs/locomo.md",
    "licence": "the tuner project's own test data",
}


def conversation(rng: np.random.Generator, cid: str, start: datetime) -> dict:
    sessions, turns, when = [], [], start
    for number in range(1, int(rng.integers(5, 8)) + 1):
        when += timedelta(days=float(rng.uniform(2, 20)), minutes=float(rng.integers(0, 600)))
        count = int(rng.integers(6, 11))
        items = [{"id": f"D{number}:{i}", "speaker": "ab"[i % 2],
                  "chars": int(rng.integers(15, 320)), "image": bool(rng.random() < 0.05)}
                 for i in range(1, count + 1)]
        turns += items
        stamp = when.strftime("%I:%M %p on %d %B, %Y").lstrip("0").lower()
        sessions.append({"session": number, "date_time": stamp, "turns": items})
    weight = np.array([t["chars"] for t in turns], dtype=float) ** 0.5
    favourite = rng.random(len(turns)) < 0.15  # turns asked about again and again
    weight = weight * np.where(favourite, 6.0, 1.0)
    questions = []
    for _ in range(int(rng.integers(18, 26))):
        size = int(rng.choice([1, 1, 2, 2, 3, 4]))
        anchor = int(rng.choice(len(turns), p=weight / weight.sum()))
        near = [min(len(turns) - 1, max(0, anchor + int(d))) for d in rng.integers(-12, 13, 3)]
        chosen = list(dict.fromkeys([anchor, *near]))[:size]
        questions.append({"evidence": [turns[i]["id"] for i in chosen],
                          "category": int(rng.integers(1, 6))})
    questions.append({"evidence": ["D99:1"], "category": 4})  # names no turn: dropped on read
    return {"id": cid, "sessions": sessions, "questions": questions}


def main() -> None:
    rng = np.random.default_rng(20261207)
    conversations = [conversation(rng, f"fx{i}", datetime(2031, 1 + 3 * i, 5, 9, 30))
                     for i in range(3)]
    OUT.write_text(json.dumps({**HEADER, "conversations": conversations}, indent=0) + "\n")


if __name__ == "__main__":
    main()
