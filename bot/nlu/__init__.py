"""Custom Rasa NLU pipeline components (registered with Rasa's default recipe)."""
