"""Custom actions (rasa_sdk) run by the action server: open and append to handoff tickets."""
