"""The trapped-ion QDriver (registry name ``trapped_ion``): see :mod:`qdrivers.trapped_ion.driver`."""
