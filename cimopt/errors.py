"""Errors a user can cause: the CLI prints their message on one line and exits 2."""


class InputError(Exception):
    """Bad input from the user (a file, a model, an option); the message names what is at fault."""
