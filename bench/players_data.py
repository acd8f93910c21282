"""A players CSV of any size, the same bytes for the same (rows, seed): realistic names in many scripts.

Every row is valid by include/players.py (names trimmed and non-empty, no ';', ages 16..45), so that the
number of records a job must move is the number of rows. The header ``name;age`` is line 1.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

# (first names, last names) per naming culture: Latin with diacritics, Cyrillic, Greek, CJK, Arabic,
# Devanagari, Hangul, Hebrew, Thai, and the plain ASCII names of the tutorial.
CULTURES: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (
        ("Kylian", "Zoë", "José", "Chloé", "François", "Noémie", "Inès", "Raphaël", "Anaïs", "Léa"),
        ("Mbappé", "Giroud", "Lefèvre", "Girard", "Benoît", "Moreau", "Dubois", "Rousseau", "Béranger", "Faure"),
    ),
    (
        ("Luka", "Ivan", "Marija", "Dražen", "Željko", "Ana", "Mateo", "Petra", "Šime", "Nikola"),
        ("Modrić", "Perišić", "Kovačević", "Šuker", "Rakitić", "Jurić", "Babić", "Horvat", "Vidović", "Kramarić"),
    ),
    (
        ("Søren", "Björn", "Åsa", "Jörg", "Øystein", "Mía", "Jürgen", "Ängla", "Sigurður", "Þóra"),
        ("Müller", "Østergaard", "Åberg", "Schäfer", "Jónsson", "Löw", "Größer", "Kjær", "Nuñez", "Ødegaard"),
    ),
    (
        ("Łukasz", "Wojciech", "Zuzanna", "Jiří", "Tomáš", "Gülşen", "Çağlar", "Şükrü", "Ágnes", "Dávid"),
        ("Piszczek", "Szczęsny", "Dvořák", "Nedvěd", "Şahin", "Çalhanoğlu", "Türüm", "Kovács", "Szűcs", "Błaszczyk"),
    ),
    (
        ("Иван", "Мария", "Алексей", "Ольга", "Дмитрий", "Анна", "Сергей", "Татьяна", "Андрій", "Олена"),
        ("Петров", "Иванова", "Смирнов", "Кузнецова", "Шевченко", "Ярмоленко", "Аршавин", "Попова", "Козлов", "Бойко"),
    ),
    (
        ("Γιώργος", "Μαρία", "Νίκος", "Ελένη", "Κώστας", "Σοφία", "Δημήτρης", "Αθηνά", "Ολυμπία", "Στέλιος"),
        ("Παπαδόπουλος", "Καραγκούνης", "Χαριστέας", "Νικολάου", "Γεωργίου", "Σαμαράς", "Τζόρβας", "Ζαγοράκης"),
    ),
    (
        ("伟", "芳", "娜", "敏", "静", "磊", "洋", "勇", "艳", "杰"),
        ("李", "王", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周"),
    ),
    (
        ("翔", "さくら", "健太", "陽菜", "蓮", "美咲", "大翔", "結衣", "真司", "圭佑"),
        ("佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "香川", "本田"),
    ),
    (
        ("محمد", "فاطمة", "أحمد", "مريم", "علي", "نور", "يوسف", "سارة", "عمر", "ليلى"),
        ("صلاح", "الحسن", "عبدالله", "المصري", "الزين", "حداد", "خليل", "منصور", "ناصر", "سعيد"),
    ),
    (
        ("राहुल", "प्रिया", "अमित", "सुनीता", "विराट", "अनुष्का", "सुनील", "पूजा", "रोहित", "दीपिका"),
        ("शर्मा", "वर्मा", "गुप्ता", "सिंह", "कोहली", "छेत्री", "पटेल", "यादव", "जोशी", "मेहता"),
    ),
    (
        ("민준", "서연", "도윤", "지우", "흥민", "하은", "지성", "수아", "예준", "유진"),
        ("김", "이", "박", "최", "정", "손", "강", "조", "윤", "장"),
    ),
    (
        ("דוד", "שרה", "יוסי", "מיכל", "אבי", "נועה", "משה", "רחל", "איתי", "תמר"),
        ("כהן", "לוי", "מזרחי", "פרץ", "ביטון", "דהן", "אברהם", "פרידמן", "שפירא", "גבאי"),
    ),
    (
        ("สมชาย", "สมหญิง", "ธนา", "วิไล", "ชัย", "มาลี", "กิตติ", "สุดา", "ธีรศิลป์", "ปราณี"),
        ("แดงดา", "ใจดี", "ศรีสุข", "วงศ์ไทย", "บุญมา", "ทองดี", "สุขสวัสดิ์", "แก้วมณี", "ชัยวัฒน์", "รักไทย"),
    ),
    (
        ("Ann", "Bob", "Cristiano", "Lionel", "Megan", "Alex", "Harry", "Sam", "Olivia", "Mo"),
        ("Smith", "Ronaldo", "Messi", "Rapinoe", "Morgan", "Kane", "Johnson", "Brown", "O'Neil", "Taylor"),
    ),
)
AGES = (16, 45)
HEADER = "name;age\n"


@dataclass(frozen=True)
class PlayersFile:
    path: Path
    rows: int  # data rows (valid records), header excluded
    bytes: int
    avg_row_bytes: float  # bytes of a data row without its newline ("name;age"): the record size to compare with


CHUNK_ROWS = 1_000_000  # rows generated and written at a time: a file of any size in bounded memory


def _draw(rng: random.Random, count: int) -> list[str]:
    cultures = rng.choices(range(len(CULTURES)), k=count)
    picks = [rng.getrandbits(24) for _ in range(count)]
    low, high = AGES
    out = []
    for culture, bits in zip(cultures, picks, strict=True):
        firsts, lasts = CULTURES[culture]
        first = firsts[bits % len(firsts)]
        last = lasts[(bits >> 8) % len(lasts)]
        age = low + (bits >> 16) % (high - low + 1)
        out.append(f"{first} {last};{age}\n")
    return out


def write_csv(path: Path, count: int, seed: int) -> PlayersFile:
    """Write the header and ``count`` rows to ``path`` (UTF-8, LF), ``CHUNK_ROWS`` at a time."""
    rng = random.Random(seed)  # noqa: S311 - test data, reproducible on purpose
    path.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    with path.open("wb") as out:
        size += out.write(HEADER.encode("utf-8"))
        for start in range(0, count, CHUNK_ROWS):
            size += out.write("".join(_draw(rng, min(CHUNK_ROWS, count - start))).encode("utf-8"))
    row_bytes = size - len(HEADER.encode()) - count  # minus the header and one newline per row
    return PlayersFile(path, count, size, row_bytes / count if count else 0.0)
