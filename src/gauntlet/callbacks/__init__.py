"""Lightning callbacks: curves, throughput, RNG state, the run config in checkpoints, leaderboard
recording."""
