"""`python -m nasloop` runs the command line."""

from nasloop.cli import app

app(prog_name="nasloop")
