"""Tests of who sees what (`threat_model`) and its enforcement (`observations`)."""

from __future__ import annotations

import numpy as np
from absl.testing import absltest
from absl.testing import parameterized

from tff_rec.privacy.audit import interaction
from tff_rec.privacy.audit import observations
from tff_rec.privacy.audit import threat_model

Observation = threat_model.Observation
Party = threat_model.Party

_NAMES = tuple(c.name for c in threat_model.CONFIGURATIONS)
_PUBLIC = {Observation.INITIAL_MODEL, Observation.RELEASED_MODEL}
# What the server receives in every configuration: the models it broadcasts,
# the sizes of the messages, and at least the cohort's sum.
_SERVER_ALWAYS = _PUBLIC | {
    Observation.BROADCAST,
    Observation.MESSAGE_BYTES,
    Observation.SECURE_SUM,
}


def _all_tensors() -> dict[Observation, object]:
    """One distinct marker value per observation, as a harness would give."""
    return {o: f"value of {o.value}" for o in Observation}


class ConfigurationTest(parameterized.TestCase):
    def test_names_unique(self):
        self.assertLen(set(_NAMES), len(_NAMES))

    @parameterized.parameters(*_NAMES)
    def test_lookup_round_trips(self, name):
        config = threat_model.configuration(name)
        self.assertEqual(config.name, name)
        self.assertIn(config, threat_model.CONFIGURATIONS)

    def test_unknown_name_raises(self):
        with self.assertRaisesRegex(KeyError, "unknown audit configuration 'nope'"):
            threat_model.configuration("nope")

    def test_decoy_configurations(self):
        for d in threat_model.DEFAULT_DECOYS:
            config = threat_model.configuration(f"sparse_rows_decoys{d}_secure")
            self.assertEqual(config.settings["decoy_rows"], d)
            self.assertTrue(config.secure)
            self.assertTrue(config.sparse_rows)
            self.assertFalse(config.is_dp)

    @parameterized.named_parameters(
        ("mean", "mean", False, False, False),
        ("quantized", "quantized_8bit", False, False, False),
        ("topk", "topk_10pct", False, False, False),
        ("sparse_rows", "sparse_rows", False, True, False),
        ("secure", "secure_aggregation", True, False, False),
        ("dp_fixed", "dp_gaussian_fixed", False, False, True),
        ("dp_adaptive", "dp_gaussian_adaptive", False, False, True),
        ("dp_laplace", "dp_laplace", False, False, True),
        ("dp_secure", "dp_gaussian_fixed_secure", True, False, True),
    )
    def test_properties(self, name, secure, sparse_rows, is_dp):
        config = threat_model.configuration(name)
        self.assertEqual(
            (config.secure, config.sparse_rows, config.is_dp),
            (secure, sparse_rows, is_dp),
        )


class VisibleTest(parameterized.TestCase):
    @parameterized.named_parameters(
        ("mean", "mean", {Observation.CLIENT_UPLOAD}),
        (
            "sparse_rows",
            "sparse_rows",
            {Observation.CLIENT_UPLOAD, Observation.CLIENT_ROW_INDICES},
        ),
        ("secure", "secure_aggregation", set()),
        (
            "sparse_rows_secure",
            "sparse_rows_decoys100_secure",
            {Observation.CLIENT_ROW_INDICES},
        ),
        ("dp", "dp_gaussian_fixed", {Observation.CLIENT_UPLOAD}),
        ("dp_secure", "dp_gaussian_fixed_secure", set()),
    )
    def test_server(self, name, extra):
        self.assertEqual(
            threat_model.visible(Party.SERVER, threat_model.configuration(name)),
            _SERVER_ALWAYS | extra,
        )

    @parameterized.parameters(*_NAMES)
    def test_server_upload_iff_not_secure(self, name):
        config = threat_model.configuration(name)
        seen = threat_model.visible(Party.SERVER, config)
        self.assertEqual(Observation.CLIENT_UPLOAD in seen, not config.secure)
        self.assertEqual(Observation.CLIENT_ROW_INDICES in seen, config.sparse_rows)

    @parameterized.parameters(*_NAMES)
    def test_other_parties(self, name):
        config = threat_model.configuration(name)
        self.assertEqual(threat_model.visible(Party.MODEL_HOLDER, config), _PUBLIC)
        self.assertEqual(
            threat_model.visible(Party.OTHER_CLIENTS, config),
            _PUBLIC | {Observation.BROADCAST},
        )
        self.assertEqual(
            threat_model.visible(Party.NETWORK_OBSERVER, config),
            {Observation.MESSAGE_BYTES},
        )


class ObservationsTest(parameterized.TestCase):
    def test_reads_granted_and_records_them_sorted(self):
        observed = observations.Observations(
            Party.SERVER, threat_model.configuration("mean"), _all_tensors()
        )
        self.assertEqual(observed.read, ())
        self.assertEqual(observed[Observation.MESSAGE_BYTES], "value of message_bytes")
        self.assertEqual(observed[Observation.CLIENT_UPLOAD], "value of client_upload")
        observed[Observation.MESSAGE_BYTES]
        self.assertEqual(observed.read, ("client_upload", "message_bytes"))

    @parameterized.named_parameters(
        ("server_secure", Party.SERVER, "secure_aggregation", "client_upload"),
        ("server_rows", Party.SERVER, "mean", "client_row_indices"),
        ("model_holder", Party.MODEL_HOLDER, "mean", "broadcast"),
        ("other_clients", Party.OTHER_CLIENTS, "mean", "secure_sum"),
        ("network", Party.NETWORK_OBSERVER, "mean", "released_model"),
    )
    def test_not_visible_raises_and_is_not_recorded(self, party, name, tensor):
        observed = observations.Observations(
            party, threat_model.configuration(name), _all_tensors()
        )
        hidden = Observation(tensor)
        self.assertFalse(observed.has(hidden))
        with self.assertRaisesRegex(
            observations.NotVisibleError,
            f"{party.value} does not receive {tensor} under configuration " f"'{name}'",
        ):
            observed[hidden]
        self.assertEqual(observed.read, ())

    def test_granted_but_missing_is_a_key_error(self):
        observed = observations.Observations(
            Party.SERVER, threat_model.configuration("mean"), {}
        )
        self.assertFalse(observed.has(Observation.CLIENT_UPLOAD))
        with self.assertRaises(KeyError) as raised:
            observed[Observation.CLIENT_UPLOAD]
        self.assertNotIsInstance(raised.exception, observations.NotVisibleError)
        self.assertEqual(observed.read, ())

    def test_secure_server_attack_uses_sum_not_upload(self):
        # The harness hands over the client's own upload too; under secure
        # aggregation the attack must score from the sum alone.
        rng = np.random.default_rng(0)
        upload = [rng.normal(size=(6, 3)), rng.normal(size=(6, 1))]
        other = [rng.normal(size=(6, 3)), rng.normal(size=(6, 1))]
        secure_sum = [u + o for u, o in zip(upload, other, strict=True)]
        tensors = _all_tensors() | {
            Observation.CLIENT_UPLOAD: upload,
            Observation.SECURE_SUM: secure_sum,
        }
        observed = observations.Observations(
            Party.SERVER, threat_model.configuration("secure_aggregation"), tensors
        )
        scores = interaction.item_scores(observed, [0, 1])
        self.assertEqual(observed.read, ("secure_sum",))
        np.testing.assert_allclose(
            scores, interaction.row_norms(secure_sum, [0, 1]), rtol=1e-12
        )
        self.assertFalse(np.allclose(scores, interaction.row_norms(upload, [0, 1])))

    def test_plain_server_attack_uses_upload(self):
        upload = [np.eye(4)[:, :2], np.zeros((4, 1))]
        tensors = _all_tensors() | {Observation.CLIENT_UPLOAD: upload}
        observed = observations.Observations(
            Party.SERVER, threat_model.configuration("mean"), tensors
        )
        scores = interaction.item_scores(observed, [0, 1])
        self.assertEqual(observed.read, ("client_upload",))
        self.assertSequenceEqual(scores.tolist(), [1.0, 1.0, 0.0, 0.0])


if __name__ == "__main__":
    absltest.main()
