"""Errors the container runtime raises on purpose, all rooted at :class:`ClipperError`."""

from __future__ import annotations

from clipper_protocol.errors import ClipperError
from clipper_service.errors import SettingsError


class ModelContainerError(ClipperError):
    """Root of the container runtime's own errors."""


class ContainerConfigError(ModelContainerError, ValueError):
    """A container setting that is missing or malformed; the message names its variable.

    ``variable`` is the environment variable (or setting) at fault, ``problem``
    what is wrong with it; both are ``""`` when the error was raised with a
    plain message.
    """

    def __init__(self, message: str, *, variable: str = "", problem: str = "") -> None:
        super().__init__(message)
        self.variable = variable
        self.problem = problem

    @classmethod
    def from_settings_error(cls, error: SettingsError, env_names: dict[str, str] | None = None) -> ContainerConfigError:
        """The loader's error, in the container's words.

        ``env_names`` maps setting names to their variables, so a bad keyword
        override is reported under its variable, as the environment would be.
        """
        source = (env_names or {}).get(error.source, error.source)
        variable = source.removesuffix(" environment variable")
        if error.problem == "must be set":
            message = f"{variable} environment variable must be set"
        else:
            message = f"{variable}: {error.problem}"
        return cls(message, variable=variable, problem=error.problem)


class PredictionError(ModelContainerError):
    """A model's outputs that break the container's output contract."""


class ClosureLoadError(ModelContainerError):
    """The closure's files cannot be loaded (other than a missing package)."""


__all__ = ["ModelContainerError", "ContainerConfigError", "PredictionError", "ClosureLoadError"]
