"""Content the assistant may state: the one data file of lines and centres."""
