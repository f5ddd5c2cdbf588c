"""The scene table of the studio generator: families, modifiers and colours, and the words that pick them.

One row per family (English and Korean words, its painter and its floor/horizon line), so adding a scene
is adding a row here and a painter in `studio`. Matching is word-based and transparent: the caller gets the
exact words that decided the family and the modifiers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType

RGB = tuple[float, float, float]

DEFAULT_FAMILY = "studio"


@dataclass(frozen=True)
class SceneFamily:
    """One kind of set: its words, how the line between backdrop and floor sits, and its base colours."""

    name: str
    words: tuple[str, ...]
    outdoor: bool
    line: float  # the horizon / wall-floor line as a fraction of the height (before the seed's jitter)
    wall: RGB  # the backdrop colour (outdoor: the sky near the horizon)
    floor: RGB  # the colour of the surface the product stands on
    priority: int = 1  # the generic studio sweep yields to any named surface or place
    tints: str = "grade"  # what a colour word repaints: "set" (wall and floor), "surface", "wall", "grade"
    tint_strength: float = 1.0


@dataclass(frozen=True)
class Modifier:
    """A word that changes the light or the palette of any family (sunset, night, minimal, pastel...)."""

    name: str
    words: tuple[str, ...]
    default_family: str = DEFAULT_FAMILY  # the family used when the words name no scene


@dataclass(frozen=True)
class Colour:
    """A colour word that tints the set (the wall, and the floor of a plain set)."""

    name: str
    rgb: RGB
    words: tuple[str, ...]


FAMILIES: tuple[SceneFamily, ...] = (
    SceneFamily(
        "studio",
        (
            "studio",
            "white studio",
            "sweep",
            "seamless",
            "backdrop",
            "cyclorama",
            "infinity cove",
            "plain background",
            "스튜디오",
            "호리존",
            "무배경",
            "단색 배경",
        ),
        outdoor=False,
        line=0.60,
        wall=(0.86, 0.86, 0.87),
        floor=(0.95, 0.95, 0.95),
        priority=0,
        tints="set",
    ),
    SceneFamily(
        "beach",
        (
            "beach",
            "beaches",
            "seaside",
            "shore",
            "shoreline",
            "coast",
            "coastal",
            "sandy",
            "sand",
            "tropical",
            "island",
            "해변",
            "바닷가",
            "해안",
            "모래사장",
            "백사장",
            "모래",
            "해수욕장",
            "열대",
        ),
        outdoor=True,
        line=0.47,
        wall=(0.82, 0.90, 0.96),
        floor=(0.93, 0.86, 0.73),
    ),
    SceneFamily(
        "sea",
        (
            "sea",
            "ocean",
            "sea view",
            "ocean view",
            "seascape",
            "waterfront",
            "harbor",
            "harbour",
            "marina",
            "바다",
            "오션",
            "오션뷰",
            "수평선",
            "항구",
            "지중해",
        ),
        outdoor=True,
        line=0.46,
        wall=(0.80, 0.89, 0.96),
        floor=(0.93, 0.92, 0.89),
    ),
    SceneFamily(
        "marble",
        ("marble", "marble table", "marble slab", "stone slab", "대리석", "마블", "대리석 테이블"),
        outdoor=False,
        line=0.56,
        wall=(0.87, 0.85, 0.83),
        floor=(0.92, 0.92, 0.91),
        tints="surface",
    ),
    SceneFamily(
        "wood",
        (
            "wood",
            "wooden",
            "wooden table",
            "wood table",
            "timber",
            "oak",
            "walnut",
            "table",
            "tabletop",
            "desk",
            "planks",
            "나무",
            "원목",
            "나무 테이블",
            "원목 테이블",
            "테이블",
            "우드",
            "목재",
            "책상",
            "식탁",
        ),
        outdoor=False,
        line=0.56,
        wall=(0.86, 0.83, 0.78),
        floor=(0.70, 0.52, 0.34),
        tints="surface",
        tint_strength=0.75,
    ),
    SceneFamily(
        "concrete",
        (
            "concrete",
            "cement",
            "industrial",
            "loft",
            "brutalist",
            "urban",
            "콘크리트",
            "시멘트",
            "노출 콘크리트",
            "인더스트리얼",
            "도시",
        ),
        outdoor=False,
        line=0.58,
        wall=(0.62, 0.62, 0.61),
        floor=(0.55, 0.55, 0.54),
        tints="set",
        tint_strength=0.55,
    ),
    SceneFamily(
        "grass",
        (
            "grass",
            "grassy",
            "lawn",
            "park",
            "meadow",
            "field",
            "fields",
            "garden",
            "picnic",
            "잔디",
            "잔디밭",
            "공원",
            "풀밭",
            "들판",
            "초원",
            "정원",
            "풀",
        ),
        outdoor=True,
        line=0.48,
        wall=(0.82, 0.89, 0.95),
        floor=(0.42, 0.62, 0.26),
    ),
    SceneFamily(
        "snow",
        (
            "snow",
            "snowy",
            "winter",
            "snowfield",
            "ski",
            "frozen",
            "눈",
            "눈밭",
            "설원",
            "겨울",
            "눈 덮인",
            "설경",
            "스키장",
        ),
        outdoor=True,
        line=0.48,
        wall=(0.84, 0.89, 0.95),
        floor=(0.95, 0.97, 1.00),
    ),
    SceneFamily(
        "desert",
        ("desert", "dune", "dunes", "sand dunes", "sahara", "arid", "사막", "모래언덕", "모래 언덕", "사구"),
        outdoor=True,
        line=0.50,
        wall=(0.90, 0.88, 0.84),
        floor=(0.88, 0.70, 0.49),
    ),
    SceneFamily(
        "kitchen",
        (
            "kitchen",
            "kitchen counter",
            "countertop",
            "counter",
            "worktop",
            "주방",
            "부엌",
            "키친",
            "조리대",
            "싱크대",
            "아일랜드 식탁",
        ),
        outdoor=False,
        line=0.58,
        wall=(0.93, 0.93, 0.92),
        floor=(0.88, 0.87, 0.85),
        tints="wall",
    ),
    SceneFamily(
        "forest",
        ("forest", "woods", "woodland", "jungle", "trees", "moss", "숲", "숲속", "정글", "산림", "이끼"),
        outdoor=True,
        line=0.55,
        wall=(0.45, 0.58, 0.42),
        floor=(0.36, 0.40, 0.24),
    ),
    SceneFamily(
        "cafe",
        (
            "cafe",
            "café",
            "coffee shop",
            "coffeehouse",
            "bistro",
            "restaurant",
            "카페",
            "커피숍",
            "커피 숍",
            "레스토랑",
            "식당",
        ),
        outdoor=False,
        line=0.57,
        wall=(0.42, 0.33, 0.26),
        floor=(0.46, 0.31, 0.20),
        tints="wall",
    ),
    SceneFamily(
        "linen",
        (
            "linen",
            "fabric",
            "cloth",
            "textile",
            "drape",
            "drapery",
            "cotton",
            "bedding",
            "린넨",
            "리넨",
            "천",
            "패브릭",
            "침구",
            "면직물",
        ),
        outdoor=False,
        line=0.58,
        wall=(0.88, 0.85, 0.79),
        floor=(0.90, 0.87, 0.81),
        tints="set",
    ),
    SceneFamily(
        "pastel",
        ("paper", "colored paper", "coloured paper", "two-tone", "color block", "색지", "종이", "투톤"),
        outdoor=False,
        line=0.60,
        wall=(0.96, 0.80, 0.78),
        floor=(0.98, 0.89, 0.84),
        tints="set",
    ),
)

MODIFIERS: tuple[Modifier, ...] = (
    Modifier(
        "sunset",
        (
            "sunset",
            "sunrise",
            "golden hour",
            "dusk",
            "evening",
            "twilight",
            "노을",
            "일몰",
            "석양",
            "해질녘",
            "해 질 녘",
            "골든아워",
            "골든 아워",
            "저녁",
            "일출",
            "황혼",
        ),
        default_family="beach",
    ),
    Modifier(
        "night",
        (
            "night",
            "nighttime",
            "midnight",
            "dark",
            "moody",
            "low key",
            "low-key",
            "밤",
            "야경",
            "야간",
            "어두운",
            "어둡게",
            "한밤",
            "한밤중",
        ),
    ),
    Modifier(
        "minimal",
        (
            "minimal",
            "minimalist",
            "minimalistic",
            "simple",
            "clean",
            "미니멀",
            "미니멀한",
            "심플",
            "심플한",
            "단순",
            "단순한",
            "깔끔한",
            "깔끔",
        ),
    ),
    Modifier("pastel", ("pastel", "pastels", "soft colors", "soft colours", "파스텔", "파스텔톤"), "pastel"),
    Modifier("bright", ("bright", "airy", "high key", "high-key", "밝은", "밝게", "화사한", "환한")),
)

COLOURS: tuple[Colour, ...] = (
    Colour("white", (0.96, 0.96, 0.95), ("white", "흰", "흰색", "하얀", "하얀색", "화이트")),
    Colour("black", (0.13, 0.13, 0.14), ("black", "검은", "검정", "검정색", "검은색", "블랙")),
    Colour("grey", (0.62, 0.62, 0.63), ("grey", "gray", "회색", "그레이")),
    Colour("pink", (0.95, 0.72, 0.76), ("pink", "분홍", "분홍색", "핑크")),
    Colour("red", (0.78, 0.20, 0.20), ("red", "빨간", "빨강", "빨간색", "레드")),
    Colour("orange", (0.95, 0.58, 0.25), ("orange", "주황", "주황색", "오렌지")),
    Colour("yellow", (0.98, 0.86, 0.38), ("yellow", "노란", "노랑", "노란색", "옐로우", "옐로")),
    Colour("green", (0.45, 0.70, 0.45), ("green", "초록", "초록색", "녹색", "그린")),
    Colour("mint", (0.70, 0.90, 0.82), ("mint", "민트", "민트색")),
    Colour("blue", (0.45, 0.62, 0.88), ("blue", "파란", "파랑", "파란색", "블루")),
    Colour("sky blue", (0.70, 0.84, 0.96), ("sky blue", "light blue", "하늘색")),
    Colour("navy", (0.16, 0.21, 0.38), ("navy", "남색", "네이비")),
    Colour(
        "purple", (0.66, 0.55, 0.84), ("purple", "violet", "lavender", "보라", "보라색", "퍼플", "라벤더")
    ),
    Colour("beige", (0.90, 0.84, 0.74), ("beige", "tan", "베이지", "베이지색")),
    Colour("cream", (0.97, 0.94, 0.86), ("cream", "ivory", "크림", "크림색", "아이보리")),
    Colour("brown", (0.48, 0.34, 0.24), ("brown", "갈색", "브라운")),
    Colour("gold", (0.86, 0.70, 0.38), ("gold", "golden", "금색", "골드")),
)

_FAMILY_BY_NAME = MappingProxyType({family.name: family for family in FAMILIES})
_COLOUR_BY_NAME = MappingProxyType({colour.name: colour for colour in COLOURS})

# Korean words take particles and endings ("해변에서", "대리석 위에"); these may follow a scene word.
_KO_SUFFIXES = (
    "하게",
    "하고",
    "한",
    "적인",
    "인",
    "에서",
    "위에",
    "위",
    "에",
    "의",
    "으로",
    "로",
    "은",
    "는",
    "이",
    "가",
    "을",
    "를",
    "과",
    "와",
    "도",
    "처럼",
    "같은",
    "풍",
    "톤",
    "빛",
    "색",
    "배경",
    "느낌",
    "속",
)
_HANGUL = "가-힣"


@dataclass(frozen=True)
class SceneMatch:
    """What the words picked: a family, modifiers (and colours, in the order given) and the words used."""

    family: str
    modifiers: tuple[str, ...]
    colours: tuple[str, ...]
    words: tuple[str, ...]


def _pattern(word: str) -> re.Pattern[str]:
    body = r"\s*".join(re.escape(part) for part in word.split())
    if re.search(f"[{_HANGUL}]", word):
        suffix = "|".join(re.escape(s) for s in sorted(_KO_SUFFIXES, key=len, reverse=True))
        return re.compile(f"(?<![{_HANGUL}])({body})(?:{suffix})*(?![{_HANGUL}])")
    return re.compile(rf"(?<![a-z0-9])({body})(?![a-z0-9])")


def _vocabulary() -> list[tuple[str, str, re.Pattern[str]]]:
    """Every (kind:name, word, pattern), longest words first so "sand dunes" wins over "sand"."""
    rows: list[tuple[str, str, str]] = []
    rows += [(f"family:{f.name}", w, w) for f in FAMILIES for w in f.words]
    rows += [(f"modifier:{m.name}", w, w) for m in MODIFIERS for w in m.words]
    rows += [(f"colour:{c.name}", w, w) for c in COLOURS for w in c.words]
    rows.sort(key=lambda row: len(row[1]), reverse=True)
    return [(key, word, _pattern(word.lower())) for key, word, _ in rows]


_VOCABULARY = tuple(_vocabulary())


def find_scene(words: str) -> SceneMatch:
    """Pick the family, modifiers and colours named by English or Korean words; unknown words → studio.

    The family is the most specific one named (any named place or surface beats the generic studio sweep),
    the earliest in the text on a tie. With no family word, a modifier may choose (sunset → beach, pastel →
    pastel paper); with no known word at all the result is the white studio sweep and `words` is empty.
    """
    text = words.lower()
    taken = [False] * len(text)
    hits: list[tuple[int, str, str]] = []
    for key, _word, pattern in _VOCABULARY:
        for found in pattern.finditer(text):
            start, end = found.span(1)
            if any(taken[start:end]):
                continue
            for i in range(start, end):
                taken[i] = True
            hits.append((start, key, words[start:end]))
    hits.sort()
    families = [(start, key.split(":", 1)[1]) for start, key, _ in hits if key.startswith("family:")]
    modifiers = tuple(
        dict.fromkeys(key.split(":", 1)[1] for _, key, _ in hits if key.startswith("modifier:"))
    )
    colours = tuple(dict.fromkeys(key.split(":", 1)[1] for _, key, _ in hits if key.startswith("colour:")))
    if families:
        chosen = max(families, key=lambda row: (_FAMILY_BY_NAME[row[1]].priority, -row[0]))[1]
    else:
        chosen = next((m.default_family for m in MODIFIERS if m.name in modifiers), DEFAULT_FAMILY)
    return SceneMatch(chosen, modifiers, colours, tuple(text_word for _, _, text_word in hits))


def family_row(name: str) -> SceneFamily:
    """The family row of this name (KeyError for an unknown name: callers pass names from FAMILIES)."""
    return _FAMILY_BY_NAME[name]


def colour_row(name: str) -> Colour:
    """The colour row of this name."""
    return _COLOUR_BY_NAME[name]
