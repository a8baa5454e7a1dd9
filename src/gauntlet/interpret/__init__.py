"""Attributions (Captum) on any network's embedded input, their pictures and faithfulness."""

from gauntlet.interpret.attributions import METHODS, attribute
from gauntlet.interpret.explain import explain
from gauntlet.interpret.faithfulness import DeletionCurves, deletion_curve

__all__ = ["METHODS", "DeletionCurves", "attribute", "deletion_curve", "explain"]
