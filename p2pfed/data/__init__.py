"""Each node's private data: the synthetic fitness generator, .npz person data, splits, scaling."""

from p2pfed.data.local import DataInfo, data_info, load_heldout, load_local
from p2pfed.data.npz import NpzData, NpzInfo, list_subjects, load_npz, read_info
from p2pfed.data.synthetic import (
    ARCHETYPES,
    FEATURE_NAMES,
    FEATURES,
    LABEL_NAMES,
    N_CLASSES,
    SyntheticUser,
    archetype_of,
    generate_user,
    generate_users,
    heldout_users,
)

__all__ = [
    "ARCHETYPES",
    "FEATURES",
    "FEATURE_NAMES",
    "LABEL_NAMES",
    "N_CLASSES",
    "DataInfo",
    "NpzData",
    "NpzInfo",
    "SyntheticUser",
    "archetype_of",
    "data_info",
    "generate_user",
    "generate_users",
    "heldout_users",
    "list_subjects",
    "load_heldout",
    "load_local",
    "load_npz",
    "read_info",
]
