"""Working out which language a person writes in."""
