"""Gettext catalogs (Babel) for every text the assistant shows."""
