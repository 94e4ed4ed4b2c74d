"""Settings and target specs. Imports nothing else of Refuge's."""

from refuge.config.errors import BadInput, Failure
from refuge.config.settings import Settings, load_settings

__all__ = ["BadInput", "Failure", "Settings", "load_settings"]
