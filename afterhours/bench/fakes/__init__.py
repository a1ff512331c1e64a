"""Fake X, Telegram and Twilio servers on loopback, for the tests and the channel benchmarks."""
