"""Datasets as one uint8 array (N, C, H, W): the named datasets, image folders and the decode cache."""
