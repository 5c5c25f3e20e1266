"""The CNPU: runs the classical part of applications (netqasm SDK host code) and talks to the QNPU."""
