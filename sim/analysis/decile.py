"""Which recorded inputs move an output, read off a run's own draws (no re-running): rank
correlation, and the output's median with the input in its bottom vs top decile of draws.
`sim sensitivity` gives the controlled version (sim.analysis.sensitivity)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.formats import fmt_input


def decile_tornado(inputs: pd.DataFrame, y: np.ndarray, lo: float = 0.1, hi: float = 0.9) -> pd.DataFrame:
    """Sensitivity of y (one value per draw, aligned with `inputs` rows) to each recorded input.

    spearman: rank correlation over all draws. output_low / output_high: median of y over the
    draws with the input in its bottom / top decile (yes/no gates: did not fire / fired);
    swing = output_high - output_low. Sorted by |spearman| (then |swing|), largest first: the
    rank correlation uses every draw, so it ranks more reliably than decile medians do.
    """
    from scipy.stats import rankdata

    base = float(np.median(y)) if y.size else float("nan")
    rows = []
    for name in inputs.columns:
        if name == "draw":
            continue
        x = inputs[name].to_numpy(dtype=float)
        ok = np.isfinite(x) & np.isfinite(y)
        x_ok, y_ok = x[ok], y[ok]
        if x_ok.size < 10 or np.ptp(x_ok) == 0:
            continue
        rx, ry = rankdata(x_ok), rankdata(y_ok)
        rx, ry = rx - rx.mean(), ry - ry.mean()
        den = np.sqrt((rx**2).sum() * (ry**2).sum())
        rho = float((rx * ry).sum() / den) if den > 0 else 0.0
        values = np.unique(x_ok)
        if values.size == 2:  # yes/no gate (or any two-valued input)
            low, high = x_ok == values[0], x_ok == values[1]
        else:
            ql, qh = np.quantile(x_ok, [lo, hi])
            low, high = x_ok <= ql, x_ok >= qh
        if not low.any() or not high.any():
            continue
        rows.append({
            "input": name, "spearman": rho,
            "value_low": float(np.median(x_ok[low])), "value_high": float(np.median(x_ok[high])),
            "value_low_text": fmt_input(name, float(np.median(x_ok[low])) if values.size > 2 else values[0]),
            "value_high_text": fmt_input(name, float(np.median(x_ok[high])) if values.size > 2 else values[1]),
            "n_low": int(low.sum()), "n_high": int(high.sum()),
            "output_low": float(np.median(y_ok[low])), "output_high": float(np.median(y_ok[high])),
            "base_median": base,
        })
    cols = ["input", "spearman", "value_low", "value_high", "value_low_text", "value_high_text",
            "n_low", "n_high", "output_low", "output_high", "base_median"]
    df = pd.DataFrame(rows, columns=cols)
    df["swing"] = df["output_high"] - df["output_low"]
    order = np.lexsort((-df["swing"].abs().to_numpy(), -df["spearman"].abs().round(6).to_numpy()))
    return df.iloc[order].reset_index(drop=True)
