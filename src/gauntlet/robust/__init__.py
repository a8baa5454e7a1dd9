"""Adversarial robustness of a trained network: accuracy under FGSM/PGD at several budgets,
transfer attacks, and ``gauntlet attack``. The attacks themselves, and adversarial training,
are part of what a model trains with: :mod:`gauntlet.models.attacks` and
:mod:`gauntlet.models.adversarial`."""

from gauntlet.robust.accuracy import evaluate_robustness, robust_accuracy

__all__ = ["evaluate_robustness", "robust_accuracy"]
