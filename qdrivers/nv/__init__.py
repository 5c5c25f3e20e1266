"""The NV QDriver: physical instructions as AWG sequence elements, laser windows and photon counts on an NV node."""
