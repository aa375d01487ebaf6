"""Curves of a finished (or running) run, drawn from its ``metrics.csv``.

One panel per kind of metric the run recorded: the training loss, the test
metrics (with the centralized and local-only baselines from
``results.json`` as horizontal lines when the run measured them), epsilon
for a DP run and the bytes per round. Needs matplotlib (see BUILD_NOTES.md).
"""

from __future__ import annotations

import json
import os
import pathlib

from tff_rec import errors
from tff_rec.training import metrics_writer

CURVES_FILE = "curves.png"
# Panels in order: title, and the columns drawn in it when present.
_PANELS = (
    ("training loss", ("train_loss",)),
    ("test RMSE / MAE", ("test_rmse", "test_mae")),
    ("top-K", ("hr@10", "ndcg@10", "sampled_hr@10", "sampled_ndcg@10")),
    ("epsilon spent", ("epsilon",)),
    ("bytes per round", ("bytes_up", "bytes_down")),
)
# Baselines in results.json drawn beside a test column.
_BASELINES = ("centralized", "local_only")


def _read_results(run_dir: pathlib.Path) -> dict:
    path = run_dir / metrics_writer.RESULTS_FILE
    if not path.exists():
        return {}
    try:
        results = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return results if isinstance(results, dict) else {}


def draw_run_curves(
    run_dir: str | os.PathLike, output_png: str | os.PathLike | None = None
) -> pathlib.Path:
    """Draws a run's curves from its ``metrics.csv`` into a PNG.

    Args:
      run_dir: the run folder (``<root_output_dir>/<experiment_name>``).
      output_png: where to write; None means ``<run_dir>/curves.png``.

    Returns:
      The PNG's path.

    Raises:
      errors.UserInputError: the folder has no readable ``metrics.csv`` rows,
        or matplotlib is not installed.
    """
    run_dir = pathlib.Path(run_dir)
    csv_path = run_dir / metrics_writer.METRICS_FILE
    if not csv_path.is_file():
        raise errors.UserInputError(f"{csv_path} does not exist: not a run folder")
    try:
        rows = metrics_writer.read_rows(csv_path)
    except (KeyError, ValueError, OSError) as e:
        raise errors.UserInputError(f"{csv_path} is not a metrics file ({e})") from e
    if not rows:
        raise errors.UserInputError(f"{csv_path} has no rounds yet")
    try:
        import matplotlib
    except ImportError as e:
        raise errors.UserInputError(
            "drawing curves needs matplotlib (pip install matplotlib==3.8.4)"
        ) from e
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    results = _read_results(run_dir)
    panels = [
        (title, [c for c in columns if any(c in row for row in rows)])
        for title, columns in _PANELS
    ]
    panels = [(title, columns) for title, columns in panels if columns]
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(6.4, 2.4 * len(panels)), sharex=True, squeeze=False
    )
    for ax, (title, columns) in zip(axes[:, 0], panels, strict=True):
        for column in columns:
            points = [(row["round"], row[column]) for row in rows if column in row]
            ax.plot(*zip(*points, strict=True), marker=".", label=column)
            for baseline in _BASELINES:
                value = results.get(f"{baseline}_{column}")
                if isinstance(value, (int, float)):
                    ax.axhline(value, ls="--", lw=1, color="grey")
                    ax.annotate(
                        f"{baseline} {value:.4f}",
                        (0, value),
                        xycoords=("axes fraction", "data"),
                        fontsize=7,
                        va="bottom",
                    )
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[-1, 0].set_xlabel("round")
    fig.suptitle(run_dir.name, fontsize=10)
    fig.tight_layout()
    output_png = run_dir / CURVES_FILE if output_png is None else output_png
    fig.savefig(output_png, dpi=110)
    plt.close(fig)
    return pathlib.Path(output_png)
