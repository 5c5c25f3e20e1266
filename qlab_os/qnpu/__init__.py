"""The QNPU: the kernel of a node (process manager, executor, quantum memory manager, translator)."""
