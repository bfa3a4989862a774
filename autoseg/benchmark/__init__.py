"""Benchmarks: the whole pipeline on datasets, timed and measured stage by stage, with a report."""

from autoseg.benchmark.run import benchmark

__all__ = ["benchmark"]
