"""A run's life: its manifest, leaderboard row, lock, heartbeat, redaction and exit codes."""
