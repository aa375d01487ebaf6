r"""Trains a federated recommender and compares it with its baselines.

Runs the whole loop on real data: load -> split -> partition into clients ->
federated training (TFF learning process) -> test evaluation, next to
centralized and local-only training of the same model on the same split.

Default (Federated Reconstruction on MovieLens-100K, one client per user):

  python -m pipelines.train

FedAvg over regional stores (users grouped by zip-code prefix; a cross-silo
partition: every store in every round, 3 local epochs, the server step from
the data, and a per-store table of global, local-only, fine-tuned and
centralized test RMSE; see docs/stores.md):

  python -m pipelines.train --algorithm=fedavg --partition=attribute \
      --partition_attribute=zip_prefix --rounds=50 \
      --experiment_name=stores_fedavg

Outputs go to <root_output_dir>/<experiment_name>/ (hparams.json,
metrics.csv, tensorboard/, checkpoints/, results.json, final_weights.npz);
with --export_dir a TF Serving SavedModel is exported at the end. Bad flags or
data exit with status 2 and a one-line message.

A federated run saves a checkpoint after every round (--checkpoint_every);
rerunning the same command after an interruption resumes from the latest
one, --fresh starts over. Client failures and robustness:

  python -m pipelines.train --dropout_rate=0.3 --min_clients_per_round=20 \
      --robust --malicious_fraction=0.1 --attack=scale \
      --experiment_name=recon_robust
"""

from __future__ import annotations

from absl import app
from absl import flags

from tff_rec import cli
from tff_rec.aggregators import factory as aggregator_factory
from tff_rec.algorithms import config as algorithms_config
from tff_rec.algorithms import optimizers
from tff_rec.data import loaders
from tff_rec.data import partition as partition_lib
from tff_rec.data import splits
from tff_rec.export import exporter
from tff_rec.privacy import accounting
from tff_rec.runtime import selection
from tff_rec.training import config as config_lib
from tff_rec.training import experiment
from tff_rec.training import run_folder
from tff_rec.training import scenarios

_DEFAULTS = config_lib.TrainConfig().flat()


def _choices(enum_type) -> str:
    return ", ".join(member.value for member in enum_type)


def _setting(define, name: str, help_text: str, **kwargs):
    """Defines the flag of setting `name`, with the setting's default."""
    return define(name, _DEFAULTS[name], help_text, **kwargs)


# Data (tff_rec.data.config.DataConfig).
_setting(flags.DEFINE_string, "dataset", "One of: " + ", ".join(loaders.DATASETS) + ".")
_setting(
    flags.DEFINE_string,
    "data_dir",
    "Directory (or CSV file) with the data; default: download ML-100K into the cache.",
)
_setting(
    flags.DEFINE_string,
    "cache_dir",
    "Download cache; default $TFF_REC_CACHE or ~/.cache/tff_rec.",
)
_setting(flags.DEFINE_string, "split", _choices(splits.SplitType) + ".")
_setting(flags.DEFINE_float, "test_fraction", "Per-user test fraction (holdout).")
_setting(
    flags.DEFINE_string,
    "rating_scale",
    "min,max: the rating scale of --dataset=csv (e.g. 1,5); ratings outside it "
    "are refused, and DP runs need it (their global offset is its middle). "
    "MovieLens declares its own (1,5; ml-latest 0.5,5).",
)
_setting(flags.DEFINE_string, "partition", _choices(partition_lib.PartitionType) + ".")
_setting(
    flags.DEFINE_integer,
    "num_clients",
    "Number of clients for iid/dirichlet (and to merge attribute groups).",
)
_setting(
    flags.DEFINE_string,
    "partition_attribute",
    "User attribute of the attribute partition: zip_prefix, occupation, ...",
)
_setting(flags.DEFINE_float, "dirichlet_alpha", "Dirichlet concentration.")
# Model (tff_rec.tasks.config.ModelConfig).
_setting(
    flags.DEFINE_string,
    "task",
    "rating (predict star ratings) or implicit (rank items from interactions, "
    "with sampled negatives).",
)
_setting(
    flags.DEFINE_string,
    "model",
    "mf (rating or implicit), gmf, mlp, neumf or features (implicit).",
)
_setting(
    flags.DEFINE_string, "loss", "Implicit loss: bce (pointwise) or bpr (pairwise)."
)
_setting(
    flags.DEFINE_integer,
    "negatives",
    "Implicit: negatives sampled per positive from the client's unseen items.",
)
_setting(flags.DEFINE_integer, "embedding_dim", "Embedding size.")
_setting(
    flags.DEFINE_float,
    "init_stddev",
    "Standard deviation of the embedding initializer; default: the model's "
    "(0.05 for mf, 0.01 for gmf/mlp/neumf as in the NCF paper).",
)
_setting(
    flags.DEFINE_float,
    "user_init_stddev",
    "gmf/mlp/neumf: the initializer of the user embeddings (0: zeros); "
    "default: --init_stddev.",
)
_setting(flags.DEFINE_float, "l2", "Per-example L2 on embeddings.")
_setting(flags.DEFINE_float, "bias_l2", "Per-example L2 on biases.")
# Federated algorithm (tff_rec.algorithms.config.FederatedConfig).
_setting(flags.DEFINE_string, "algorithm", _choices(algorithms_config.Algorithm) + ".")
_setting(flags.DEFINE_integer, "rounds", "Federated rounds.")
_setting(
    flags.DEFINE_integer,
    "clients_per_round",
    "Clients sampled per round. Left at the default with a cross-silo "
    "partition of fewer clients: every client (store) in every round.",
)
_setting(
    flags.DEFINE_string,
    "client_sampling",
    "uniform (fixed number per round) or poisson (each client independently "
    "with probability clients_per_round/N, which DP accounting assumes).",
)
_setting(
    flags.DEFINE_integer,
    "client_epochs",
    "Local epochs per round (fedrecon: passes after reconstruction; "
    "--reconstruction_epochs sets the passes before). Default: "
    f"{algorithms_config.DEFAULT_CLIENT_EPOCHS}, or "
    f"{algorithms_config.CROSS_SILO_CLIENT_EPOCHS} with a cross-silo partition "
    "(attribute, iid or dirichlet into at most "
    f"{partition_lib.CROSS_SILO_MAX_CLIENTS} clients: stores).",
)
_setting(flags.DEFINE_integer, "batch_size", "Local batch size.")
_setting(
    flags.DEFINE_string,
    "client_optimizer",
    _choices(optimizers.OptimizerType) + ".",
)
_setting(flags.DEFINE_float, "client_learning_rate", "Client step size.")
_setting(
    flags.DEFINE_string,
    "server_optimizer",
    _choices(optimizers.OptimizerType) + ".",
)
_setting(
    flags.DEFINE_float,
    "server_learning_rate",
    "Server step size. Default: per algorithm, "
    + ", ".join(
        f"{a.value} {step:g}"
        for a, step in algorithms_config.TUNED_SERVER_LEARNING_RATE.items()
    )
    + " on data like ML-100K with one client per user, scaled by "
    f"{algorithms_config.TUNED_COVERAGE:g} / (the data's average fraction of "
    "clients holding an item), e.g. about 3 on data where every client holds "
    "half the items. DP runs do not read the data for it: the unscaled step.",
)
_setting(
    flags.DEFINE_float,
    "reconstruction_learning_rate",
    "Step size of the local (user) reconstruction, fedrecon only.",
)
_setting(
    flags.DEFINE_integer,
    "reconstruction_epochs",
    "Reconstruction epochs per round, fedrecon only.",
)
_setting(
    flags.DEFINE_bool,
    "reconstruction_split",
    "fedrecon: reconstruct the user variables on half of a client's batches "
    "and train the global ones on the other half (the paper's split), so the "
    "global variables learn what generalizes to data the user factors were "
    "not fit to. Default: both use all batches.",
)
_setting(flags.DEFINE_integer, "als_dim", "dp_als: latent dimension (0: biases only).")
_setting(
    flags.DEFINE_float, "als_user_l2", "dp_als: ridge weight of each user's solve."
)
_setting(
    flags.DEFINE_float, "als_item_l2", "dp_als: ridge weight of each item's solve."
)
_setting(
    flags.DEFINE_float,
    "als_gram_weight",
    "dp_als: weight of the Gram statistics before the clip (divided back out "
    "on the server; shares the clip, and so the noise, between the parts).",
)
_setting(
    flags.DEFINE_float,
    "als_factor_weight",
    "dp_als: weight of the latent coordinates of the rating-weighted "
    "statistics before the clip (divided back out on the server).",
)
# Aggregation and privacy (tff_rec.privacy.config.PrivacyConfig).
_setting(
    flags.DEFINE_string,
    "aggregator",
    _choices(aggregator_factory.AggregatorType)
    + ". DP aggregators are unweighted: use them with fedavg_unweighted or "
    "fedrecon.",
)
_setting(
    flags.DEFINE_float,
    "noise_multiplier",
    "DP noise stddev (Gaussian) or scale (Laplace) relative to the clip, > 0. "
    "Omit and give --target_epsilon to calibrate it from --rounds and "
    "--clients_per_round.",
)
_setting(
    flags.DEFINE_float,
    "clip",
    "Fixed clip: L2 (dp_gaussian_fixed) or L1 (dp_laplace) norm bound of a "
    "client update. Default: 1.0 (printed in the run's Privacy line); "
    "dp_gaussian_adaptive follows a quantile of the update norms instead.",
)
_setting(
    flags.DEFINE_float,
    "target_quantile",
    "Update-norm quantile the adaptive clip tracks.",
)
_setting(flags.DEFINE_float, "initial_clip", "Starting value of the adaptive clip.")
_setting(
    flags.DEFINE_float,
    "target_epsilon",
    "Privacy budget: training stops before the round that would exceed it.",
)
_setting(flags.DEFINE_float, "delta", "DP delta; default 1/N^1.1 for N clients.")
_setting(
    flags.DEFINE_bool,
    "secure_aggregation",
    "Sum client updates with TFF's secure summation (simulated locally).",
)
_setting(
    flags.DEFINE_string,
    "accountant",
    _choices(accounting.AccountantType)
    + "; default RDP for Gaussian, PLD for Laplace.",
)
_setting(
    flags.DEFINE_string,
    "privacy_unit",
    "client: DP protects a whole client (the DP aggregators). customer: every "
    "store trains with DP-SGD that protects one customer (per-customer "
    "clipping, Poisson-sampled customers, noise added inside the store; "
    "fedavg, task rating, cross-silo partitions; see docs/stores.md).",
)
_setting(
    flags.DEFINE_float,
    "customer_epsilon",
    "privacy_unit=customer: customer-level epsilon of the run (the noise is "
    "calibrated to it; --delta, default 1/customers^1.1).",
)
_setting(
    flags.DEFINE_float,
    "customer_clip",
    "privacy_unit=customer: L2 clip of one customer's contribution to a step.",
)
_setting(
    flags.DEFINE_float,
    "customer_sampling_rate",
    "privacy_unit=customer: probability that a customer joins a step.",
)
_setting(
    flags.DEFINE_integer,
    "customer_steps",
    "privacy_unit=customer: DP-SGD steps per store per round.",
)
# Communication (tff_rec.compression.config.CommunicationConfig).
_setting(
    flags.DEFINE_integer,
    "quantize_bits",
    "Quantize each client's update to this many bits (2..16) before sending.",
)
_setting(
    flags.DEFINE_integer,
    "broadcast_quantize_bits",
    "Quantize the model broadcast to the clients to this many bits (2..16).",
)
_setting(
    flags.DEFINE_float,
    "topk_fraction",
    "Send only this fraction (0, 1] of each update tensor's largest coordinates.",
)
_setting(
    flags.DEFINE_bool,
    "sparse_item_updates",
    "Send only the touched rows of the embedding tables (reveals the rated "
    "items to the server unless --secure_aggregation).",
)
_setting(
    flags.DEFINE_integer,
    "decoy_rows",
    "With --sparse_item_updates and --secure_aggregation: also send this many "
    "random untouched rows per table group.",
)
# Reliability (tff_rec.training.config.ReliabilityConfig).
_setting(
    flags.DEFINE_integer,
    "checkpoint_every",
    "Save a checkpoint every N rounds (and after the last). A rerun with the "
    "same flags resumes from the latest one.",
)
_setting(
    flags.DEFINE_integer,
    "keep_checkpoints",
    "Keep this many of the newest checkpoints (older ones are deleted).",
)
_setting(
    flags.DEFINE_float,
    "dropout_rate",
    "Probability that a sampled client fails mid-round (no update arrives).",
)
_setting(
    flags.DEFINE_integer,
    "min_clients_per_round",
    "Abort a round (model unchanged, run continues) when fewer clients report.",
)
_setting(
    flags.DEFINE_bool,
    "robust",
    "Drop non-finite updates; with the mean aggregator also zero outliers and "
    "clip (adaptive norms, TFF's robust aggregator).",
)
_setting(
    flags.DEFINE_float,
    "malicious_fraction",
    "Simulation: this fraction of the clients (fixed, seeded) is malicious.",
)
_setting(
    flags.DEFINE_string,
    "attack",
    "Simulation: what malicious clients send: nan, scale (100x their update) "
    "or random (N(0, 1) coordinates).",
)
# Evaluation and baselines (tff_rec.evaluation.config.EvaluationConfig).
_setting(
    flags.DEFINE_integer, "eval_every", "Evaluate on the test split every N rounds."
)
_setting(flags.DEFINE_integer, "top_k", "Implicit: K of HR@K, NDCG@K, Recall@K.")
_setting(
    flags.DEFINE_integer,
    "eval_negatives",
    "Implicit: sampled negatives per test item for the sampled_* metrics.",
)
_setting(
    flags.DEFINE_integer,
    "personalize_steps",
    "Implicit: after training, each client fine-tunes the model for this many "
    "steps and is scored on its own test data (0: no personalization).",
)
_setting(flags.DEFINE_bool, "baselines", "Also train centralized and local-only.")
_setting(
    flags.DEFINE_integer,
    "centralized_epochs",
    "Epochs of the centralized and local-only baselines.",
)
_setting(
    flags.DEFINE_float,
    "centralized_l2",
    "Per-example L2 on embeddings for the centralized and local-only baselines "
    "(tuned separately: pooled full-batch-style training overfits sooner).",
)
_setting(
    flags.DEFINE_float,
    "centralized_learning_rate",
    "Adam step size of the centralized and local-only baselines.",
)
_setting(
    flags.DEFINE_integer,
    "centralized_batch_size",
    "Batch size (examples) of the centralized baseline.",
)
# The run.
_setting(flags.DEFINE_integer, "seed", "Seed of split, sampling, init.")
_setting(flags.DEFINE_string, "root_output_dir", "Where experiment folders go.")
_setting(flags.DEFINE_string, "experiment_name", "Name of this run's folder.")
_SCENARIO = _setting(
    flags.DEFINE_string,
    "scenario",
    "A preset of the flags above: "
    + ", ".join(sorted(scenarios.SCENARIOS))
    + ". Flags given explicitly override it; see --describe_scenario.",
)
_DESCRIBE_SCENARIO = flags.DEFINE_bool(
    "describe_scenario", False, "Print the settings of --scenario and exit."
)
_FRESH = flags.DEFINE_bool(
    "fresh",
    False,
    "Delete the metrics, results and checkpoints of an earlier run in the "
    "output folder and start over instead of resuming.",
)
_EXPORT_DIR = flags.DEFINE_string(
    "export_dir",
    None,
    "After training, export a TF Serving SavedModel to "
    "<export_dir>/<experiment_name>/<version>/ (see pipelines.export).",
)


def config_from_flags() -> config_lib.TrainConfig:
    """The run's config: the scenario's presets, then the flags given."""
    explicit = {
        name: flags.FLAGS[name].value
        for name in _DEFAULTS
        if name != "scenario" and not flags.FLAGS[name].using_default_value
    }
    return scenarios.make_config(_SCENARIO.value, explicit)


_WORKERS = flags.DEFINE_string(
    "workers",
    None,
    "Run the federated computation on these TFF workers (host:port,...; start "
    "each with `python -m pipelines.worker --port=P`). Insecure gRPC: private "
    "networks only. Needs --runtime=tff_cpp (the default when --workers is "
    "given).",
)
_WORKERS_CONNECT_TIMEOUT = flags.DEFINE_float(
    "workers_connect_timeout",
    None,
    "Seconds to wait for each of --workers to accept a connection before "
    "giving up (exit status 4). Default: 30.",
)
_WORKERS_CALL_TIMEOUT = flags.DEFINE_float(
    "workers_call_timeout",
    None,
    "Deadline in seconds of every call to --workers: a worker that dies or "
    "does not answer within it stops the run with exit status 4, keeping the "
    "checkpoint (rerun the same command once the worker is back). Raise it "
    "for rounds that take longer on a worker. Default: 60.",
)
_RUNTIME = flags.DEFINE_enum(
    "runtime",
    None,
    [runtime.value for runtime in selection.RuntimeType],
    "What executes the rounds. inprocess: this process runs each round's "
    "clients many per TensorFlow graph run, on a GPU when one is visible "
    "(same results as tff_cpp to float32 rounding; about 11x faster per round on "
    "a 2-core CPU, see the README). tff_cpp: TFF's C++ runtime, on a worker "
    "process this run owns or on --workers. Default: inprocess, or tff_cpp "
    "with --workers.",
)


def main(argv):
    del argv
    with cli.user_errors_exit():
        if _DESCRIBE_SCENARIO.value:
            print(scenarios.describe(_SCENARIO.value), flush=True)
            return
        config = config_from_flags()
        if _EXPORT_DIR.value:
            exporter.check_exportable(
                algorithm=config.algorithm.value, task=config.task.value
            )
        selection.install_runtime(
            runtime=_RUNTIME.value,
            simulate_secure_aggregation=config.privacy.secure_aggregation,
            workers=_WORKERS.value,
            workers_connect_timeout=_WORKERS_CONNECT_TIMEOUT.value,
            workers_call_timeout=_WORKERS_CALL_TIMEOUT.value,
        )
        results = experiment.run_experiment(config, fresh=_FRESH.value)
        print(experiment.format_results_table(results), flush=True)
        run_dir = run_folder.path(config)
        print(f"Wrote {run_dir}/", flush=True)
        if _EXPORT_DIR.value:
            path = exporter.export_run(run_dir, _EXPORT_DIR.value)
            print(f"Exported {path}", flush=True)


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
