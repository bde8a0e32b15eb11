"""Monte Carlo figures: the distribution (CDF) of the residual mains over the draws, with the limit."""

from __future__ import annotations

import numpy as np

from acquire.output.figures.style import (COLORS, legend_outside, limit_line, one_axes, plain_log_axis, set_titles,
                                          styled, trace)


@styled
def plot_residual_cdf(residual_uv_pp, *, limit_uv_pp: float, limit_label: str, title: str, subtitle: str = "",
                      ax=None):
    """Empirical CDF of the residual mains (µV p-p, input-referred) over the draws, with the yield limit.

    Parameters
    ----------
    residual_uv_pp : array, shape (n_draws,)
        Residual of each draw, µV peak-to-peak referred to input.
    limit_uv_pp : float
        The limit the yield is counted against, drawn as a vertical line (``gid="limit"``).
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
    limit_line(ax, limit_uv_pp, limit_label, vertical=True)
    yield_pct = 100 * float(np.mean(x <= limit_uv_pp))
    if x[0] > 0 and x[-1] / x[0] > 30:
        ax.set_xscale("log")
        plain_log_axis(ax.xaxis, np.append(x, limit_uv_pp))
    ax.set_xlabel("Residual mains at the ADC (µV p-p, input-referred)")
    ax.set_ylabel("Draws at or below (%)")
    ax.set_ylim(0, 100)
    set_titles(ax, title, subtitle)
    legend_outside(ax, title=f"yield {yield_pct:.1f} %")
    return fig
