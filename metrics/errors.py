"""The one exception type of the metrics package: its message is a single line naming the problem and the fix."""


class MetricsError(RuntimeError):
    """Bad input or unusable weights; the CLI prints the message without a traceback."""
