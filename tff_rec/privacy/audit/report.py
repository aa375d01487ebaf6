"""The audit's outputs: ``audit.json``, its table, and the utility/leakage plot."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import numpy as np

from tff_rec.privacy.audit import threat_model

JSON_FILE = "audit.json"
# Keys every row has (None where they do not apply).
ROW_KEYS = (
    "algorithm",
    "config",
    "attack",
    "party",
    "tensors_read",
    "auc",
    "auc_ci_low",
    "auc_ci_high",
    "epsilon_accountant",
    "epsilon_empirical",
    "epsilon_empirical_ci_low",
    "epsilon_empirical_ci_high",
    "broken_dp",
)
TABLE_FILE = "audit.md"
PLOT_FILE = "audit.png"


def new_row(
    algorithm: str, config: str, attack: str, party: threat_model.Party
) -> dict[str, Any]:
    """A result row with every `ROW_KEYS` key (``broken_dp`` False)."""
    row: dict[str, Any] = dict.fromkeys(ROW_KEYS)
    row.update(algorithm=algorithm, config=config, attack=attack, party=party.value)
    row["broken_dp"] = False
    return row


def _clean(value: Any) -> Any:
    """JSON-safe: non-finite floats become None, tuples lists."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def clean_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rows as strict JSON values (an infinite epsilon becomes null)."""
    return [_clean(dict(row)) for row in rows]


def threat_model_dict() -> dict[str, dict[str, list[str]]]:
    """party -> configuration -> what the party receives."""
    return {
        party.value: {
            config.name: sorted(o.value for o in threat_model.visible(party, config))
            for config in threat_model.CONFIGURATIONS
        }
        for party in threat_model.Party
    }


def write_json(
    path: str | os.PathLike, rows, options=None, *, complete: bool = True
) -> None:
    """Writes ``{"complete", "options", "threat_model", "rows"}`` to `path`
    (atomically); ``complete`` is False for the rows of an unfinished audit."""
    document = {
        "complete": complete,
        "options": None if options is None else _clean(dataclasses.asdict(options)),
        "threat_model": threat_model_dict(),
        "rows": clean_rows(rows),
    }
    write_text(path, json.dumps(document, indent=1, allow_nan=False) + "\n")


def write_text(path: str | os.PathLike, text: str) -> None:
    temporary = f"{os.fspath(path)}.tmp"
    with open(temporary, "w") as f:
        f.write(text)
    os.replace(temporary, path)


def _number(value, digits=3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and not math.isfinite(value):
        return "∞"
    return f"{value:.{digits}f}"


def _interval(row, key, digits=3) -> str:
    value = row.get(key)
    if value is None:
        return "–"
    low, high = row.get(f"{key}_ci_low"), row.get(f"{key}_ci_high")
    text = _number(value, digits)
    if low is not None or high is not None:
        text += f" [{_number(low, digits)}, {_number(high, digits)}]"
    return text


def _detail(row) -> str:
    attack = row["attack"]
    if attack == "interaction":
        cohort = row.get("cohort", 1)
        parts = [f"precision {_interval(row, 'precision', 2)}"]
        if cohort and cohort > 1:
            parts.append(f"sum of {cohort}")
        if row.get("auc_without_target") is not None:
            parts.append(
                f"AUC from the sum without the target "
                f"{_number(row['auc_without_target'])}"
            )
        if row.get("decoy_rows"):
            parts.append(f"{row['decoy_rows']} decoys")
        return "; ".join(parts)
    if attack == "rating_value":
        if row.get("rmse") is None:
            return row.get("note", "")
        return (
            f"RMSE {_interval(row, 'rmse', 2)} vs user mean "
            f"{_number(row.get('rmse_user_mean'), 2)}"
        )
    if attack == "membership":
        text = (
            f"TPR@1% {_number(row.get('tpr_at_0.01_fpr'))}, "
            f"TPR@0.1% {_number(row.get('tpr_at_0.001_fpr'))}"
        )
        if row.get("tpr_at_0.01_fpr_dp_bound") is not None:
            text += f" (DP bound {_number(row['tpr_at_0.01_fpr_dp_bound'])})"
        return text
    if attack == "canary_epsilon":
        return f"{row.get('canaries_inserted')} canaries" + (
            ", noise 10x below the accountant's" if row.get("broken_dp") else ""
        )
    return ""


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A Markdown table: configuration x attack -> AUC [95% CI], the attack's
    other figures, the accountant's and the empirical epsilon."""
    lines = [
        "| algorithm | configuration | attack | AUC [95% CI] | detail "
        "| accountant ε | empirical ε [95% CI] |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            "| "
            + " | ".join(
                [
                    row["algorithm"],
                    row["config"],
                    row["attack"],
                    _interval(row, "auc"),
                    _detail(row),
                    _number(row.get("epsilon_accountant"), 2),
                    _interval(row, "epsilon_empirical", 2),
                ]
            )
            + " |"
        )
    return "\n".join(lines) + "\n"


def _end(row, side: str) -> float:
    """An end of the empirical epsilon's interval (the estimate when absent;
    an infinite end is drawn at twice the estimate)."""
    end = row.get(f"epsilon_empirical_ci_{side}")
    if end is None:
        return row["epsilon_empirical"]
    if not math.isfinite(end):
        return 2 * row["epsilon_empirical"]
    return end


def plot_utility_vs_leakage(rows: Sequence[Mapping[str, Any]], path) -> None:
    """Writes a PNG: test RMSE against membership AUC (left) and the
    empirical against the accountant's epsilon (right), per training run.

    Needs matplotlib (see BUILD_NOTES.md).
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    algorithms = sorted({row["algorithm"] for row in rows})
    markers = dict(zip(algorithms, "os^D", strict=False))
    for algorithm in algorithms:
        members = [
            r
            for r in rows
            if r["algorithm"] == algorithm
            and r["attack"] == "membership"
            and r.get("test_rmse") is not None
        ]
        left.scatter(
            [r["auc"] for r in members],
            [r["test_rmse"] for r in members],
            marker=markers[algorithm],
            label=algorithm,
        )
        for r in members:
            eps = r.get("epsilon_accountant")
            left.annotate(
                "no DP" if eps is None else f"ε={eps:g}",
                (r["auc"], r["test_rmse"]),
                textcoords="offset points",
                xytext=(5, 4),
                fontsize=8,
            )
        canary = [
            r
            for r in rows
            if r["algorithm"] == algorithm
            and r["attack"] == "canary_epsilon"
            and r.get("epsilon_empirical") is not None
        ]
        for broken in (False, True):
            points = [r for r in canary if bool(r.get("broken_dp")) is broken]
            if not points:
                continue
            x = [r["epsilon_accountant"] for r in points]
            y = [r["epsilon_empirical"] for r in points]
            low = [r["epsilon_empirical"] - _end(r, "low") for r in points]
            high = [_end(r, "high") - r["epsilon_empirical"] for r in points]
            right.errorbar(
                x,
                y,
                yerr=[low, high],
                fmt=markers[algorithm],
                color="tab:red" if broken else None,
                label=f"{algorithm}" + (" (broken: noise / 10)" if broken else ""),
                capsize=3,
            )
    left.axvline(0.5, color="grey", lw=0.8, ls=":")
    left.set_xlabel("membership inference AUC on the released model (0.5 = chance)")
    left.set_ylabel("test RMSE (lower is better)")
    left.set_title("Utility vs leakage")
    left.legend(fontsize=8)
    top = max(
        [1.0]
        + [
            float(r.get("epsilon_accountant") or 0)
            for r in rows
            if r["attack"] == "canary_epsilon"
        ]
    )
    right.plot(
        [0, top],
        [0, top],
        color="grey",
        lw=0.8,
        ls="--",
        label="empirical = accountant",
    )
    right.set_xlabel("accountant ε (the guarantee)")
    right.set_ylabel("empirical ε from canaries")
    right.set_title("Is the guarantee met?")
    right.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
