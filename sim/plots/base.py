"""What every chart shares: a headless pyplot, money on axes, colours, saving a figure.

Charts never run a simulation: they take results or analysis data and an optional `ax`,
and return the figure.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

from sim.formats import scale_suffix


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (unless a notebook already chose one)."""
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        import contextlib

        with contextlib.suppress(Exception):  # a GUI backend may already be active in a notebook
            matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def money_formatter(currency: str = "") -> Any:
    """Axis ticks as 1.5B, 200M, 30k."""
    from matplotlib.ticker import FuncFormatter

    def fmt(x: float, _pos: int) -> str:
        v, suffix = scale_suffix(x)
        return f"{v:g}{suffix}"

    return FuncFormatter(fmt)


def colors(n: int) -> list[Any]:
    """N distinct colours, the strong ones first."""
    plt = pyplot()
    if n <= 10:
        return [plt.get_cmap("tab10")(k) for k in range(n)]
    t20 = plt.get_cmap("tab20")
    pal = [t20(k) for k in range(0, 20, 2)] + [t20(k) for k in range(1, 20, 2)]  # strong colours first
    return [pal[k % 20] for k in range(n)]


def short_name(name: str, width: int = 60) -> str:
    """A long input name cut from the left (its end says what it is)."""
    return name if len(name) <= width else "…" + name[-(width - 1):]


def save_figure(fig: Any, path: str | Path, dpi: int = 110) -> Path:
    """Write the figure atomically (its format from the suffix) and close it."""
    from sim.io import atomic_write

    plt = pyplot()
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png"))
    plt.close(fig)
    return path


def png_data_uri(fig: Any, dpi: int = 100) -> str:
    """The figure as a PNG data URI (the figure is closed)."""
    plt = pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


