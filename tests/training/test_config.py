"""A run's configuration: sections, names, dict forms, and every rule."""

import math

import tensorflow as tf
from absl.testing import parameterized

from tff_rec import errors
from tff_rec.algorithms import config as algorithms_config
from tff_rec.data import config as data_config
from tff_rec.training import attacks
from tff_rec.training import config as config_lib

_DP = dict(aggregator="dp_gaussian_fixed", noise_multiplier=1.0)
_ADAPTIVE = dict(aggregator="dp_gaussian_adaptive", noise_multiplier=0.5)

# Every rule, with settings that break it and what the message says. Each
# breaks one rule only (the rest valid), so each row shows that rule's check.
INVALID = (
    # Data.
    ("dataset", dict(dataset="netflix"), "unknown dataset 'netflix'"),
    ("split", dict(split="random"), "unknown split 'random'"),
    ("test_fraction", dict(test_fraction=1.5), r"test_fraction must be in \(0, 1\)"),
    ("test_fraction_nan", dict(test_fraction=math.nan), "test_fraction must be finite"),
    ("partition", dict(partition="zip"), "unknown partition 'zip'"),
    ("num_clients", dict(partition="iid", num_clients=0), "num_clients must be >= 1"),
    ("user_num_clients", dict(num_clients=5), "one client per user"),
    ("iid_no_clients", dict(partition="iid"), "'iid' partition needs num_clients"),
    (
        "dirichlet_no_clients",
        dict(partition="dirichlet"),
        "'dirichlet' partition needs num_clients",
    ),
    ("alpha", dict(dirichlet_alpha=0.0), "dirichlet_alpha must be > 0"),
    # Model.
    ("task", dict(task="clicks"), "unknown task 'clicks'"),
    ("model", dict(model="svd"), "unknown model 'svd'"),
    ("rating_model", dict(model="gmf"), "predicts interactions"),
    ("rating_loss", dict(loss="bpr"), "loss: only for task='implicit'"),
    ("loss", dict(task="implicit", loss="hinge"), "unknown loss 'hinge'"),
    ("negatives", dict(negatives=0), "negatives must be >= 1"),
    ("embedding_dim", dict(embedding_dim=0), "embedding_dim must be >= 1"),
    ("init_stddev", dict(init_stddev=0.0), "init_stddev must be > 0"),
    ("user_init", dict(user_init_stddev=-1.0), "user_init_stddev must be >= 0"),
    ("l2", dict(l2=-0.1), "l2 must be >= 0"),
    ("bias_l2", dict(bias_l2=math.inf), "bias_l2 must be finite"),
    # Federated.
    ("algorithm", dict(algorithm="sgd"), "unknown algorithm 'sgd'"),
    ("rounds", dict(rounds=0), "rounds must be >= 1"),
    ("rounds_float", dict(rounds=2.5), "rounds must be an integer"),
    ("clients_per_round", dict(clients_per_round=0), "clients_per_round must be >= 1"),
    ("sampling", dict(client_sampling="stratified"), "unknown client_sampling"),
    ("client_epochs", dict(client_epochs=0), "client_epochs must be >= 1"),
    ("batch_size", dict(batch_size=0), "batch_size must be >= 1"),
    ("optimizer", dict(client_optimizer="lbfgs"), "unknown client_optimizer"),
    ("client_lr", dict(client_learning_rate=0.0), "client_learning_rate must be > 0"),
    ("client_lr_inf", dict(client_learning_rate=math.inf), "must be finite"),
    ("server_lr", dict(server_learning_rate=-1.0), "server_learning_rate must be > 0"),
    (
        "recon_lr",
        dict(reconstruction_learning_rate=0.0),
        "reconstruction_learning_rate must be > 0",
    ),
    ("recon_epochs", dict(reconstruction_epochs=0), "reconstruction_epochs must be"),
    # Privacy.
    ("aggregator", dict(aggregator="median"), "unknown aggregator 'median'"),
    ("noise_without_dp", dict(noise_multiplier=1.0), "only for DP aggregators"),
    ("epsilon_without_dp", dict(target_epsilon=5.0), "only for DP aggregators"),
    ("delta_without_dp", dict(delta=1e-5), "only for DP aggregators"),
    ("accountant_without_dp", dict(accountant="pld"), "only for DP aggregators"),
    ("clip_without_dp", dict(clip=1.0), "clip=1.0 has no effect with aggregator=mean"),
    ("dp_weighted", dict(algorithm="fedavg", **_DP), "DP aggregators are unweighted"),
    ("dp_no_noise", dict(aggregator="dp_gaussian_fixed"), "needs noise_multiplier"),
    (
        "dp_zero_noise",
        dict(aggregator="dp_gaussian_fixed", noise_multiplier=0.0),
        "noise_multiplier must be > 0",
    ),
    (
        "dp_nan_noise",
        dict(aggregator="dp_laplace", noise_multiplier=math.nan),
        "noise_multiplier must be > 0",
    ),
    ("dp_clip", dict(clip=0.0, **_DP), "clip must be > 0"),
    ("adaptive_clip", dict(clip=1.0, **_ADAPTIVE), "clip=1.0 has no effect"),
    ("quantile", dict(target_quantile=1.5, **_ADAPTIVE), "target_quantile must be in"),
    ("fixed_quantile", dict(target_quantile=0.5, **_DP), "target_quantile=0.5 has no"),
    ("initial_clip", dict(initial_clip=0.0, **_ADAPTIVE), "initial_clip must be > 0"),
    (
        "adaptive_secure",
        dict(secure_aggregation=True, **_ADAPTIVE),
        "secure aggregation cannot be combined with dp_gaussian_adaptive",
    ),
    (
        "adaptive_cohort",
        dict(aggregator="dp_gaussian_adaptive", noise_multiplier=5.0),
        "clients_per_round=50 is too small",
    ),
    (
        "accountant",
        dict(aggregator="dp_gaussian_fixed", noise_multiplier=1.0, accountant="pld"),
        "PLD accountant cannot account gaussian noise with fixed_size sampling",
    ),
    ("epsilon", dict(target_epsilon=0.0, **_DP), "target_epsilon must be > 0"),
    ("delta", dict(delta=1.5, **_DP), r"delta must be in \(0, 1\)"),
    # Communication.
    ("bits", dict(quantize_bits=20), "quantize_bits must be in 2..16, got 20"),
    ("broadcast_bits", dict(broadcast_quantize_bits=1), "broadcast_quantize_bits"),
    ("topk", dict(topk_fraction=1.5), r"topk_fraction must be in \(0, 1\]"),
    (
        "topk_sparse",
        dict(topk_fraction=0.1, sparse_item_updates=True),
        "alternatives",
    ),
    ("decoys", dict(decoy_rows=-1), "decoy_rows must be an integer >= 0"),
    ("decoys_dense", dict(decoy_rows=3), "only applies to sparse item updates"),
    (
        "decoys_insecure",
        dict(decoy_rows=3, sparse_item_updates=True),
        "decoy_rows=3 needs secure aggregation",
    ),
    # Reliability.
    ("checkpoint_every", dict(checkpoint_every=0), "checkpoint_every must be >= 1"),
    ("keep_checkpoints", dict(keep_checkpoints=0), "keep_checkpoints must be >= 1"),
    ("dropout", dict(dropout_rate=1.0), r"dropout_rate must be in \[0, 1\)"),
    ("min_clients", dict(min_clients_per_round=0), "min_clients_per_round must be"),
    ("min_clients_high", dict(min_clients_per_round=51), "exceeds clients_per_round"),
    ("no_attack", dict(malicious_fraction=0.1), "needs an attack"),
    ("no_fraction", dict(attack="nan"), "needs malicious_fraction > 0"),
    ("attack", dict(malicious_fraction=0.1, attack="flip"), "unknown attack 'flip'"),
    # Evaluation.
    ("eval_every", dict(eval_every=0), "eval_every must be >= 1"),
    ("top_k", dict(top_k=0), "top_k must be >= 1"),
    ("eval_negatives", dict(eval_negatives=0), "eval_negatives must be >= 1"),
    ("personalize", dict(personalize_steps=-1), "personalize_steps must be >= 0"),
    (
        "personalize_rating",
        dict(personalize_steps=5),
        "personalize_steps only applies to task='implicit'",
    ),
    (
        "personalize_held_out",
        dict(task="implicit", split="held_out_users", personalize_steps=5),
        "not participants",
    ),
    ("centralized_epochs", dict(centralized_epochs=0), "centralized_epochs must be"),
    ("centralized_l2", dict(centralized_l2=-1.0), "centralized_l2 must be >= 0"),
    ("centralized_lr", dict(centralized_learning_rate=0.0), "must be > 0"),
    # Federated-only settings with a baseline.
    (
        "robust_centralized",
        dict(algorithm="centralized", robust=True),
        "robust: only for federated algorithms",
    ),
    (
        "dp_local_only",
        dict(algorithm="local_only", **_DP),
        "aggregator, noise_multiplier: only for federated",
    ),
    (
        "compression_centralized",
        dict(algorithm="centralized", quantize_bits=8),
        "quantize_bits: only for federated",
    ),
    (
        "personalize_local_only",
        dict(algorithm="local_only", task="implicit", personalize_steps=5),
        "personalize_steps: only for federated",
    ),
    # The run.
    ("name", dict(experiment_name="a/b"), "experiment_name"),
    ("seed", dict(seed=-1), "seed must be >= 0"),
    ("unknown", dict(learning_rate=0.1), "unknown setting 'learning_rate'"),
)


class ConfigTest(tf.test.TestCase, parameterized.TestCase):
    def test_defaults_are_valid_and_sections_hold_the_settings(self):
        config = config_lib.TrainConfig()
        self.assertIs(config.federated.algorithm, config_lib.Algorithm.FEDRECON)
        self.assertEqual(config.data, data_config.DataConfig())
        self.assertIsNone(config.federated.server_learning_rate)
        # Every setting has one name, unique across the sections.
        names = [n for cls in config_lib.SECTIONS.values() for n in cls.field_names()]
        self.assertLen(set(names), len(names))
        self.assertLen(config.flat(), len(names) + len(config_lib.RUN_SETTINGS))

    def test_strings_become_enums(self):
        config = config_lib.TrainConfig.make(
            algorithm="fedavg", partition="iid", num_clients=10
        )
        self.assertIs(config.algorithm, config_lib.Algorithm.FEDAVG)
        self.assertEqual(config.as_dict()["data"]["partition"], "iid")
        attacked = config_lib.TrainConfig.make(malicious_fraction=0.1, attack="scale")
        self.assertIs(attacked.reliability.attack, attacks.AttackType.SCALE)
        self.assertEqual(attacked.as_dict()["reliability"]["attack"], "scale")
        self.assertIsNone(config.as_dict()["reliability"]["attack"])
        self.assertIsInstance(
            config_lib.TrainConfig.make(
                client_learning_rate=1
            ).federated.client_learning_rate,
            float,
        )

    def test_dict_round_trips(self):
        config = config_lib.TrainConfig.make(
            task="implicit", model="gmf", rounds=7, seed=3, **_DP, algorithm="fedrecon"
        )
        self.assertEqual(config_lib.TrainConfig.from_dict(config.as_dict()), config)
        self.assertEqual(config_lib.TrainConfig.from_dict(config.flat()), config)
        nested = config.as_dict()
        nested["federated"]["l2"] = 0.1
        with self.assertRaisesRegex(errors.UserInputError, "'l2' in section"):
            config_lib.TrainConfig.from_dict(nested)

    def test_replace_checks_again(self):
        config = config_lib.TrainConfig.make(rounds=3)
        self.assertEqual(config.replace(rounds=4).federated.rounds, 4)
        self.assertEqual(config.replace(rounds=4).data, config.data)
        with self.assertRaisesRegex(errors.UserInputError, "rounds must be >= 1"):
            config.replace(rounds=0)

    def test_section_of(self):
        self.assertEqual(config_lib.section_of("clip"), "privacy")
        self.assertEqual(config_lib.section_of("quantize_bits"), "communication")
        self.assertIsNone(config_lib.section_of("seed"))

    def test_resumable_settings(self):
        config = config_lib.TrainConfig.make(rounds=10)
        moved = config.replace(
            root_output_dir="/elsewhere",
            experiment_name="renamed",
            checkpoint_every=5,
            baselines=False,
            centralized_epochs=3,
        )
        self.assertEqual(moved.changes_from(config), [])
        self.assertEqual(
            config.replace(rounds=20, seed=1).changes_from(config),
            [("rounds", 10, 20), ("seed", 0, 1)],
        )

    def test_dataset_epochs_and_user_key(self):
        # Reconstruction repeats its post-reconstruction passes itself; its
        # client datasets hold one pass (else client_epochs would count twice).
        for algorithm, epochs, key in (
            ("fedavg", 3, "user"),
            ("fedrecon", 1, "local_user"),
        ):
            federated = algorithms_config.FederatedConfig(
                algorithm=algorithm, client_epochs=3
            )
            self.assertEqual(federated.dataset_epochs, epochs)
            self.assertEqual(federated.user_key, key)

    @parameterized.named_parameters(*INVALID)
    def test_each_rule(self, settings, message):
        with self.assertRaisesRegex(errors.UserInputError, message):
            config_lib.TrainConfig.make(**settings)

    @parameterized.named_parameters(
        ("dp_unweighted", dict(algorithm="fedavg_unweighted", **_DP)),
        ("dp_target", dict(aggregator="dp_laplace", target_epsilon=5.0)),
        ("adaptive", dict(clients_per_round=60, **_ADAPTIVE)),
        (
            "secure_decoys",
            dict(sparse_item_updates=True, decoy_rows=3, secure_aggregation=True),
        ),
        (
            "implicit",
            dict(task="implicit", model="neumf", loss="bpr", personalize_steps=3),
        ),
        ("stores", dict(partition="attribute", num_clients=5)),
        ("centralized", dict(algorithm="centralized", checkpoint_every=3)),
    )
    def test_valid_combinations(self, settings):
        config_lib.TrainConfig.make(**settings)


if __name__ == "__main__":
    tf.test.main()
