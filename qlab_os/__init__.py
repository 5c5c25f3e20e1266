"""qlab-os: an operating system for quantum network nodes, after QNodeOS (Nature 2025).

Layers (imports flow downward only): ``gui`` -> ``qlab_os`` -> QDriver contract (``qlab_os.qdevice``)
<- ``qdrivers`` -> ``instruments``, ``sim_instruments``. The kernel (``qlab_os.qnpu``) knows QDrivers only
through the contract and the entry-point registry in :mod:`qlab_os.qdevice.registry`.
"""

__version__ = "0.1.0"
