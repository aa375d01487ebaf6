"""Empirical privacy audit: attacks, their statistics, and the threat model."""
