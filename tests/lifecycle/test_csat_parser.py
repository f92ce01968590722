"""Which answers are a 1-5 rating: the whole message must be one, so a question with a number in it is not."""

from __future__ import annotations

import pytest

from ventanilla.lifecycle.csat import parse_rating

RATINGS = [
    ("5", 5),
    ("1", 1),
    (" 3. ", 3),
    ("4!", 4),
    ("5 estrellas", 5),
    ("1 estrella", 1),
    ("una estrella", 1),
    ("4/5", 4),
    ("4 de 5", 4),
    ("le doy un 5", 5),
    ("Te doy 4 estrellas", 4),
    ("un 3", 3),
    ("cinco", 5),
    ("Cuatro estrellas", 4),
    ("5 ⭐", 5),
    ("⭐⭐⭐⭐", 4),
    ("⭐️⭐️⭐️", 3),  # with emoji variation selectors
    ("🌟🌟🌟🌟🌟", 5),
    ("★★", 2),
    ("5️⃣", 5),  # keycap
    ("5, excelente", 5),
    ("Excelente!!", 5),
    ("EXCELENTE", 5),
    ("excelente atención", 5),
    ("muy bueno", 5),
    ("Muy buena", 5),
    ("bueno", 4),
    ("buena", 4),
    ("regular", 3),
    ("malo", 2),
    ("Mala", 2),
    ("pésimo", 1),
    ("PESIMA", 1),
    ("pésimo servicio", 1),
    ("muy malo", 1),
    ("¡Muy mala!", 1),
]
NOT_RATINGS = [
    "",
    "0",
    "6",
    "10",
    "55",
    "5.5",
    "1 2",
    "5/10",
    "5 de 10",
    "3 pm",
    "5 paquetes perdidos",
    "tengo 5 paquetes",
    "ABC123456",
    "⭐⭐⭐⭐⭐⭐",
    "bueno, y mi paquete?",
    "no es bueno",
    "malo el servicio de entrega, mi paquete no llega",
    "gracias",
    "hola",
    "una",
    "👍",
]


@pytest.mark.parametrize(("text", "rating"), RATINGS)
def test_ratings(text: str, rating: int) -> None:
    assert parse_rating(text) == rating


@pytest.mark.parametrize("text", NOT_RATINGS)
def test_not_ratings(text: str) -> None:
    assert parse_rating(text) is None
