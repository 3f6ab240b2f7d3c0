"""Every number the shipped scenarios produce equals the stored baseline (tests/regression.py).

A failure lists each changed array. If the change is meant, regenerate the baseline with
`python tests/update_baseline.py --reason "..."`, which also logs a MODEL: line in CHANGES.md.
"""

from __future__ import annotations

import warnings

import pytest
from regression import REPO, cases, differences, fingerprint, load_baseline

BASE = load_baseline()
EXACT = BASE["fingerprint"] == fingerprint()
CASES = dict(cases())


def test_baseline_covers_every_case_and_its_reason_is_logged() -> None:
    assert sorted(BASE["cases"]) == sorted(CASES), "cases added or removed: regenerate the baseline"
    assert f"MODEL: {BASE['reason']}" in (REPO / "CHANGES.md").read_text(), \
        "the baseline's reason is not logged as a MODEL: line in CHANGES.md"


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow) if c.endswith("/patient") else c
                                  for c in CASES if not c.startswith("run/")])
def test_engine_matches_the_baseline(case: str) -> None:
    _check(case)


@pytest.mark.slow
@pytest.mark.parametrize("case", [c for c in CASES if c.startswith("run/")])
def test_pipeline_matches_the_baseline(case: str) -> None:
    _check(case)


def _check(case: str) -> None:
    if not EXACT:
        warnings.warn("this machine's fingerprint differs from the baseline's: statistics are compared "
                      "to 1e-9 instead of bit for bit", stacklevel=2)
    diff = differences(BASE["cases"][case], CASES[case](), EXACT)
    assert not diff, f"{case}: {len(diff)} array(s) changed:\n  " + "\n  ".join(diff[:40])
