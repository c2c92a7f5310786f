"""gmmfast's compiled modules (private): reach the kernels through gmmfast._dispatch.load."""
