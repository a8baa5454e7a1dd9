"""The run manifest, and re-running a recorded run."""
