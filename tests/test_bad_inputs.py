"""Bad input, across every command: exit 2, no traceback, the key words, and never a secret.

Each row is one thing a user can get wrong. ``{tmp}`` in an argument is the test's temp dir and
``{db}`` a SQLite storage in it; ``setup`` prepares what the row needs first (a finished study
to conflict with, an empty ratchet ledger to export). The password below is given in URLs and
environment variables and must never appear in anything tuner prints.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SECRET = "s3cretPw"
PG = f"postgresql://tuner:{SECRET}@127.0.0.1:1/tuner"  # nothing listens on port 1
REDIS = f"redis://tuner:{SECRET}@127.0.0.1:1/3"
STUDY = ("optimize", "--constant", "decay_rate", "--storage", "{db}", "--bank-size", "10",
         "--batch", "3", "--trials", "1", "--no-validate")
CATALOG_BODY = {
    "prefixless.toml": '[decay_rate]\nattr = "DECAY_RATE"\nfamily = "decay"\nlow = 0.01\n'
                       "high = 2.0\n",
    "empty.toml": "# nothing here\n",
    "nan.toml": '[constants.x]\nattr = "DECAY_RATE"\nfamily = "decay"\nlow = nan\nhigh = 1.0\n',
}


def narrowed_catalog() -> str:
    """The repository catalog with decay_rate's range cut from [0.01, 2.0] to [0.01, 1.0]."""
    from tuner.catalog import REPO_CATALOG

    head, tail = REPO_CATALOG.read_text().split("[constants.decay_rate]\n", 1)
    assert "high = 2.0\n" in tail
    return f"{head}[constants.decay_rate]\n{tail.replace('high = 2.0', 'high = 1.0', 1)}"

CASES = [
    # unknown names
    ("optimize-unknown", ("optimize", "--constant", "decay_rat"), None, None,
     ["unknown constant 'decay_rat'", "did you mean decay_rate"]),
    ("validate-unknown", ("validate", "--constant", "nope_nope"), None, None,
     ["unknown constant 'nope_nope'"]),
    ("ratchet-unknown", ("ratchet", "--constants", "decay_rate,tdalpha"), None, None,
     ["unknown constant 'tdalpha'", "did you mean"]),
    ("sweep-unknown", ("sweep", "--constant", "DECAY_RAT", "--values", "0.1,0.2"), None, None,
     ["unknown constant 'DECAY_RAT'"]),
    ("validate-no-study", ("validate", "--constant", "decay_rate", "--storage", "{db}"), None,
     None, ["no study 'decay_rate@decay-", "run `tuner optimize --constant decay_rate` first"]),
    # bad numbers and ranges
    ("trials-zero", ("optimize", "--constant", "decay_rate", "--trials", "0"), None, None,
     ["--trials", "0 is not in the range x>=1"]),
    ("batch-negative", ("optimize", "--constant", "decay_rate", "--batch", "-3"), None, None,
     ["--batch", "-3 is not in the range x>=1"]),
    ("bank-too-small", ("ratchet", "--bank-size", "5"), None, None, ["--bank-size", "x>=10"]),
    ("tier-four", ("constants", "--tier", "4"), None, None, ["--tier", "1<=x<=3"]),
    ("min-improvement-nan", ("validate", "--constant", "decay_rate", "--storage", "{db}",
                             "--min-improvement", "nan"), None, None,
     ["--min-improvement", "'nan' is not a number"]),
    ("top-zero", ("validate", "--constant", "decay_rate", "--top", "0"), None, None,
     ["--top", "x>=1"]),
    ("sweep-reversed-range", ("sweep", "--constant", "decay_rate", "--values", "0.5..0.1:0.1"),
     None, None, ["0.5..0.1"]),
    ("sweep-nan-value", ("sweep", "--constant", "decay_rate", "--values", "0.1,nan"), None, None,
     ["nan"]),
    ("sweep-garbage", ("sweep", "--constant", "decay_rate", "--values", "fast"), None, None,
     ["'fast'"]),
    ("sweep-unpaired", ("sweep", "--constant", "decay_rate", "--constant", "initial_confidence",
                        "--values", "0.1"), None, None, ["2 --constant but 1 --values"]),
    # unreachable servers with credentials in the URL
    ("optimize-pg-down", ("optimize", "--constant", "decay_rate", "--storage", PG), None, None,
     ["cannot open storage postgresql://tuner:***@127.0.0.1:1/tuner"]),
    ("ratchet-pg-down", ("ratchet", "--tier", "1", "--storage", PG), None, None,
     ["cannot open storage", "tuner:***@"]),
    ("report-pg-down", ("report", "--storage", PG), None, None, ["cannot open storage"]),
    ("export-pg-down", ("export", "--out", "{tmp}/p.patch", "--storage", PG), None, None,
     ["cannot open storage"]),
    ("dashboard-pg-down", ("dashboard", "--storage", PG, "--port", "18473"), None, None,
     ["cannot open storage"]),
    ("storage-env-down", ("optimize", "--constant", "decay_rate"), {"TUNER_STORAGE": PG}, None,
     ["cannot open storage", "tuner:***@127.0.0.1:1"]),
    ("optimize-redis-down", ("optimize", "--constant", "decay_rate", "--storage", "{db}",
                             "--redis-url", REDIS), None, None,
     ["cannot reach Redis at redis://tuner:***@127.0.0.1:1/3", "Connection refused"]),
    ("sweep-redis-down", ("sweep", "--constant", "decay_rate", "--values", "0.1", "--storage",
                          "{db}", "--redis-url", REDIS), None, None, ["cannot reach Redis"]),
    ("redis-env-down", ("ratchet", "--constants", "decay_rate", "--storage", "{db}"),
     {"REDIS_URL": REDIS}, None, ["cannot reach Redis at redis://tuner:***@"]),
    ("redis-port-out-of-range", ("optimize", "--constant", "decay_rate", "--storage", "{db}",
                                 "--redis-url", f"redis://:{SECRET}@127.0.0.1:99999/1"), None,
     None, ["cannot reach Redis", "99999"]),
    ("unknown-storage-scheme", ("sweep", "--constant", "decay_rate", "--values", "0.1",
                                "--storage", f"nosuchdb://u:{SECRET}@x/y"), None, None,
     ["cannot open storage nosuchdb://u:***@x/y"]),
    ("redis-url-not-a-url", ("optimize", "--constant", "decay_rate", "--storage", "{db}",
                             "--redis-url", "localhost:6379"), None, None,
     ["cannot reach Redis at localhost:6379", "redis://, rediss://, unix://"]),
    ("storage-empty", ("optimize", "--constant", "decay_rate", "--storage", ""), None, None,
     ["cannot open storage"]),
    ("ratchet-no-names", ("ratchet", "--constants", " , ", "--storage", "{db}"), None, None,
     ["--constants ' , ' names no constant"]),
    # ports and hosts out of range
    ("dashboard-port-zero", ("dashboard", "--port", "0"), None, None, ["--port", "1<=x<=65535"]),
    ("dashboard-port-high", ("dashboard", "--port", "70000"), None, None, ["1<=x<=65535"]),
    ("dashboard-bad-host", ("dashboard", "--storage", "{db}", "--host", "999.1.1.1", "--port",
                            "18475"), None, "study", ["cannot listen on 999.1.1.1:18475"]),
    # unwritable outputs
    ("storage-under-a-file", ("optimize", "--constant", "decay_rate", "--storage",
                              "sqlite:///{tmp}/afile/x.db"), None, "file", ["cannot open storage"]),
    ("report-out-is-a-file", ("report", "--storage", "{db}", "--out", "{tmp}/afile",
                              "--bank-size", "10"), None, None, ["--out", "is a file"]),
    ("report-out-under-a-file", ("report", "--storage", "{db}", "--out", "{tmp}/afile/html",
                                 "--bank-size", "10"), None, "study",
     ["cannot write the report to {tmp}/afile/html", "writable --out"]),
    ("export-out-under-a-file", ("export", "--out", "{tmp}/afile/p.patch", "--storage", "{db}"),
     None, "ledger", ["cannot write", "afile/p.patch"]),
    ("export-out-is-a-dir", ("export", "--out", "{tmp}", "--storage", "{db}"), None, None,
     ["--out", "is a directory"]),
    # malformed catalogs
    ("catalog-prefixless", ("constants", "--catalog", "{tmp}/prefixless.toml"), None, None,
     ["unknown top-level table [decay_rate]", "[constants.decay_rate]"]),
    ("catalog-empty", ("optimize", "--constant", "decay_rate", "--catalog", "{tmp}/empty.toml"),
     None, None, ["holds no constants"]),
    ("catalog-nan", ("list", "--catalog", "{tmp}/nan.toml"), None, None,
     ["constant 'x'", "low < high", "nan"]),
    ("catalog-missing", ("constants", "--catalog", "{tmp}/nope.toml"), None, None,
     ["catalog file not found"]),
    # conflicting resumes
    ("resume-other-seed", (*STUDY, "--seed", "4"), None, "study",
     ["was created with seed=0, not 4", "--study-name"]),
    ("resume-other-batch", (*STUDY[:-5], "--batch", "4", "--trials", "1", "--no-validate"), None,
     "study", ["was created with batch=3, not 4"]),
    ("resume-other-range", (*STUDY, "--catalog", "{tmp}/narrow.toml"), None, "study",
     ["another contract", "range [0.01, 2.0] -> [0.01, 1.0]"]),
    # the same study name, another bank (a bank otherwise names its own study)
    ("resume-other-bank", (*STUDY[:6], "12", *STUDY[7:], "--study-name",
                           "decay_rate@decay-b20261123n10"), None, "study",
     ["was created with bank='b20261123n10', not 'b20261123n12'", "--study-name"]),
]


def _prepare(run, tmp: Path, db: str, setup: str | None) -> None:
    for name, body in CATALOG_BODY.items():
        (tmp / name).write_text(body)
    (tmp / "narrow.toml").write_text(narrowed_catalog())
    (tmp / "afile").write_text("a file, not a directory\n")
    if setup == "study":
        first = run(*(arg.format(db=db) for arg in STUDY))
        assert first.exit_code == 0, first.output
    elif setup == "ledger":
        from tuner.decisions.ledger import Ledger
        from tuner.evaluation.engine import BankSpec

        Ledger(storage=db, bank_tag=BankSpec().tag)


@pytest.mark.parametrize("args,env,setup,words", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_input_exits_2_with_one_clear_line(run, tmp_path, monkeypatch, args, env, setup,
                                               words):
    for name in ("REDIS_URL", "TUNER_STORAGE", "TUNER_CATALOG"):
        monkeypatch.delenv(name, raising=False)
    db = f"sqlite:///{tmp_path / 'bad.db'}"
    _prepare(run, tmp_path, db, setup)
    result = run(*(arg.format(tmp=tmp_path, db=db) for arg in args), env=env)
    output = result.output
    assert result.exit_code == 2, output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, output
    for word in words:
        assert word.format(tmp=tmp_path) in errors[0], output
    assert SECRET not in output


def test_there_are_at_least_25_bad_inputs():
    assert len(CASES) >= 25 and len({c[0] for c in CASES}) == len(CASES)
