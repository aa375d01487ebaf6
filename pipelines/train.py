r"""Trains a federated recommender and compares it with its baselines.

Runs the whole loop on real data: load -> split -> partition into clients ->
federated training (TFF learning process) -> test evaluation, next to
centralized and local-only training of the same model on the same split.

Default (Federated Reconstruction on MovieLens-100K, one client per user):

  python -m pipelines.train

FedAvg over regional stores (users grouped by zip-code prefix):

  python -m pipelines.train --algorithm=fedavg --partition=attribute \
      --partition_attribute=zip_prefix --clients_per_round=5 --rounds=50 \
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

import pathlib

from absl import app
from absl import flags

from pipelines import common
from tff_rec import errors
from tff_rec.training import config as config_lib
from tff_rec.training import scenarios

_DEFAULTS = config_lib.TrainConfig()

_DATASET = flags.DEFINE_string(
    "dataset",
    _DEFAULTS.dataset,
    "ml-100k, ml-100k-original, ml-1m, ml-latest, " "ml-latest-small or csv.",
)
_DATA_DIR = flags.DEFINE_string(
    "data_dir",
    None,
    "Directory (or CSV file) with the data; default: download "
    "ML-100K into the cache.",
)
_CACHE_DIR = flags.DEFINE_string(
    "cache_dir", None, "Download cache; default $TFF_REC_CACHE or ~/.cache/tff_rec."
)
_SPLIT = flags.DEFINE_string(
    "split", _DEFAULTS.split.value, "holdout, leave_last_out or held_out_users."
)
_TEST_FRACTION = flags.DEFINE_float(
    "test_fraction", _DEFAULTS.test_fraction, "Per-user test fraction (holdout)."
)
_PARTITION = flags.DEFINE_string(
    "partition", _DEFAULTS.partition.value, "user, attribute, iid or dirichlet."
)
_NUM_CLIENTS = flags.DEFINE_integer(
    "num_clients",
    None,
    "Number of clients for iid/dirichlet (and to merge " "attribute groups).",
)
_ATTRIBUTE = flags.DEFINE_string(
    "partition_attribute",
    _DEFAULTS.partition_attribute,
    "User attribute of the attribute partition: zip_prefix, occupation, ...",
)
_ALPHA = flags.DEFINE_float(
    "dirichlet_alpha", _DEFAULTS.dirichlet_alpha, "Dirichlet concentration."
)
_ALGORITHM = flags.DEFINE_string(
    "algorithm",
    _DEFAULTS.algorithm.value,
    "fedavg, fedavg_unweighted, fedrecon, centralized or local_only.",
)
_ROUNDS = flags.DEFINE_integer("rounds", _DEFAULTS.rounds, "Federated rounds.")
_CLIENTS_PER_ROUND = flags.DEFINE_integer(
    "clients_per_round", _DEFAULTS.clients_per_round, "Clients sampled per round."
)
_CLIENT_EPOCHS = flags.DEFINE_integer(
    "client_epochs",
    _DEFAULTS.client_epochs,
    "Local epochs per round (fedrecon: passes after reconstruction; "
    "--reconstruction_epochs sets the passes before).",
)
_BATCH_SIZE = flags.DEFINE_integer(
    "batch_size", _DEFAULTS.batch_size, "Local batch size."
)
_CLIENT_OPTIMIZER = flags.DEFINE_string(
    "client_optimizer", _DEFAULTS.client_optimizer.value, "sgd, adam, adagrad, yogi."
)
_CLIENT_LR = flags.DEFINE_float(
    "client_learning_rate", _DEFAULTS.client_learning_rate, "Client step size."
)
_SERVER_OPTIMIZER = flags.DEFINE_string(
    "server_optimizer", _DEFAULTS.server_optimizer.value, "sgd, adam, adagrad, yogi."
)
_SERVER_LR = flags.DEFINE_float(
    "server_learning_rate", _DEFAULTS.server_learning_rate, "Server step size."
)
_RECON_LR = flags.DEFINE_float(
    "reconstruction_learning_rate",
    _DEFAULTS.reconstruction_learning_rate,
    "Step size of the local (user) reconstruction, fedrecon only.",
)
_RECON_EPOCHS = flags.DEFINE_integer(
    "reconstruction_epochs",
    _DEFAULTS.reconstruction_epochs,
    "Reconstruction epochs per round, fedrecon only.",
)
_TASK = flags.DEFINE_string(
    "task",
    _DEFAULTS.task.value,
    "rating (predict star ratings) or implicit (rank items from interactions, "
    "with sampled negatives).",
)
_MODEL = flags.DEFINE_string(
    "model",
    _DEFAULTS.model.value,
    "mf (rating or implicit), gmf, mlp, neumf or features (implicit).",
)
_LOSS = flags.DEFINE_string(
    "loss", _DEFAULTS.loss.value, "Implicit loss: bce (pointwise) or bpr (pairwise)."
)
_NEGATIVES = flags.DEFINE_integer(
    "negatives",
    _DEFAULTS.negatives,
    "Implicit: negatives sampled per positive from the client's unseen items.",
)
_TOP_K = flags.DEFINE_integer(
    "top_k", _DEFAULTS.top_k, "Implicit: K of HR@K, NDCG@K, Recall@K."
)
_EVAL_NEGATIVES = flags.DEFINE_integer(
    "eval_negatives",
    _DEFAULTS.eval_negatives,
    "Implicit: sampled negatives per test item for the sampled_* metrics.",
)
_PERSONALIZE_STEPS = flags.DEFINE_integer(
    "personalize_steps",
    _DEFAULTS.personalize_steps,
    "Implicit: after training, each client fine-tunes the model for this many "
    "steps and is scored on its own test data (0: no personalization).",
)
_RECON_SPLIT = flags.DEFINE_bool(
    "reconstruction_split",
    _DEFAULTS.reconstruction_split,
    "fedrecon: reconstruct the user variables on half of a client's batches "
    "and train the global ones on the other half (the paper's split), so the "
    "global variables learn what generalizes to data the user factors were "
    "not fit to. Default: both use all batches.",
)
_EMBEDDING_DIM = flags.DEFINE_integer(
    "embedding_dim", _DEFAULTS.embedding_dim, "Embedding size."
)
_INIT_STDDEV = flags.DEFINE_float(
    "init_stddev",
    None,
    "Standard deviation of the embedding initializer; default: the model's "
    "(0.05 for mf, 0.01 for gmf/mlp/neumf as in the NCF paper).",
)
_USER_INIT_STDDEV = flags.DEFINE_float(
    "user_init_stddev",
    None,
    "gmf/mlp/neumf: the initializer of the user embeddings (0: zeros); "
    "default: --init_stddev.",
)
_L2 = flags.DEFINE_float("l2", _DEFAULTS.l2, "Per-example L2 on embeddings.")
_BIAS_L2 = flags.DEFINE_float("bias_l2", _DEFAULTS.bias_l2, "Per-example L2 on biases.")
_EVAL_EVERY = flags.DEFINE_integer(
    "eval_every", _DEFAULTS.eval_every, "Evaluate on the test split every N rounds."
)
_AGGREGATOR = flags.DEFINE_string(
    "aggregator",
    _DEFAULTS.aggregator.value,
    "mean, dp_gaussian_adaptive, dp_gaussian_fixed or dp_laplace. DP "
    "aggregators are unweighted: use them with fedavg_unweighted or fedrecon.",
)
_NOISE_MULTIPLIER = flags.DEFINE_float(
    "noise_multiplier",
    None,
    "DP noise stddev (Gaussian) or scale (Laplace) relative to the clip. Omit "
    "and give --target_epsilon to calibrate it from --rounds and "
    "--clients_per_round.",
)
_CLIP = flags.DEFINE_float(
    "clip", None, "Fixed clip: L2 (dp_gaussian_fixed) or L1 (dp_laplace) norm bound."
)
_TARGET_QUANTILE = flags.DEFINE_float(
    "target_quantile", None, "Update-norm quantile the adaptive clip tracks."
)
_INITIAL_CLIP = flags.DEFINE_float(
    "initial_clip", None, "Starting value of the adaptive clip."
)
_TARGET_EPSILON = flags.DEFINE_float(
    "target_epsilon",
    None,
    "Privacy budget: training stops before the round that would exceed it.",
)
_DELTA = flags.DEFINE_float("delta", None, "DP delta; default 1/N^1.1 for N clients.")
_SECURE = flags.DEFINE_bool(
    "secure_aggregation",
    False,
    "Sum client updates with TFF's secure summation (simulated locally).",
)
_CLIENT_SAMPLING = flags.DEFINE_string(
    "client_sampling",
    _DEFAULTS.client_sampling,
    "uniform (fixed number per round) or poisson (each client independently "
    "with probability clients_per_round/N, which DP accounting assumes).",
)
_ACCOUNTANT = flags.DEFINE_string(
    "accountant", None, "rdp or pld; default RDP for Gaussian, PLD for Laplace."
)
_CHECKPOINT_EVERY = flags.DEFINE_integer(
    "checkpoint_every",
    _DEFAULTS.checkpoint_every,
    "Save a checkpoint every N rounds (and after the last). A rerun with the "
    "same flags resumes from the latest one.",
)
_FRESH = flags.DEFINE_bool(
    "fresh",
    False,
    "Delete the metrics, results and checkpoints of an earlier run in the "
    "output folder and start over instead of resuming.",
)
_DROPOUT_RATE = flags.DEFINE_float(
    "dropout_rate",
    _DEFAULTS.dropout_rate,
    "Probability that a sampled client fails mid-round (no update arrives).",
)
_MIN_CLIENTS_PER_ROUND = flags.DEFINE_integer(
    "min_clients_per_round",
    None,
    "Abort a round (model unchanged, run continues) when fewer clients report.",
)
_ROBUST = flags.DEFINE_bool(
    "robust",
    _DEFAULTS.robust,
    "Drop non-finite updates; with the mean aggregator also zero outliers and "
    "clip (adaptive norms, TFF's robust aggregator).",
)
_MALICIOUS_FRACTION = flags.DEFINE_float(
    "malicious_fraction",
    _DEFAULTS.malicious_fraction,
    "Simulation: this fraction of the clients (fixed, seeded) is malicious.",
)
_ATTACK = flags.DEFINE_string(
    "attack",
    None,
    "Simulation: what malicious clients send: nan, scale (100x their update) "
    "or random (N(0, 1) coordinates).",
)
_QUANTIZE_BITS = flags.DEFINE_integer(
    "quantize_bits",
    None,
    "Quantize each client's update to this many bits (2..16) before sending.",
)
_BROADCAST_QUANTIZE_BITS = flags.DEFINE_integer(
    "broadcast_quantize_bits",
    None,
    "Quantize the model broadcast to the clients to this many bits (2..16).",
)
_TOPK_FRACTION = flags.DEFINE_float(
    "topk_fraction",
    None,
    "Send only this fraction (0, 1] of each update tensor's largest coordinates.",
)
_SPARSE_ITEM_UPDATES = flags.DEFINE_bool(
    "sparse_item_updates",
    False,
    "Send only the touched rows of the embedding tables (reveals the rated "
    "items to the server unless --secure_aggregation).",
)
_DECOY_ROWS = flags.DEFINE_integer(
    "decoy_rows",
    0,
    "With --sparse_item_updates and --secure_aggregation: also send this many "
    "random untouched rows per table group.",
)
_BASELINES = flags.DEFINE_bool(
    "baselines", _DEFAULTS.baselines, "Also train centralized and local-only."
)
_CENTRALIZED_EPOCHS = flags.DEFINE_integer(
    "centralized_epochs",
    _DEFAULTS.centralized_epochs,
    "Epochs of the centralized and local-only baselines.",
)
_CENTRALIZED_L2 = flags.DEFINE_float(
    "centralized_l2",
    _DEFAULTS.centralized_l2,
    "Per-example L2 on embeddings for the centralized and local-only baselines "
    "(tuned separately: pooled full-batch-style training overfits sooner).",
)
_CENTRALIZED_LR = flags.DEFINE_float(
    "centralized_learning_rate",
    _DEFAULTS.centralized_learning_rate,
    "Adam step size of the centralized and local-only baselines.",
)
_CENTRALIZED_BATCH_SIZE = flags.DEFINE_integer(
    "centralized_batch_size",
    _DEFAULTS.centralized_batch_size,
    "Batch size (examples) of the centralized baseline.",
)
_EXPORT_DIR = flags.DEFINE_string(
    "export_dir",
    None,
    "After training, export a TF Serving SavedModel to "
    "<export_dir>/<experiment_name>/<version>/ (see pipelines.export).",
)
_SEED = flags.DEFINE_integer("seed", _DEFAULTS.seed, "Seed of split, sampling, init.")
_ROOT_OUTPUT_DIR = flags.DEFINE_string(
    "root_output_dir", _DEFAULTS.root_output_dir, "Where experiment folders go."
)
_EXPERIMENT_NAME = flags.DEFINE_string(
    "experiment_name", _DEFAULTS.experiment_name, "Name of this run's folder."
)


_SCENARIO = flags.DEFINE_string(
    "scenario",
    None,
    "A preset of the flags above: "
    + ", ".join(sorted(scenarios.SCENARIOS))
    + ". Flags given explicitly override it; see --describe_scenario.",
)
_DESCRIBE_SCENARIO = flags.DEFINE_bool(
    "describe_scenario", False, "Print the settings of --scenario and exit."
)

# TrainConfig field -> its flag.
_CONFIG_FLAGS = {
    "dataset": _DATASET,
    "data_dir": _DATA_DIR,
    "cache_dir": _CACHE_DIR,
    "split": _SPLIT,
    "test_fraction": _TEST_FRACTION,
    "partition": _PARTITION,
    "num_clients": _NUM_CLIENTS,
    "partition_attribute": _ATTRIBUTE,
    "dirichlet_alpha": _ALPHA,
    "algorithm": _ALGORITHM,
    "rounds": _ROUNDS,
    "clients_per_round": _CLIENTS_PER_ROUND,
    "client_epochs": _CLIENT_EPOCHS,
    "batch_size": _BATCH_SIZE,
    "client_optimizer": _CLIENT_OPTIMIZER,
    "client_learning_rate": _CLIENT_LR,
    "server_optimizer": _SERVER_OPTIMIZER,
    "server_learning_rate": _SERVER_LR,
    "reconstruction_learning_rate": _RECON_LR,
    "reconstruction_epochs": _RECON_EPOCHS,
    "reconstruction_split": _RECON_SPLIT,
    "embedding_dim": _EMBEDDING_DIM,
    "init_stddev": _INIT_STDDEV,
    "user_init_stddev": _USER_INIT_STDDEV,
    "l2": _L2,
    "bias_l2": _BIAS_L2,
    "eval_every": _EVAL_EVERY,
    "aggregator": _AGGREGATOR,
    "noise_multiplier": _NOISE_MULTIPLIER,
    "clip": _CLIP,
    "target_quantile": _TARGET_QUANTILE,
    "initial_clip": _INITIAL_CLIP,
    "target_epsilon": _TARGET_EPSILON,
    "delta": _DELTA,
    "secure_aggregation": _SECURE,
    "client_sampling": _CLIENT_SAMPLING,
    "accountant": _ACCOUNTANT,
    "quantize_bits": _QUANTIZE_BITS,
    "broadcast_quantize_bits": _BROADCAST_QUANTIZE_BITS,
    "topk_fraction": _TOPK_FRACTION,
    "sparse_item_updates": _SPARSE_ITEM_UPDATES,
    "decoy_rows": _DECOY_ROWS,
    "checkpoint_every": _CHECKPOINT_EVERY,
    "dropout_rate": _DROPOUT_RATE,
    "min_clients_per_round": _MIN_CLIENTS_PER_ROUND,
    "robust": _ROBUST,
    "malicious_fraction": _MALICIOUS_FRACTION,
    "attack": _ATTACK,
    "baselines": _BASELINES,
    "centralized_epochs": _CENTRALIZED_EPOCHS,
    "centralized_l2": _CENTRALIZED_L2,
    "centralized_learning_rate": _CENTRALIZED_LR,
    "centralized_batch_size": _CENTRALIZED_BATCH_SIZE,
    "seed": _SEED,
    "root_output_dir": _ROOT_OUTPUT_DIR,
    "experiment_name": _EXPERIMENT_NAME,
    "task": _TASK,
    "model": _MODEL,
    "loss": _LOSS,
    "negatives": _NEGATIVES,
    "top_k": _TOP_K,
    "eval_negatives": _EVAL_NEGATIVES,
    "personalize_steps": _PERSONALIZE_STEPS,
}


def config_from_flags() -> config_lib.TrainConfig:
    """The run's config: the scenario's presets, then the flags given."""
    explicit = {
        field: holder.value
        for field, holder in _CONFIG_FLAGS.items()
        if not flags.FLAGS[holder.name].using_default_value
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
    "giving up (exit status 2). Default: 30.",
)
_RUNTIME = flags.DEFINE_enum(
    "runtime",
    None,
    list(common.RUNTIMES),
    "What executes the rounds. inprocess: this process runs each round's "
    "clients many per TensorFlow graph run, on a GPU when one is visible "
    "(same results as tff_cpp to float32 rounding; about 11x faster per round on "
    "a 2-core CPU, see the README). tff_cpp: TFF's C++ runtime, on a worker "
    "process this run owns or on --workers. Default: inprocess, or tff_cpp "
    "with --workers.",
)


def main(argv):
    del argv
    with common.user_errors_exit():
        if _DESCRIBE_SCENARIO.value:
            if _SCENARIO.value is None:
                raise errors.UserInputError("--describe_scenario needs --scenario")
            print(scenarios.describe(_SCENARIO.value), flush=True)
            return
        config = config_from_flags()
        if _EXPORT_DIR.value and config.algorithm is config_lib.Algorithm.LOCAL_ONLY:
            raise errors.UserInputError(
                "--export_dir: local_only training has no single model to export"
            )
        if _EXPORT_DIR.value and config.task is not config_lib.Task.RATING:
            raise errors.UserInputError(
                "--export_dir: serving export supports task='rating' models; "
                f"task={config.task.value!r} models are saved as "
                "final_weights.npz in the run folder"
            )
        common.install_runtime(
            runtime=_RUNTIME.value,
            simulate_secure_aggregation=config.secure_aggregation,
            workers=_WORKERS.value,
            workers_connect_timeout=_WORKERS_CONNECT_TIMEOUT.value,
        )
        from tff_rec.training import experiment

        results = experiment.run_experiment(config, fresh=_FRESH.value)
        print(experiment.format_results_table(results), flush=True)
        run_dir = pathlib.Path(config.root_output_dir) / config.experiment_name
        print(f"Wrote {run_dir}/", flush=True)
        if _EXPORT_DIR.value:
            from tff_rec.export import exporter

            path = exporter.export_run(run_dir, _EXPORT_DIR.value)
            print(f"Exported {path}", flush=True)


if __name__ == "__main__":
    app.run(main, flags_parser=common.parse_flags)
