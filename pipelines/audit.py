r"""Empirical privacy audit: what each party can infer, for every privacy setting.

Audits reconstruction and FedAvg on ML-100K with 50 clients per round: the
server's view of one round's uploads under each configuration (plain,
quantized, top-k, sparse rows, decoys, secure aggregation, central DP,
DP with secure aggregation), membership inference on the released model
without DP and with DP at epsilon 1, 5 and 8, and the one-shot empirical
epsilon of each DP run from canary clients:

  python -m pipelines.audit --output_dir=/tmp/audit

A quicker look (one algorithm, fewer rounds and clients):

  python -m pipelines.audit --output_dir=/tmp/audit --algorithms=fedrecon \
      --rounds=10 --audited_clients=30 --shadow_clients=30 --cohorts=1,10 \
      --clients_per_round=20 --epsilons=5

Writes ``audit.json`` (the options, the threat model and one row per
result; rewritten after each stage with ``"complete": false`` until the
audit ends, so an interrupted audit keeps what it measured), ``audit.md``
(the table it prints) and ``audit.png`` (utility vs leakage) into
--output_dir. What each attack reads and assumes is in
`tff_rec.privacy.audit`.
"""

from __future__ import annotations

import os

from absl import app
from absl import flags

from tff_rec import cli
from tff_rec.data import loaders
from tff_rec.privacy.audit import report
from tff_rec.privacy.audit import runner
from tff_rec.privacy.audit import threat_model
from tff_rec.runtime import selection

_DEFAULTS = runner.AuditOptions()

_OUTPUT_DIR = flags.DEFINE_string(
    "output_dir", None, "Folder for audit.json, audit.md and audit.png."
)
_DATASET = flags.DEFINE_enum(
    "dataset", _DEFAULTS.dataset, sorted(loaders.DATASETS), "Dataset."
)
_DATA_DIR = flags.DEFINE_string(
    "data_dir", None, "The data's folder; default: ML-100K from the cache."
)
_CACHE_DIR = flags.DEFINE_string("cache_dir", None, "Download cache.")
_RATING_SCALE = flags.DEFINE_string(
    "rating_scale",
    None,
    "min,max: the rating scale of --dataset=csv, which its DP runs need "
    "(as for pipelines.train).",
)
_ALGORITHMS = flags.DEFINE_list(
    "algorithms", list(_DEFAULTS.algorithms), "Algorithms to audit."
)
_ROUNDS = flags.DEFINE_integer("rounds", _DEFAULTS.rounds, "Rounds of each run.")
_CLIENTS_PER_ROUND = flags.DEFINE_integer(
    "clients_per_round", _DEFAULTS.clients_per_round, "Clients per round."
)
_NON_MEMBER_FRACTION = flags.DEFINE_float(
    "non_member_fraction",
    _DEFAULTS.non_member_fraction,
    "Fraction of users held out of training (membership inference's non-members).",
)
_AUDITED_CLIENTS = flags.DEFINE_integer(
    "audited_clients", _DEFAULTS.audited_clients, "Clients whose uploads are attacked."
)
_SHADOW_CLIENTS = flags.DEFINE_integer(
    "shadow_clients",
    _DEFAULTS.shadow_clients,
    "Clients that calibrate the rating-value attack and fill secure sums.",
)
_EPSILONS = flags.DEFINE_list(
    "epsilons",
    [f"{e:g}" for e in _DEFAULTS.epsilons],
    "Target epsilons of the DP runs (empty: no DP run).",
)
_DELTA = flags.DEFINE_float("delta", None, "DP delta; default 1/N^1.1.")
_CANARIES = flags.DEFINE_integer(
    "canaries", _DEFAULTS.canaries, "Canary clients inserted into each DP run."
)
_HELD_OUT_CANARIES = flags.DEFINE_integer(
    "held_out_canaries", _DEFAULTS.held_out_canaries, "Canaries never inserted."
)
_CONFIGURATIONS = flags.DEFINE_list(
    "configurations",
    None,
    "Configurations whose server view is attacked; default all of: "
    + ", ".join(c.name for c in threat_model.CONFIGURATIONS),
)
_COHORTS = flags.DEFINE_list(
    "cohorts",
    [str(c) for c in _DEFAULTS.cohorts],
    "Cohort sizes of the secure sums attacked.",
)
_SEED = flags.DEFINE_integer("seed", _DEFAULTS.seed, "Seed.")
_BOOTSTRAP = flags.DEFINE_integer(
    "bootstrap", _DEFAULTS.bootstrap, "Bootstrap resamples per confidence interval."
)
flags.mark_flag_as_required("output_dir")


def _numbers(name: str, values: list[str], kind) -> tuple:
    parsed = []
    for value in values:
        try:
            parsed.append(kind(value))
        except ValueError:
            cli.fail(f"--{name}: {value!r} is not a {kind.__name__}")
    return tuple(parsed)


def options_from_flags() -> runner.AuditOptions:
    """The `runner.AuditOptions` the flags describe (checked)."""
    return runner.AuditOptions(
        dataset=_DATASET.value,
        data_dir=_DATA_DIR.value,
        cache_dir=_CACHE_DIR.value,
        rating_scale=_RATING_SCALE.value,
        algorithms=tuple(_ALGORITHMS.value),
        rounds=_ROUNDS.value,
        clients_per_round=_CLIENTS_PER_ROUND.value,
        non_member_fraction=_NON_MEMBER_FRACTION.value,
        audited_clients=_AUDITED_CLIENTS.value,
        shadow_clients=_SHADOW_CLIENTS.value,
        epsilons=_numbers("epsilons", _EPSILONS.value, float),
        delta=_DELTA.value,
        canaries=_CANARIES.value,
        held_out_canaries=_HELD_OUT_CANARIES.value,
        configurations=None
        if _CONFIGURATIONS.value is None
        else tuple(_CONFIGURATIONS.value),
        cohorts=_numbers("cohorts", _COHORTS.value, int),
        seed=_SEED.value,
        bootstrap=_BOOTSTRAP.value,
    )


def main(argv):
    if len(argv) > 1:
        cli.fail(f"unexpected arguments: {' '.join(argv[1:])}")
    with cli.user_errors_exit():
        options = options_from_flags()
        output_dir = _OUTPUT_DIR.value
        if os.path.exists(output_dir) and not os.path.isdir(output_dir):
            cli.fail(f"--output_dir={output_dir} exists and is not a folder")
        os.makedirs(output_dir, exist_ok=True)
        selection.install_runtime()
        path = os.path.join(output_dir, report.JSON_FILE)
        rows = runner.run_audit(
            options,
            on_rows=lambda rows: report.write_json(path, rows, options, complete=False),
        )
        report.write_json(path, rows, options)
        table = report.format_table(rows)
        report.write_text(os.path.join(output_dir, report.TABLE_FILE), table)
        print(table, flush=True)
        try:
            report.plot_utility_vs_leakage(
                rows, os.path.join(output_dir, report.PLOT_FILE)
            )
        except ImportError:
            print(
                f"{report.PLOT_FILE} not written: matplotlib is not installed "
                "(pip install -r requirements.txt installs it)",
                flush=True,
            )
        print(f"Wrote {output_dir}/{report.JSON_FILE}", flush=True)


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
