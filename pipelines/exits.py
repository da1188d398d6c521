"""Exit statuses of ``neurokube`` (documented in the README) and the usage error.

Kept free of heavy imports so the command line can catch a Ctrl-C while Beam loads.
"""
EXIT_OK = 0
EXIT_USAGE = 2
EXIT_DEAD_LETTERS = 3
EXIT_INTERRUPTED = 130  # stopped with Ctrl-C (SIGINT), as shells report it
EXIT_BROKEN_PIPE = 141  # the reader of stdout went away (SIGPIPE), as shells report it


class UsageError(Exception):
    """A bad command line or input that stops the job before it starts (exit status 2)."""
