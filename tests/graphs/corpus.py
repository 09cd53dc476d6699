"""A small shared corpus for the answer-graph tests (two bands, an aviator, a date)."""

DOCS = [
    {"text": "Mercyful Fate is a Danish heavy metal band from Copenhagen.", "source_id": "d1"},
    {"text": "The Beginning is a compilation album of rare demo tracks by Mercyful Fate.", "source_id": "d2"},
    {"text": "Metallica was formed in Los Angeles in 1981.", "source_id": "d3"},
    {"text": "Amy Johnson was a pioneering English aviator.", "source_id": "d4"},
    {"text": "They Flew Alone is a 1942 British biopic about Amy Johnson.", "source_id": "d5"},
    {"text": "Chiang Kai-shek died on April 5, 1975 in Taipei.", "source_id": "d6"},
]
