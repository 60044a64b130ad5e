"""The labels stage: what each model bundle is, and what its outputs mean.

Takes the shipped (or user) bundle folders and taxonomy files and hands on the bundle
catalogue (manifests, the task of each bundle, frontend settings), the binding of raw model
tags to the app's genres and instrument families, and the normalisation of the genre
strings files already carry. NumPy only: importing this package never imports torch.
"""
