"""``python -m gauntlet.leaderboard ...`` is ``gauntlet leaderboard ...``."""

import sys

from gauntlet.leaderboard.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
