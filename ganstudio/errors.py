"""The one exception type a user's mistake raises."""


class UserError(Exception):
    """A problem with the user's input (a path, a range, a file): the CLI prints it on one line and exits 2.

    Anything else that escapes is a bug in ganstudio and keeps its traceback.
    """
