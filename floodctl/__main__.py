"""``python -m floodctl`` runs the command line."""

from floodctl.cli import run

run()
