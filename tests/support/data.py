"""Test data the tests share: the rows of include/data/players.csv, typed out (not read with the project's code)."""

from __future__ import annotations

PLAYERS = [
    ("Lionel Messi", "36"),
    ("Cristiano Ronaldo", "38"),
    ("Kylian Mbappé", "24"),
    ("Erling Haaland", "23"),
    ("Luka Modrić", "37"),
    ("Son Heung-min", "31"),
    ("Mohamed Salah", "31"),
    ("Kevin De Bruyne", "32"),
    ("Virgil van Dijk", "32"),
    ("Robert Lewandowski", "35"),
    ("Harry Kane", "30"),
    ("Zlatan Ibrahimović", "41"),
]
