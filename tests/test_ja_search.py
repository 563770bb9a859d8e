"""The Japanese search splits the query in the browser (ja_search.JS_SPLITTER, JavaScript) the
same way it split the pages into the index (ja_search.split_terms, Python): both are run on the
same strings, the JavaScript under node, and must agree term for term."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "book" / "_ext"))
import ja_search  # noqa: E402

NODE = shutil.which("node")

SAMPLES = [
    "",
    "相対エントロピー",
    "KLダイバージェンス",
    "エントロピーとKLダイバージェンスの関係",
    "交差エントロピー損失を最小化する",
    "情報量",
    "人々",                                  # 々 belongs to the kanji run
    "最尤推定 maximum likelihood",
    "カルバック・ライブラー・ダイバージェンス",
    "ﾀﾞｲﾊﾞｰｼﾞｪﾝｽ",                           # half-width katakana: NFKC makes it full width
    "ＫＬ　ダイバージェンス１２３",           # full-width Latin, digits and space
    "Entropy, cross-entropy & KL-divergence!",
    "naïve Bayes, Müller, façade",
    "α-divergence と β 分布",
    "H(P) = -Σ p log p",
    "p_θ(x) の θ について",
    "①②③ ㍻ ㌔",                           # NFKC expands these
    "ひらがなだけ",
    "漢",                                     # a one-kanji run stays whole
    "snake_case_name と camelCase",
    "𠮷野家",                                 # outside the BMP
    "emoji 😀 と絵文字",
    "ー長音だけー",
    "ＡＢＣｄｅｆ",
    "İstanbul ẞ ß",
    "tab\tnew\nline",
]

# characters to mix at random: every script run the splitter knows, and its edges
ALPHABET = ("相対情報量交差最小化推定人々漢字"
            "エントロピーダイバージェンスカルバック・ヴァ゠ヽヾ"
            "ひらがなのはをゝ"
            "ｱｲｳｰﾞﾟ･"
            "abcXYZ019_éÀßİ"
            "αβΣθ"
            "ＡＢ１２　"
            " ,.-!?()（）「」。、\t\n"
            "①㍻😀𠮷")


def random_samples(n: int = 300, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 24))) for _ in range(n)]


def js_split(strings: list[str]) -> list[list[str]]:
    script = ja_search.JS_SPLITTER + """
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(input.map(splitQuery)));
"""
    done = subprocess.run([NODE, "-e", script], input=json.dumps(strings), capture_output=True,
                          text=True, encoding="utf-8", timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_javascript_and_python_splitters_agree():
    strings = SAMPLES + random_samples()
    js = js_split(strings)
    differ = [(s, py, j) for s, py, j in zip(strings, map(ja_search.split_terms, strings), js) if py != j]
    assert not differ, "split differently:\n" + "\n".join(
        f"  {s!r}: python {py} / javascript {j}" for s, py, j in differ[:20])


def test_compounds_are_split_into_findable_terms():
    assert ja_search.split_terms("相対エントロピー") == ["相対", "エントロピー"]
    assert ja_search.split_terms("情報量") == ["情報", "報量"]
    assert ja_search.split_terms("KLダイバージェンス") == ["kl", "ダイバージェンス"]


def test_one_kanji_terms_are_found_like_two_kanji_ones():
    """A reader who types 値, 和 or 差 finds the pages with 期待値, 総和, 差分 (issue 12)."""
    page = "期待値は確率で重み付けした総和であり、二つの分布の差を測る。値が小さい。"
    indexed = {t for t in ja_search.index_terms(page) if ja_search.SearchJapaneseRuns.word_filter(None, t)}
    for query in ("値", "和", "差", "期待値", "総和", "期待"):
        terms = ja_search.split_terms(query)  # what the query box sends (the JavaScript agrees, above)
        assert terms and set(terms) <= indexed, (query, terms)
    assert "待" in indexed and "ひ" not in indexed  # single kanji only, not single kana
    assert not ja_search.SearchJapaneseRuns.word_filter(None, "a")  # one Latin letter stays out, as in Sphinx
    assert ja_search.index_terms("相対エントロピー")[:2] == ja_search.split_terms("相対エントロピー")
