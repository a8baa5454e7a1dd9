from gauntlet.cli import entry

entry()
