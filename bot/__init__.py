"""What Rasa and the action server load (NLU, policy, connectors, stores) and the logic shared."""
