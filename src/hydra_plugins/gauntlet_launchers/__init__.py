"""gauntlet's Hydra launchers, built on joblib's worker processes.

``hydra/launcher=gauntlet_joblib`` runs each multirun job in a process of its own, forked by a
joblib worker, so a job killed by a signal (SIGKILL, the out-of-memory killer) costs only that
job: joblib's pool, the other jobs and the sweep go on. ``hydra/launcher=gpu_pool`` does the same
with each job placed on one GPU, at most ``jobs_per_gpu`` jobs per GPU.
"""
