"""NLU signals (language, personal data, emotion, addressing), classifiers, Rasa components."""
