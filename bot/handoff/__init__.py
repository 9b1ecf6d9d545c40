"""The handoff: a person who wants a human gets a counsellor in the same chat."""
