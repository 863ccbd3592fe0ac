"""The model on disk: the checkpoint and its card (a strict loader), where models live, a run directory, atomic writes."""
