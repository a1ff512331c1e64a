"""The incident benchmark's night, generated with a fixed seed (never from the held-out sets).

300 customers report one fibre outage within 30 minutes, in English, Portuguese, Spanish and
Italian, on SMS, X (in public and by DM) and Telegram, in varied wording, some naming the town;
200 routine and unrelated messages (bills, passwords, plans, coverage in the same town, thanks)
from other customers are mixed in over the same night. Each line is a replay input line
(shared/spec/replay.md) plus ``"kind": "outage" | "routine"`` for scoring.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

__all__ = ["AREA", "night"]

#: The town the outage hits.
AREA = "Almada"
START = datetime(2026, 12, 5, 2, 0, tzinfo=timezone.utc)

OUTAGE: dict[str, list[str]] = {
    "en": [
        "my internet is down",
        "no internet since {time}",
        "internet not working at all",
        "wifi is dead, nothing loads",
        "the fibre is down again",
        "is aurora down? no internet here",
        "whole street has no internet",
        "router lights are red and no internet",
        "internet dropped {time} and hasn't come back",
        "net's not working, is there an outage?",
        "no wifi in the house since {time}",
        "broadband isn't working tonight",
        "is there an outage? my internet stopped",
        "internet down in {area}",
        "no internet in {area}, neighbours too",
        "outage in {area}? fibre is down",
    ],
    "pt": [
        "estou sem internet",
        "sem internet desde as {time}",
        "a internet não funciona",
        "a fibra está em baixo",
        "a net foi abaixo",
        "o router está com luz vermelha e sem internet",
        "a rua toda está sem internet",
        "há alguma avaria? fiquei sem internet",
        "sem wifi em casa desde as {time}",
        "a internet caiu e não volta",
        "sem internet em {area}",
        "avaria em {area}? a fibra está em baixo",
        "em {area} ninguém tem internet",
    ],
    "es": [
        "no tengo internet",
        "sin internet desde las {time}",
        "internet no funciona",
        "la fibra no va",
        "se ha caído internet",
        "el router tiene luz roja y no hay internet",
        "toda la calle sin internet",
        "¿hay una avería? me he quedado sin internet",
        "sin wifi en casa desde las {time}",
        "sin internet en {area}",
        "¿avería en {area}? no hay internet",
    ],
    "it": [
        "non ho internet",
        "senza internet dalle {time}",
        "internet non funziona",
        "la fibra non va",
        "è caduta la connessione internet",
        "il router ha la luce rossa e niente internet",
        "tutta la via è senza internet",
        "c'è un guasto? sono senza internet",
        "niente wifi in casa dalle {time}",
        "senza internet a {area}",
        "guasto a {area}? la fibra non va",
    ],
}

ROUTINE: dict[str, list[str]] = {
    "en": [
        "when is my bill due?",
        "how do i change my wifi password",
        "what plans do you have",
        "is roaming included in my plan?",
        "do you have fibre in {area}?",
        "where is the nearest store in {area}",
        "how do i get a copy of my invoice",
        "thanks!",
        "hello",
        "how can i pay my bill",
        "what's my puk code",
        "how do i activate my new sim",
    ],
    "pt": [
        "quando é que vence a fatura?",
        "como mudo a password do wifi",
        "que tarifários têm?",
        "o roaming está incluído?",
        "há fibra em {area}?",
        "onde fica a loja mais perto em {area}",
        "obrigado!",
        "olá",
        "como pago a fatura",
        "como ativo o novo cartão sim",
    ],
    "es": [
        "¿cuándo vence mi factura?",
        "¿cómo cambio la contraseña del wifi?",
        "¿qué tarifas tenéis?",
        "¿el roaming está incluido?",
        "¿hay fibra en {area}?",
        "¡gracias!",
        "hola",
        "¿cómo pago la factura?",
    ],
    "it": [
        "quando scade la bolletta?",
        "come cambio la password del wifi",
        "che offerte avete?",
        "il roaming è incluso?",
        "c'è la fibra a {area}?",
        "grazie!",
        "ciao",
        "come pago la bolletta",
    ],
}

LANGUAGES = ("en", "pt", "es", "it")
CHANNELS = (("sms", False), ("x", True), ("x", False), ("telegram", False))


def _vary(text: str, rng: random.Random) -> str:
    """The same words written differently: case, punctuation, an emoji, a greeting."""
    if rng.random() < 0.2:
        text = text.capitalize()
    if rng.random() < 0.15:
        text = text.rstrip("?!.") + rng.choice(["!!", "...", " 😡", " 😕", "?"])
    if rng.random() < 0.1:
        text = rng.choice(["hi ", "ola ", "hola ", "ciao "]) + text
    return text


def _sender(channel: str, n: int) -> str:
    if channel == "sms":
        return f"+3519{n:08d}"
    if channel == "x":
        return f"cust{n:06d}"
    return str(700000000 + n)


def night(
    reports: int = 300,
    routine: int = 200,
    minutes: int = 30,
    seed: int = 15,
    area_share: float = 0.3,
) -> list[dict[str, object]]:
    """The night's messages in time order (see module docstring).

    Args:
        reports: Outage reports, one per customer.
        routine: Routine and unrelated messages, one per customer.
        minutes: Over how long the reports come in.
        seed: The random seed (the same night every run).
        area_share: The share of reports naming the town.
    """
    rng = random.Random(seed)
    lines: list[dict[str, object]] = []
    span = timedelta(minutes=minutes)
    for n in range(reports):
        language = LANGUAGES[n % 4]
        templates = OUTAGE[language]
        named = [t for t in templates if "{area}" in t]
        plain = [t for t in templates if "{area}" not in t]
        template = rng.choice(named if rng.random() < area_share else plain)
        at = START + span * rng.random()
        text = template.format(area=AREA, time=f"{rng.choice([1, 2])}:{rng.randrange(60):02d}")
        lines.append(_line(f"outage-{n}", "outage", n, _vary(text, rng), at, rng))
    for n in range(routine):
        language = LANGUAGES[n % 4]
        at = START - timedelta(minutes=30) + timedelta(minutes=90) * rng.random()
        text = rng.choice(ROUTINE[language]).format(area=AREA)
        lines.append(_line(f"routine-{n}", "routine", 10_000 + n, _vary(text, rng), at, rng))
    lines.sort(key=lambda line: str(line["at"]))
    return lines


def _line(
    line_id: str, kind: str, n: int, text: str, at: datetime, rng: random.Random
) -> dict[str, object]:
    channel, public = CHANNELS[rng.randrange(len(CHANNELS))]
    if channel == "x" and public:
        text = f"@AuroraCare {text}"
    return {
        "id": line_id,
        "kind": kind,
        "channel": channel,
        "public": public,
        "sender": _sender(channel, n),
        "text": text,
        "at": at.isoformat(),
    }
