"""Profiles of trusted data: learn one, save it, load it, validate batches against it.

    >>> from pipeshield.data.profile import learn_profile, save_profile, load_profile
    >>> profile = learn_profile("train.csv", label="diagnosis")     # doctest: +SKIP
    >>> save_profile(profile, "profile.json")                       # doctest: +SKIP
"""

from pipeshield.data.profile.learn import ProfileSettings, learn_profile, save_profile
from pipeshield.data.profile.model import (
    PROFILE_VERSION,
    ColumnProfile,
    Profile,
    SourceInfo,
    load_profile,
)

__all__ = [
    "PROFILE_VERSION",
    "ColumnProfile",
    "Profile",
    "ProfileSettings",
    "SourceInfo",
    "learn_profile",
    "load_profile",
    "save_profile",
]
