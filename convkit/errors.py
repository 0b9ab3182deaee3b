"""The errors a user can cause. Each carries one clear line; the CLI prints it and exits 2."""


class ConvkitError(Exception):
    """A user-caused error: one clear line, the CLI exits with status 2 and no traceback."""


class DataError(ConvkitError, ValueError):
    """A bad data path, format or content (the message names the file or field)."""


class ConfigError(ConvkitError, ValueError):
    """A bad config key or value (the message lists what is valid)."""


class ShapeError(ConvkitError, ValueError):
    """An input tensor of the wrong layout or size for a block or model."""


class CheckpointError(ConvkitError, ValueError):
    """A checkpoint that cannot be loaded: missing, corrupt, unsafe or from another task."""


class DiskFullError(ConvkitError):
    """The disk (or the disk quota) filled up while writing a run's file; the message
    names the file and the last complete checkpoint (or says nothing was saved)."""


class Interrupted(ConvkitError):
    """Training stopped by SIGINT (Ctrl-C) or SIGTERM after saving a resumable ``last.pt``;
    the CLI exits with ``128 + signal`` (130 / 143)."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum
