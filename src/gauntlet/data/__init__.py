"""LightningDataModules that hold small datasets as tensors and batch them by index."""
