"""Adversarial robustness: FGSM/PGD (Captum) on embedded inputs, accuracy under attack,
adversarial training."""

from gauntlet.robust.accuracy import evaluate_robustness, robust_accuracy
from gauntlet.robust.adversarial_training import AdversarialTraining
from gauntlet.robust.attacks import ATTACKS, fgsm, pgd

__all__ = [
    "ATTACKS",
    "AdversarialTraining",
    "evaluate_robustness",
    "fgsm",
    "pgd",
    "robust_accuracy",
]
