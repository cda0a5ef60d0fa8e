"""User-facing errors: the CLI prints their message, without a traceback, and exits 1."""


class UserError(ValueError):
  """A mistake in the command, config, data or workdir that the user can fix."""
