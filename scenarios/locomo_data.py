"""Read a LoCoMo-format conversation file: sessions on a clock, turns, annotated questions.

LoCoMo (Maharana et al., ACL 2024) is CC BY-NC 4.0 data nobody on this project wrote; the
replay families (``scenarios/families/locomo_*.py``) use it as an outside check. Nothing of it
lives in this repository: the file is read at run time from ``$TUNER_LOCOMO`` (``tuner
--locomo PATH`` sets it), a user's own copy of upstream's ``locomo10.json`` or of the text-free
skeleton (``{"conversations": [{"id", "sessions": [{"session", "date_time", "turns": [{"id",
"speaker", "chars"}]}], "questions": [{"evidence", "category"}]}]}``). Both shapes are read
into the same frozen structures; only what a replay needs is kept (ids, dates, speaker, turn
length, evidence, category), never text.

Every problem with the file is a ``LocomoDataError`` whose message is one line naming the file
and what is wrong, so a command can print it and exit 2.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ENV_VAR = "TUNER_LOCOMO"
DATE_FORMAT = "%I:%M %p on %d %B, %Y"
TURN_ID = re.compile(r"^D(\d+):(\d+)$")


class LocomoDataError(ValueError):
    """The replay data is missing or malformed; the message is one line."""


@dataclass(frozen=True)
class Turn:
    """One utterance: its id (``D<session>:<n>``), speaker, length and place in the stream."""

    id: str
    session: int
    speaker: str
    chars: int
    position: int  # index in the whole conversation, in order of time


@dataclass(frozen=True)
class Session:
    """A dated session: every turn in it is saved at ``timestamp`` (the scenario clock)."""

    number: int
    timestamp: float  # seconds since the epoch, UTC
    turns: tuple[Turn, ...]


@dataclass(frozen=True)
class Question:
    """A need event: the turns the annotators cite as needed to answer it, and its category."""

    index: int
    evidence: tuple[str, ...]  # turn ids that exist in the conversation, file order
    category: int


@dataclass(frozen=True)
class Conversation:
    id: str
    sessions: tuple[Session, ...]
    questions: tuple[Question, ...]

    @property
    def turns(self) -> tuple[Turn, ...]:
        return tuple(t for s in self.sessions for t in s.turns)


@dataclass(frozen=True)
class LocomoData:
    path: str
    digest: str  # sha256 of the file's bytes (16 hex): which data a result came from
    conversations: tuple[Conversation, ...]


def configured_path() -> str | None:
    """``$TUNER_LOCOMO`` when set and non-empty."""
    value = os.environ.get(ENV_VAR, "").strip()
    return value or None


def unavailable_reason() -> str | None:
    """None when the configured file loads; else one line saying why the replay is unavailable."""
    path = configured_path()
    if path is None:
        return (f"no LoCoMo data configured: set {ENV_VAR}=PATH (or pass --locomo PATH) to a "
                "copy of upstream's locomo10.json or of the text-free skeleton")
    try:
        load_locomo(path)
    except LocomoDataError as exc:
        return str(exc)
    return None


def configured_data() -> LocomoData:
    """The data ``$TUNER_LOCOMO`` names; ``LocomoDataError`` when unset or unreadable."""
    reason = unavailable_reason()
    if reason is not None:
        raise LocomoDataError(reason)
    return load_locomo(configured_path() or "")


def configured_digest() -> str:
    """The configured data's digest, "" when none loads: what a result key must add to name the
    data a replay read (the harness digest covers code only)."""
    return "" if unavailable_reason() else configured_data().digest


def load_locomo(path: str | Path) -> LocomoData:
    """Parse ``path`` (cached per file state, so an edited file is read again)."""
    file = Path(path).expanduser()
    try:
        stat = file.stat()
    except OSError as exc:
        raise LocomoDataError(f"LoCoMo data {file}: cannot read it ({exc.strerror})") from None
    if not file.is_file():
        raise LocomoDataError(f"LoCoMo data {file}: not a file")
    return _load(str(file.resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int, size: int) -> LocomoData:
    raw = Path(path).read_bytes()
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LocomoDataError(f"LoCoMo data {path}: not JSON ({exc})") from None
    try:
        if isinstance(data, dict) and "conversations" in data:
            conversations = tuple(_skeleton_conversation(c) for c in data["conversations"])
        elif isinstance(data, list):
            conversations = tuple(_upstream_conversation(c) for c in data)
        else:
            raise LocomoDataError("expected {\"conversations\": [...]} (the skeleton) or a list "
                                  "of samples (upstream's locomo10.json)")
        if not conversations:
            raise LocomoDataError("holds no conversation")
    except LocomoDataError as exc:
        raise LocomoDataError(f"LoCoMo data {path}: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        what = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc).splitlines()[0]
        raise LocomoDataError(f"LoCoMo data {path}: malformed ({what})") from None
    digest = hashlib.sha256(raw).hexdigest()[:16]
    return LocomoData(path=path, digest=digest, conversations=conversations)


def parse_date(text: str) -> float:
    """Upstream's session date (``1:56 pm on 8 May, 2023``) as UTC epoch seconds."""
    try:
        when = datetime.strptime(text.strip(), DATE_FORMAT)
    except ValueError:
        raise LocomoDataError(f"session date {text!r} does not read as "
                              f"'{DATE_FORMAT}'") from None
    return when.replace(tzinfo=UTC).timestamp()


def _skeleton_conversation(entry: dict) -> Conversation:
    sessions = [
        (int(s["session"]), parse_date(s["date_time"]),
         [(str(t["id"]), str(t["speaker"]), int(t["chars"])) for t in s["turns"]])
        for s in entry["sessions"]
    ]
    questions = [(list(q["evidence"]), int(q["category"])) for q in entry["questions"]]
    return _conversation(str(entry["id"]), sessions, questions)


def _upstream_conversation(entry: dict) -> Conversation:
    conv = entry["conversation"]
    speakers = {conv.get("speaker_a"): "a", conv.get("speaker_b"): "b"}
    numbers = sorted(int(m.group(1)) for key in conv
                     if (m := re.fullmatch(r"session_(\d+)", key)) and conv[key])
    sessions = [
        (n, parse_date(conv[f"session_{n}_date_time"]),
         [(str(t["dia_id"]), speakers.get(t.get("speaker"), str(t.get("speaker"))),
           len(str(t.get("text", "")))) for t in conv[f"session_{n}"]])
        for n in numbers
    ]
    questions = [(list(q.get("evidence", [])), int(q.get("category", 0))) for q in entry["qa"]]
    return _conversation(str(entry.get("sample_id", "?")), sessions, questions)


def _conversation(cid: str, sessions: list, questions: list) -> Conversation:
    """Sessions in time order, turns numbered along the stream; evidence that names no turn of
    the conversation (a known annotation slip) is dropped, and a question left with none too."""
    built, position = [], 0
    for number, timestamp, turns in sorted(sessions, key=lambda s: (s[1], s[0])):
        items = []
        for tid, speaker, chars in turns:
            items.append(Turn(tid, number, speaker, max(0, chars), position))
            position += 1
        built.append(Session(number, timestamp, tuple(items)))
    if not built or position == 0:
        raise LocomoDataError(f"conversation {cid!r} has no turns")
    known = {t.id for s in built for t in s.turns}
    kept = []
    for evidence, category in questions:
        ids = tuple(dict.fromkeys(str(e).strip() for e in evidence if str(e).strip() in known))
        if ids:
            kept.append(Question(len(kept), ids, category))
    return Conversation(cid, tuple(built), tuple(kept))
