"""Dialogue: the catalog-backed NLG, intent signals and the in-process assistant."""
