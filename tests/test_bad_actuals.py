"""Issue 17: actuals CSVs that are empty, binary, non-numeric or not files, and bad --band or
--years, exit 2 with one message naming the file, row or option (they gave tracebacks), for
every command that reads actuals."""

from __future__ import annotations

import pytest
from helpers import EXAMPLE

from sim import run
from sim.cli import main


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return run(EXAMPLE, draws=20, seed=1, out=tmp_path_factory.mktemp("r") / "r", charts=False)


CASES = {
    "empty": (b"", ("empty",)),
    "blank lines": (b"\n\n  \n", ("empty",)),
    "binary": (b"PK\x03\x04\x00\x00binary", ("not text",)),
    "not a number": (b"product,year,net_sales_usd_m\nAxicel,2021,lots\n", ("row 2", "a number", "'lots'")),
    "header only": (b"product,year,net_sales_usd_m\n", ("no rows",)),
    "no value column": (b"product,year,sales\nAxicel,2021,5\n", ("'value' or 'net_sales_usd_m'",)),
    "ragged": (b"product,year,net_sales_usd_m\nAxicel,2021,5,7,8\n\"unclosed\n", ("cannot read the actuals",)),
}


def _cmds(results, path):
    return {"calibrate": ["calibrate", str(results), "--actuals", str(path)],
            "plot": ["plot", "fan", str(results), "--by", "product", "--actuals", str(path),
                     "--out", str(path.parent / "fan.png")]}


@pytest.mark.parametrize("cmd", ["calibrate", "plot"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_actuals_exit_2_with_one_message(results, tmp_path, capsys, cmd, case) -> None:
    data, phrases = CASES[case]
    path = tmp_path / "actuals.csv"
    path.write_bytes(data)
    code = main(_cmds(results, path)[cmd])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and str(path) in err
    for p in phrases:
        assert p in err, err


@pytest.mark.parametrize("cmd", ["calibrate", "plot"])
def test_an_actuals_path_that_is_a_folder_or_missing_exits_2(results, tmp_path, capsys, cmd) -> None:
    for path, phrase in ((tmp_path, "not a regular file"), (tmp_path / "none.csv", "not found")):
        assert main(_cmds(results, path)[cmd]) == 2
        assert phrase in capsys.readouterr().err


@pytest.mark.parametrize("option,value,phrase", [
    ("--band", "90,10", "0 <= LO < HI <= 100"),
    ("--band", "10,190", "0 <= LO < HI <= 100"),
    ("--years", "2022,2018", "FIRST <= LAST"),
])
def test_calibrate_refuses_bands_and_years_that_make_no_sense(results, capsys, option, value, phrase) -> None:
    from helpers import ACTUALS

    assert main(["calibrate", str(results), "--actuals", str(ACTUALS), option, value]) == 2
    assert phrase in capsys.readouterr().err
