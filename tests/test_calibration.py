"""Issue 3 calibration: 2018-2022 actual sales sit inside the base scenario's P10-P90 band."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import ACTUALS, REPO

from sim import run
from sim.analysis.calibration import coverage
from sim.cli import main
from sim.errors import ScenarioError
from sim.results import Results


@pytest.fixture(scope="module")
def base_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cal") / "base"
    return run(REPO / "scenarios" / "cart_2022.yaml", draws=1000, seed=0, out=out, workers=2)


@pytest.mark.slow
def test_actual_sales_inside_p10_p90(base_run: Path) -> None:
    df = coverage(Results(base_run), ACTUALS, band=(10, 90), years=(2018, 2022))
    assert len(df) == 21  # every product-year of 2018-2022 in the file
    outside = df[~df["inside"]]
    assert outside.empty, outside.to_string()


def test_calibrate_command_reports_coverage(base_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["calibrate", str(base_run), "--actuals", str(ACTUALS), "--years", "2018,2022"])
    out = capsys.readouterr().out
    assert code == 0
    assert "21 of 21 actuals inside the P10-P90 band (100 %)" in out


def test_coverage_flags_values_outside_and_unknown_names(base_run: Path, tmp_path: Path) -> None:
    res = Results(base_run)
    groups, periods, arr = res.grouped("revenue", "product", freq="year")
    k, p = groups.index("Kymriah"), periods.index("2021")
    p10, p90 = np.percentile(arr[:, k, p], [10, 90])
    csv = tmp_path / "a.csv"
    pd.DataFrame({"product": ["Kymriah"], "year": [2021], "value": [0.5 * p10]}).to_csv(csv, index=False)
    assert not coverage(res, csv)["inside"].iloc[0]
    pd.DataFrame({"product": ["Kymriah"], "year": [2021], "value": [0.5 * (p10 + p90)]}).to_csv(csv, index=False)
    assert coverage(res, csv)["inside"].iloc[0]
    assert main(["calibrate", str(base_run), "--actuals", str(csv)]) == 0
    pd.DataFrame({"product": ["Kymria"], "year": [2021], "value": [1.0]}).to_csv(csv, index=False)
    with pytest.raises(ScenarioError, match="did you mean 'Kymriah'"):
        coverage(res, csv)
