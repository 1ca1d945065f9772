"""Each node's private data: synthetic fitness users, .npz and UCI HAR files, partitions, splits, scaling."""

from p2pfed.data.federation import load_federation, node_configs
from p2pfed.data.local import DataInfo, data_info, load_heldout, load_local
from p2pfed.data.npz import NpzData, NpzInfo, list_subjects, load_npz, read_info
from p2pfed.data.partition import by_person, dirichlet_labels, person_across_devices, quantity_skew
from p2pfed.data.synthetic import (
    ARCHETYPES,
    FEATURE_NAMES,
    FEATURES,
    LABEL_NAMES,
    N_CLASSES,
    RISK_LABEL_NAMES,
    SyntheticUser,
    archetype_of,
    generate_user,
    generate_users,
    heldout_users,
)
from p2pfed.data.uci_har import UciHarData, UciHarInfo, load_uci_har

__all__ = [
    "ARCHETYPES",
    "FEATURES",
    "FEATURE_NAMES",
    "LABEL_NAMES",
    "N_CLASSES",
    "RISK_LABEL_NAMES",
    "DataInfo",
    "NpzData",
    "NpzInfo",
    "SyntheticUser",
    "UciHarData",
    "UciHarInfo",
    "archetype_of",
    "by_person",
    "data_info",
    "dirichlet_labels",
    "generate_user",
    "generate_users",
    "heldout_users",
    "list_subjects",
    "load_federation",
    "load_heldout",
    "load_local",
    "load_npz",
    "load_uci_har",
    "node_configs",
    "person_across_devices",
    "quantity_skew",
    "read_info",
]
