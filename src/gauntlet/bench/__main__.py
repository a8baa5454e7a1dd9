import sys

from gauntlet.bench.cli import main

sys.exit(main(sys.argv[1:]))
