"""Japanese full-text search whose index and query are split by the same rule.

Sphinx's Japanese search splits the *pages* with a word segmenter but leaves what the
reader *types* whole, so a query written without spaces, such as 相対エントロピー, is
looked up as one word that the index never holds. Here both sides use one rule, written
twice (Python for the index, JavaScript for the query) and tested against each other:

* text is NFKC-normalised and lower-cased;
* it is cut into runs of one script: kanji, katakana (with the long-vowel mark ー),
  hiragana, or Latin letters and digits; anything else separates runs;
* a kanji run becomes its overlapping two-character pieces (情報量 -> 情報, 報量), so a
  compound is found from any of its words; every other run stays whole.

The index also holds every kanji on its own (情報量 -> 情, 報, 量 as well): a reader who
types one kanji, such as 値, 和 or 差, is looking for words like 期待値 or 総和 that the
two-character pieces alone never match (Sphinx matches part of an index term only for query
terms of three or more characters). A one-kanji query stays one term, so it needs nothing
on the query side.

Sphinx searches for pages that hold *all* query terms and also matches longer index
terms that contain a query term of three or more characters, so エントロ finds
エントロピー.
"""

from __future__ import annotations

import re
import unicodedata

from sphinx.search import languages
from sphinx.search.ja import SearchJapanese

# One alternative per script run. Python's ``re`` has no \p{Script}, so the ranges are
# spelled out; the JavaScript below uses the same ranges.
_KANJI = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3005"      # CJK ideographs, 々
_KATAKANA = "\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f"         # includes ー (U+30FC)
_HIRAGANA = "\u3041-\u309f"
_WORD = "0-9a-z_\u00c0-\u024f\u0370-\u03ff"                    # Latin (with accents), Greek
_RUN = re.compile(f"[{_KANJI}]+|[{_KATAKANA}]+|[{_HIRAGANA}]+|[{_WORD}]+")


def split_terms(text: str) -> list[str]:
    """Split ``text`` into search terms by the rule in the module docstring."""
    terms: list[str] = []
    for run in _RUN.findall(unicodedata.normalize("NFKC", text).lower()):
        if len(run) > 1 and re.fullmatch(f"[{_KANJI}]+", run):
            terms.extend(run[i:i + 2] for i in range(len(run) - 1))
        else:
            terms.append(run)
    return terms


def index_terms(text: str) -> list[str]:
    """The terms a page is indexed under: :func:`split_terms` and every single kanji of a longer kanji run."""
    terms = split_terms(text)
    for run in _RUN.findall(unicodedata.normalize("NFKC", text).lower()):
        if len(run) > 1 and re.fullmatch(f"[{_KANJI}]+", run):
            terms.extend(run)
    return terms


# The same rule for the query box; Sphinx puts it in language_data.js as `splitQuery`.
JS_SPLITTER = r"""
var splitQuery = (query) => {
  const kanji = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3005";
  const run = new RegExp(
    "[" + kanji + "]+|[\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f]+|[\u3041-\u309f]+" +
    "|[0-9a-z_\u00c0-\u024f\u0370-\u03ff]+", "g");
  const onlyKanji = new RegExp("^[" + kanji + "]+$");
  const terms = [];
  for (const piece of query.normalize("NFKC").toLowerCase().match(run) || []) {
    if (piece.length > 1 && onlyKanji.test(piece)) {
      for (let i = 0; i + 1 < piece.length; i++) terms.push(piece.slice(i, i + 2));
    } else {
      terms.push(piece);
    }
  }
  return terms;
};
"""


class SearchJapaneseRuns(SearchJapanese):
    """Sphinx's Japanese search language with :func:`split_terms` on both sides."""

    js_splitter_code = JS_SPLITTER

    def init(self, options: dict[str, str]) -> None:
        pass

    def split(self, input: str) -> list[str]:
        return index_terms(input)  # Sphinx calls split() on the pages; the query box runs JS_SPLITTER

    def word_filter(self, stemmed_word: str) -> bool:
        # Keep one-character Latin terms out, as Sphinx does, but keep a single kanji: 値, 和, 差 are words.
        return len(stemmed_word) > 1 or re.fullmatch(f"[{_KANJI}]", stemmed_word) is not None


def register() -> None:
    """Use :class:`SearchJapaneseRuns` for every build whose ``language`` is ``ja``."""
    languages["ja"] = SearchJapaneseRuns
