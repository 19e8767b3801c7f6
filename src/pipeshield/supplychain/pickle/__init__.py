"""Pickle analysis by emulation: opcodes -> reader -> vm -> policy -> analyze."""

from pipeshield.supplychain.pickle.analyze import PickleAnalysis, analyse_pickle
from pipeshield.supplychain.pickle.policy import judge

__all__ = ["PickleAnalysis", "analyse_pickle", "judge"]
