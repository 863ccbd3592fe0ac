"""The torch side's trainer: recipe -> data -> models -> loop -> checkpoints -> exported generator."""
