"""Studies: a grid of overrides x seeds run as Hydra multiruns, with a report and checked claims.

``gauntlet study experiments/NAME.yaml`` reads the study file (:mod:`.spec`), launches the runs
it still needs (:mod:`.runner`), checks its claims on the results (:mod:`.claims`) and writes
``report.md``, the plots and ``report.html`` (:mod:`.report`).
"""
