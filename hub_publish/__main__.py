"""``python -m hub_publish`` runs the command line."""

from hub_publish.cli import main

main(prog_name="hub-publish")
