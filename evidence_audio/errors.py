"""Errors a user can act on, each with the exit code the CLI returns for it."""


class EvidenceError(Exception):
    """An error with a one-line message meant for the user."""

    exit_code = 1


class UsageError(EvidenceError):
    """The request itself is wrong: a bad option value, combination or range (not the input)."""

    exit_code = 2


class InputError(EvidenceError):
    """The input path is missing, not a regular file, or unreadable."""

    exit_code = 3


class MediaError(EvidenceError):
    """The input is empty, not media, or holds no decodable audio stream."""

    exit_code = 4


class VerificationError(EvidenceError):
    """A report or recording failed verification."""

    exit_code = 5


class ModelError(EvidenceError):
    """A model is missing, or its weights do not match the manifest."""

    exit_code = 6


class OutputError(EvidenceError):
    """The output folder cannot be written (exists already, or not writable)."""

    exit_code = 7


class Interrupted(KeyboardInterrupt):
    """A stop signal (SIGTERM, SIGHUP) arrived: handled as Ctrl-C is, with exit code 128 + its number."""

    def __init__(self, signum: int):
        super().__init__(f"signal {signum}")
        self.exit_code = 128 + signum
