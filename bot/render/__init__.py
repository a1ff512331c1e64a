"""How a reply looks on each channel (plain logic: no Rasa, no network)."""

from bot.render.base import CHANNELS, Channel, limits_for, render
from bot.render.sms import SmsInfo, encoding_of, fit_sms, is_gsm7, transliterate_to_gsm7
from bot.render.telegram import split_message
from bot.render.text import normalise_outgoing
from bot.render.x import fit_public_reply, weighted_length

__all__ = [
    "CHANNELS",
    "Channel",
    "SmsInfo",
    "encoding_of",
    "fit_public_reply",
    "fit_sms",
    "is_gsm7",
    "limits_for",
    "normalise_outgoing",
    "render",
    "split_message",
    "transliterate_to_gsm7",
    "weighted_length",
]
