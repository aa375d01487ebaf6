r"""Figures of the benchmarks, drawn from their recorded JSON.

Each benchmark that has a figure calls `draw` after writing its JSON, and the
PNG lands next to it (``quality_ml100k.json`` -> ``quality_ml100k.png``).
This entry point redraws every figure from the recorded results, without
running anything:

  python -m benchmarks.figures --results_dir=benchmarks/results

Needs matplotlib (an optional dependency, see BUILD_NOTES.md); without it
`draw` says so and returns False, and the benchmarks still write their JSON.
"""

from __future__ import annotations

import glob
import json
import os
import sys
from collections.abc import Callable

from absl import app
from absl import flags

from tff_rec import cli

_RESULTS_DIR = flags.DEFINE_string(
    "results_dir", "benchmarks/results", "Folder of the recorded benchmark JSON."
)

_DPI = 110


def _pyplot():
    """matplotlib's pyplot on the file-only Agg backend, or None."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    from matplotlib import pyplot

    return pyplot


def _convergence(plt, figures: dict):
    """Test RMSE vs round: FedAvg and reconstruction vs the two baselines."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    labels = {
        "fedrecon": "Federated Reconstruction",
        "fedavg": "FedAvg (unweighted)",
    }
    for name, label in labels.items():
        curve = figures["curves"][name]
        ax.plot(curve["round"], curve["test_rmse"], marker="o", ms=3, label=label)
    ax.axhline(
        figures["centralized_test_rmse"],
        color="black",
        ls="--",
        label="centralized (pooled data)",
    )
    ax.axhline(
        figures["local_only_test_rmse"],
        color="grey",
        ls=":",
        label="local-only (each user alone)",
    )
    ax.set_xlabel("round")
    ax.set_ylabel("test RMSE")
    ax.set_title("MovieLens-100K: federated vs centralized vs local-only")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


_CURVE_LABELS = {
    "fedrecon": "DP Federated Reconstruction",
    "dp_als": "DP alternating least squares",
}


def _privacy_utility(plt, rows: list):
    """Test RMSE vs epsilon: each algorithm, DP bias-only, the floors.

    Rows without ``algorithm`` (the ML-100K run) are reconstruction's."""
    curves: dict[str, list] = {}
    for row in rows:
        if "model" not in row:
            curves.setdefault(row.get("algorithm", "fedrecon"), []).append(row)
    bias_dp = sorted(
        (r for r in rows if r.get("model") == "bias_only_dp"),
        key=lambda r: r["epsilon"],
    )
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    delta = None
    for k, (algorithm, curve) in enumerate(curves.items()):
        color = f"C{k}"
        private = sorted(
            (r for r in curve if r.get("target_epsilon") is not None),
            key=lambda r: r["epsilon"],
        )
        label = _CURVE_LABELS.get(algorithm, algorithm)
        ax.errorbar(
            [r["epsilon"] for r in private],
            [r["test_rmse"] for r in private],
            yerr=[r.get("test_rmse_std", 0.0) for r in private],
            marker="o",
            color=color,
            capsize=3,
            label=label,
        )
        if private:
            delta = private[0]["delta"]
        for row in curve:
            if row.get("target_epsilon") is None:
                ax.axhline(
                    row["test_rmse"], color=color, ls="--", label=f"{label}, no DP"
                )
    ax.plot(
        [r["epsilon"] for r in bias_dp],
        [r["test_rmse"] for r in bias_dp],
        marker="s",
        color="grey",
        label="DP bias-only model (one release)",
    )
    for row in rows:
        if row.get("model") == "bias_only":
            ax.axhline(
                row["test_rmse"], color="black", ls=":", label="bias-only, no DP"
            )
    ax.set_xlabel(f"epsilon (user level, delta = {delta:.2g})" if delta else "epsilon")
    ax.set_ylabel("test RMSE")
    many = any(r.get("clients_per_round", 0) > 943 for r in rows if "model" not in r)
    ax.set_title(
        "MovieLens-1M, 6,040 users: privacy vs utility"
        if many
        else "MovieLens-100K, 943 users: privacy vs utility"
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def _communication(plt, rows: list):
    """Test RMSE vs bytes uploaded per round, one point per setting.

    Settings that also quantize the broadcast to 8 bits (4x fewer bytes
    down, the same upload) are hollow markers at their upload's place.
    """
    fig, ax = plt.subplots(figsize=(6.8, 4.4))
    for row in rows:
        dp = "dp" in row["config"]
        quantized = row.get("broadcast_reduction", 1.0) > 1.0
        color = "tab:red" if dp else "tab:blue"
        ax.scatter(
            row["bytes_up_per_round"],
            row["test_rmse"],
            marker="^" if dp else "o",
            s=60 if quantized else 30,
            facecolors="none" if quantized else color,
            edgecolors=color,
        )
        if dp or not quantized:
            ax.annotate(
                row["config"],
                (row["bytes_up_per_round"], row["test_rmse"]),
                textcoords="offset points",
                xytext=(5, 4),
                fontsize=8,
            )
    ax.scatter([], [], color="tab:blue", label="dense broadcast")
    ax.scatter(
        [], [], facecolors="none", edgecolors="tab:blue", s=60, label="8-bit broadcast"
    )
    ax.scatter([], [], color="tab:red", marker="^", label="with DP")
    ax.set_xscale("log")
    ax.set_xlabel("bytes uploaded per round (all clients, log scale)")
    ax.set_ylabel("test RMSE")
    ax.set_title("MovieLens-100K: communication vs accuracy")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="center right")
    return fig


def _runtime(plt, figures: dict):
    """Training throughput (examples/s) of each runtime and of Keras."""
    bars = [
        ("TFF C++ runtime", figures["tff_cpp_examples_per_second"]),
        ("in-process runtime", figures["inprocess_examples_per_second"]),
        (
            f"Keras, batch {figures['batch_size']}",
            figures["centralized_examples_per_second"],
        ),
        (
            f"Keras, batch {figures['centralized_large_batch_size']}",
            figures["centralized_large_batch_examples_per_second"],
        ),
    ]
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    names = [name for name, _ in bars]
    values = [value for _, value in bars]
    ax.barh(names, values, color=["tab:grey", "tab:blue", "tab:green", "tab:olive"])
    for index, value in enumerate(values):
        ax.text(value, index, f" {value:,.0f}", va="center", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlim(min(values) / 3, max(values) * 3)
    ax.set_xlabel("training examples per second (log scale)")
    ax.set_title(
        f"ML-100K, {figures['clients_per_round']} clients per round, "
        f"batch {figures['batch_size']}"
    )
    ax.invert_yaxis()
    ax.grid(alpha=0.3, axis="x", which="both")
    return fig


# Benchmark name (its JSON's stem) -> how its figure is drawn.
DRAWERS: dict[str, Callable] = {
    "quality_ml100k": _convergence,
    "privacy_utility": _privacy_utility,
    "communication": _communication,
    "runtime_speed": _runtime,
}


def draw(name: str, figures, png_path: str | os.PathLike) -> bool:
    """Draws benchmark `name`'s figure from its recorded `figures` into a PNG.

    Args:
      name: a key of `DRAWERS` (the benchmark's module name).
      figures: what the benchmark wrote to its JSON.
      png_path: the PNG to write.

    Returns:
      True when the PNG was written; False when matplotlib is not installed
      (a note on stderr says so).
    """
    plt = _pyplot()
    if plt is None:
        print(
            f"matplotlib is not installed: skipped {png_path} (see BUILD_NOTES.md)",
            file=sys.stderr,
        )
        return False
    fig = DRAWERS[name](plt, figures)
    fig.tight_layout()
    fig.savefig(png_path, dpi=_DPI)
    plt.close(fig)
    return True


def png_path_for(json_path: str | os.PathLike) -> str:
    """The figure's path beside a benchmark's JSON (same stem, ``.png``)."""
    return os.path.splitext(os.fspath(json_path))[0] + ".png"


def draw_beside(name: str, figures, json_path: str | os.PathLike) -> None:
    """Draws `name`'s figure next to its JSON and says where it went."""
    png = png_path_for(json_path)
    if draw(name, figures, png):
        print(f"Wrote {png}", flush=True)


def redraw_all(results_dir: str | os.PathLike) -> list[str]:
    """Redraws the figure of every benchmark whose JSON is in `results_dir`.

    Returns:
      The PNGs written.
    """
    written = []
    for name in DRAWERS:
        # The benchmark's default output, and its runs on other data
        # (``privacy_utility_ml1m.json``).
        paths = [os.path.join(results_dir, name + ".json")]
        paths += sorted(glob.glob(os.path.join(results_dir, name + "_*.json")))
        for json_path in paths:
            if not os.path.exists(json_path):
                continue
            with open(json_path) as f:
                figures = json.load(f)
            png = png_path_for(json_path)
            if draw(name, figures, png):
                written.append(str(png))
    return written


def main(argv):
    del argv
    if not os.path.isdir(_RESULTS_DIR.value):
        cli.fail(f"--results_dir={_RESULTS_DIR.value} is not a folder")
    for png in redraw_all(_RESULTS_DIR.value):
        print(f"Wrote {png}")


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
