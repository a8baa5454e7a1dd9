"""Multiruns: what a sweep leaves behind once its jobs have run."""
