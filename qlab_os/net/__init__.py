"""Network configuration: the network YAML (nodes, devices, links) and netqasm application folders."""

from qlab_os.net.app_folder import AppSpec, convert_netqasm_network, load_app, load_netqasm_network
from qlab_os.net.config import (
    LINK_PRESETS,
    LinkConfig,
    NetworkConfig,
    NodeConfig,
    check_devices,
    default_network,
    link_name,
    load_network,
    parse_network,
)
from qlab_os.net.schedule import TdmaSchedule

__all__ = [
    "LINK_PRESETS",
    "AppSpec",
    "LinkConfig",
    "NetworkConfig",
    "NodeConfig",
    "TdmaSchedule",
    "check_devices",
    "convert_netqasm_network",
    "default_network",
    "link_name",
    "load_app",
    "load_netqasm_network",
    "load_network",
    "parse_network",
]
