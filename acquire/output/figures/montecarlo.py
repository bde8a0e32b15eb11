"""Monte Carlo figures: the distribution (CDF) of the residual mains over the draws, with the limit."""

from __future__ import annotations

import numpy as np

from acquire.output.figures.style import COLORS, one_axes, styled, trace


@styled
def plot_residual_cdf(residual_uv_pp, *, limit_uv_pp: float, limit_label: str, title: str, subtitle: str = "",
                      ax=None):
    """Empirical CDF of the residual mains (µV p-p, input-referred) over the draws, with the yield limit.

    Parameters
    ----------
    residual_uv_pp : array, shape (n_draws,)
        Residual of each draw, µV peak-to-peak referred to input.
    limit_uv_pp : float
        The limit the yield is counted against, drawn as a vertical line.
    limit_label : str
        Its legend text (say where it comes from).
    title : str
        The preset and the scenario.
    subtitle : str
        A second title line (draw count, seed, varied keys).
    ax : Axes or None

    Returns
    -------
    matplotlib.figure.Figure
    """
    x = np.sort(trace("residual_uv_pp", residual_uv_pp))
    p = np.arange(1, x.size + 1) / x.size
    fig, ax = one_axes(ax)
    ax.step(x, 100 * p, where="post", color=COLORS["acquired"], label=f"{x.size} draws")
    ax.axvline(float(limit_uv_pp), color=COLORS["limit"], ls="--", label=limit_label, gid="limit")
    yield_pct = 100 * float(np.mean(x <= limit_uv_pp))
    if x[0] > 0 and x[-1] / x[0] > 30:
        from matplotlib.ticker import FuncFormatter

        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("Residual mains at the ADC (µV p-p, input-referred)")
    ax.set_ylabel("Draws at or below (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"{title}\n{subtitle}" if subtitle else title)
    ax.legend(loc="upper left", title=f"yield {yield_pct:.1f} %")
    return fig
