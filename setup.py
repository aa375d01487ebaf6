"""tff_rec: privacy-preserving federated recommenders on TensorFlow Federated.

Install from a checkout (see BUILD_NOTES.md for why TFF goes in --no-deps):

    pip install -r requirements.txt && \
        pip install --no-deps tensorflow-federated==0.87.0 -e .
"""

import pathlib

import setuptools

setuptools.setup(
    name="tff_rec",
    version="0.1.0",
    description="Federated recommenders on TensorFlow Federated",
    long_description=pathlib.Path("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    packages=setuptools.find_packages(include=["tff_rec", "tff_rec.*", "pipelines"]),
    python_requires=">=3.9,<3.12",
    # The pinned set is in requirements.txt; tensorflow-federated itself must
    # be installed with --no-deps (its wheel pins a jaxlib that PyPI mirrors
    # may not serve), so it is not listed here for pip's resolver.
    install_requires=[
        "tensorflow==2.14.1",
        "tensorflow-privacy==0.9.0",
        "tensorflow-model-optimization==0.7.5",
        "dp-accounting==0.4.3",
        "numpy~=1.25",
        "absl-py~=1.4",
    ],
    license="Apache-2.0",
)
