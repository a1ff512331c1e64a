"""The agent desk: a small web app where agents take the night's handoffs in the morning.

Sign-in, the queue, a case, claiming, replying through Rasa, resolving with a label for trainers,
canned answers, the audit log of every reveal of personal data, and the morning digest. Nothing
here imports Rasa or TensorFlow; it talks to the Rasa server over its HTTP API.
"""
