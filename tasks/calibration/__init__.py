"""Calibration of every rule that issues a verdict: seeded null and planted data sets, and the
rules run over many draws to measure their false-positive rate and power."""
