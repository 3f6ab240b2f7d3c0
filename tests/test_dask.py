"""The dask executor: batches computed on dask.distributed workers (parquet bytes sent back, the
client writes them) give results bit-identical to a local single-process run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import EXAMPLE, assert_same_parts

from sim import run
from sim.cli import main

distributed = pytest.importorskip("distributed")
# a second cluster's HTTP server falls back to another port when 8787 is taken
pytestmark = pytest.mark.filterwarnings("ignore:Port 8787 is already in use")

DRAWS, BATCH, SEED = 240, 40, 23  # 6 batches over 2 workers
METRICS = [("revenue", "lanes"), ("infused", "lanes"), ("dropped", "lanes"), ("waiting", "lanes"),
           ("eligible", "cells"), ("addressable", "cells"), ("revenue", "companies"), ("income", "companies")]


@pytest.fixture(scope="module")
def local_run(tmp_path_factory) -> Path:
    return run(EXAMPLE, draws=DRAWS, seed=SEED, batch_size=BATCH, workers=1,
               out=tmp_path_factory.mktemp("local") / "local")


@pytest.fixture(scope="module")
def cluster():
    c = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                 dashboard_address=None)
    try:
        yield c
    finally:
        c.close()


def assert_identical(got: Path, ref: Path) -> None:
    assert_same_parts(got, ref, METRICS, DRAWS)
    assert (got / "summary.csv").read_bytes() == (ref / "summary.csv").read_bytes()
    assert not list((got / "parts").glob(".*.tmp"))


@pytest.mark.slow
def test_remote_cluster_is_bit_identical_to_local(tmp_path, cluster, local_run) -> None:
    out = run(EXAMPLE, draws=DRAWS, seed=SEED, batch_size=BATCH, out=tmp_path / "dask",
              cluster=cluster.scheduler_address)
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["executor"] == "dask" and meta["batches"] == DRAWS // BATCH
    assert not out.with_name("dask.partial").exists()
    assert_identical(out, local_run)


@pytest.mark.slow
def test_remote_cluster_resume_is_bit_identical(tmp_path, cluster, local_run) -> None:
    """An interrupted local run completed on the cluster."""
    out = tmp_path / "r"
    partial = out.with_name("r.partial")
    shutil.copytree(local_run, partial)
    for name in ("metadata.json", "summary.csv", "scenario.yaml"):
        (partial / name).unlink()
    for f in (partial / "parts").glob("*-00000[3-9].parquet"):
        f.unlink()
    run(EXAMPLE, draws=DRAWS, seed=SEED, batch_size=BATCH, out=out, resume=True,
        cluster=cluster.scheduler_address)
    assert json.loads((out / "metadata.json").read_text())["batches_resumed"] == 3
    assert_identical(out, local_run)


@pytest.mark.slow
def test_cli_executor_dask_without_address_starts_a_local_cluster(tmp_path, local_run, capsys) -> None:
    out = tmp_path / "cli"
    code = main(["run", str(EXAMPLE), "--draws", str(DRAWS), "--batch-size", str(BATCH), "--seed", str(SEED),
                 "--out", str(out), "--executor", "dask", "--workers", "2", "--no-charts", "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert f"results: {out}" in capsys.readouterr().out
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["executor"] == "dask" and meta["workers"] == 2
    assert_identical(out, local_run)


@pytest.mark.slow
@pytest.mark.parametrize("address", ["bogus://x:1", "tcp://"])
def test_malformed_cluster_address_is_a_user_error(tmp_path, capsys, address) -> None:
    code = main(["run", str(EXAMPLE), "--draws", "20", "--out", str(tmp_path / "x"), "--cluster", address,
                 "--no-charts", "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert address in err and "Traceback" not in err


@pytest.mark.slow
def test_a_fit_on_the_cluster_gives_the_same_posterior_as_locally(tmp_path, cluster, capsys) -> None:
    """sim fit --cluster: each generation's simulations spread over the dask workers."""
    from helpers import make_actuals, small_scenario

    scn = small_scenario(tmp_path)
    actuals = make_actuals(tmp_path, scn, {"indications.X.uptake.ceiling": 0.55, "indications.X.uptake.q": 0.45})
    common = ["fit", str(scn), "--actuals", str(actuals), "--inputs", "indications.X.uptake.ceiling",
              "--population", "200", "--generations", "3", "--seed", "4"]
    assert main([*common, "--out", str(tmp_path / "here")]) == 0, capsys.readouterr().err
    assert main([*common, "--out", str(tmp_path / "there"), "--cluster", cluster.scheduler_address]) == 0, \
        capsys.readouterr().err
    here, there = (tmp_path / "here" / "posterior.csv").read_bytes(), (tmp_path / "there" / "posterior.csv").read_bytes()
    assert here == there and len(here) > 1000
    assert main([*common, "--out", str(tmp_path / "bad"), "--cluster", "bogus://x:1"]) == 2
    assert "--cluster expects a scheduler address" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
