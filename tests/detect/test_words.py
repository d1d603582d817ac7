"""Sentence and paragraph spans, and the word-count refusal the text detectors share."""

from __future__ import annotations

import pytest

from headwater.detect.words import paragraphs, require_words, sentences
from headwater.errors import InvalidRequestError


def test_titles_do_not_end_sentences_and_spans_are_stripped():
    text = 'As Dr. Emily Carter notes, "Gardens matter." Then Mr. Smith left!  Did he?\nno stop here'
    assert [text[s:e] for s, e in sentences(text)] == [
        'As Dr. Emily Carter notes, "Gardens matter."',
        "Then Mr. Smith left!",
        "Did he?",
        "no stop here",
    ]


def test_paragraphs_split_on_blank_lines():
    text = "\n  First one.\nstill first.\n\n \n Second.  \n"
    assert [text[s:e] for s, e in paragraphs(text)] == ["First one.\nstill first.", "Second."]


def test_require_words_names_the_text():
    require_words(["one two three"], 3)
    with pytest.raises(InvalidRequestError, match="2 words, fewer than the minimum 3") as error:
        require_words(["one two three", "one two"], 3)
    assert error.value.param == "texts[1]"
    with pytest.raises(InvalidRequestError, match="no text"):
        require_words([], 1)
