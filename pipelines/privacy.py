r"""Client-level differential privacy of federated training: epsilon or noise.

Epsilon spent by 100 rounds of 50 of the 943 ML-100K users with Gaussian noise
(the default delta is 1 / 943**1.1):

  python -m pipelines.privacy --mode=epsilon --noise_multiplier=1.0 \
      --rounds=100 --clients_per_round=50

The noise multiplier that keeps those 100 rounds within epsilon=5:

  python -m pipelines.privacy --mode=noise --target_epsilon=5 \
      --rounds=100 --clients_per_round=50

Laplace noise (accounted with PLD), and fixed-size sampling of exactly
clients_per_round clients without replacement, as `pipelines.train` samples:

  python -m pipelines.privacy --mode=epsilon --mechanism=laplace \
      --noise_multiplier=2 --rounds=100 --clients_per_round=50
  python -m pipelines.privacy --mode=epsilon --sampling=fixed_size \
      --noise_multiplier=1.0 --rounds=100 --clients_per_round=50 --delta=1e-5

Prints one line, e.g. ``epsilon=3.064 delta=5.35e-04 after 100 rounds
(gaussian, noise_multiplier=1, q=0.053, poisson sampling, RDP)``. What each
combination assumes is in `tff_rec.privacy.accounting`.
"""

from __future__ import annotations

from absl import app
from absl import flags

from tff_rec import cli
from tff_rec.privacy import accounting
from tff_rec.privacy import statements

DEFAULT_NUM_CLIENTS = 943  # ML-100K users.

_MODE = flags.DEFINE_enum(
    "mode", "epsilon", ["epsilon", "noise"], "Compute epsilon, or calibrate noise."
)
_MECHANISM = flags.DEFINE_enum(
    "mechanism", "gaussian", [m.value for m in accounting.Mechanism], "Noise."
)
_NOISE_MULTIPLIER = flags.DEFINE_float(
    "noise_multiplier", None, "Noise / clip (--mode=epsilon)."
)
_TARGET_EPSILON = flags.DEFINE_float(
    "target_epsilon", None, "Privacy budget (--mode=noise)."
)
_ROUNDS = flags.DEFINE_integer("rounds", None, "Training rounds.", lower_bound=1)
_CLIENTS_PER_ROUND = flags.DEFINE_integer(
    "clients_per_round", None, "Clients per round.", lower_bound=1
)
_NUM_CLIENTS = flags.DEFINE_integer(
    "num_clients", DEFAULT_NUM_CLIENTS, "Clients sampled from.", lower_bound=1
)
_DELTA = flags.DEFINE_float("delta", None, "Target delta; default 1/num_clients^1.1.")
_SAMPLING = flags.DEFINE_enum(
    "sampling", "poisson", [s.value for s in accounting.Sampling], "Client sampling."
)
_ACCOUNTANT = flags.DEFINE_enum(
    "accountant",
    None,
    [a.value for a in accounting.AccountantType],
    "Accountant; default rdp for gaussian, pld for laplace.",
)
flags.mark_flags_as_required(["rounds", "clients_per_round"])


def main(argv):
    if len(argv) > 1:
        cli.fail(f"unexpected arguments: {' '.join(argv[1:])}")
    with cli.user_errors_exit():
        if _MODE.value == "epsilon":
            spec = accounting.PrivacySpec(
                mechanism=_MECHANISM.value,
                noise_multiplier=_NOISE_MULTIPLIER.value,
                clients_per_round=_CLIENTS_PER_ROUND.value,
                num_clients=_NUM_CLIENTS.value,
                delta=_DELTA.value,
                sampling=_SAMPLING.value,
                accountant=_ACCOUNTANT.value,
            )
            print(statements.epsilon_statement(spec, _ROUNDS.value))
        else:
            print(
                statements.noise_statement(
                    target_epsilon=_TARGET_EPSILON.value,
                    rounds=_ROUNDS.value,
                    clients_per_round=_CLIENTS_PER_ROUND.value,
                    num_clients=_NUM_CLIENTS.value,
                    delta=_DELTA.value,
                    mechanism=_MECHANISM.value,
                    sampling=_SAMPLING.value,
                    accountant=_ACCOUNTANT.value,
                )
            )


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
