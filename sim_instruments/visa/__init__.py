"""PyVISA-sim YAML mocks of the instruments in ``instruments/``, shipped as package data.

Open a driver against one with ``pyvisa_sim_file="sim_instruments.visa:<file>.yaml"``. The mocks answer the
instruments' real command sets with static replies (pyvisa-sim properties keep set values, nothing else changes).
"""
