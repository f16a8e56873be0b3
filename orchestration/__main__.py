"""``python -m orchestration`` = the ``insights`` command."""

from orchestration.cli import app

app(prog_name="insights")
