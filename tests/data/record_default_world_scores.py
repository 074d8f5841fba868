"""Writes ``default_world_scores.json``: today's per-scenario results at popoto's defaults.

Recorded BEFORE the families read their shape constants as declared knobs (issue 24), so
``tests/test_world_knobs.py`` can assert that default knobs reproduce today's scores bit for
bit. Each entry holds the seed itself (so a later change of bank generation cannot swap it) and
the run's score, plain nDCG, Spearman, top 5 and a digest of the world's latent relevance.
Small worlds (<= 50 records), 6 per family, so the test stays fast. A family added later is
not in the file and is not checked by it.

Run ``python tests/data/record_default_world_scores.py`` to rewrite it; only ever do that from a
harness whose default worlds are known to be today's.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from scenarios.families import FAMILIES  # noqa: E402
from scenarios.runner import build_world, evaluate_scenario, family_bank  # noqa: E402
from scenarios.seeds import DEFAULT_BASE_SEED, is_validation_id  # noqa: E402
from tuner.infra.redis_server import redis_target  # noqa: E402

PATH = Path(__file__).with_name("default_world_scores.json")
PER_FAMILY = 6
MAX_RECORDS = 50


def small_train_seeds(family: str) -> list:
    bank = family_bank(family, size=60, base_seed=DEFAULT_BASE_SEED)
    small = [s for s in bank if not is_validation_id(s.seed_id) and s.record_count <= MAX_RECORDS]
    return small[:PER_FAMILY]


def relevance_digest(seed) -> str:
    """A digest of the world's latent truth (every record's graded relevance)."""
    relevance = sorted(build_world(seed).relevance.items())
    return hashlib.sha256(repr(relevance).encode()).hexdigest()[:16]


def main() -> None:
    entries = []
    with redis_target(None):
        for family in sorted(FAMILIES):
            for seed in small_train_seeds(family):
                result = evaluate_scenario(seed)
                assert result.error is None, (seed.label, result.error)
                entries.append({"seed": seed.to_dict(), "label": seed.label,
                                "score": result.score, "ndcg": result.ndcg,
                                "spearman": result.spearman, "top": list(result.top),
                                "relevance": relevance_digest(seed)})
    PATH.write_text(json.dumps({"families": sorted(FAMILIES), "scenarios": entries},
                               indent=1) + "\n")
    print(f"wrote {len(entries)} scenarios of {len(FAMILIES)} families to {PATH}")


if __name__ == "__main__":
    main()
