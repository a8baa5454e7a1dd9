"""Lightning callbacks: curves, throughput, RNG state, leaderboard recording."""
