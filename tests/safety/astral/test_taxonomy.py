from __future__ import annotations

import pytest

from headwater.errors import InvalidRequestError
from headwater.safety.astral import default_taxonomy, load_taxonomy

BEAVERTAILS = {
    "animal_abuse",
    "child_abuse",
    "controversial_topics,politics",
    "discrimination,stereotype,injustice",
    "drug_abuse,weapons,banned_substance",
    "financial_crime,property_crime,theft",
    "hate_speech,offensive_language",
    "misinformation_regarding_ethics,laws_and_safety",
    "non_violent_unethical_behavior",
    "privacy_violation",
    "self_harm",
    "sexually_explicit,adult_content",
    "terrorism,organized_crime",
    "violence,aiding_and_abetting,incitement",
}


def test_default_grid_is_the_papers_420_cells():
    taxonomy = default_taxonomy()
    assert set(taxonomy.categories) == BEAVERTAILS
    assert list(taxonomy.styles) == [
        "slang",
        "uncommon_dialects",
        "technical_terms",
        "role_play",
        "misspellings",
        "question",
    ]
    assert set(taxonomy.techniques) == {
        "evidence-based_persuasion",
        "expert_endorsement",
        "misrepresentation",
        "authority_endorsement",
        "logical_appeal",
    }
    cells = taxonomy.cells()
    assert len(cells) == 420 == len(set(cells))
    assert all(len(d) > 10 for dim in (taxonomy.categories, taxonomy.styles, taxonomy.techniques) for d in dim.values())


def test_user_yaml_extends_and_redescribes(tmp_path):
    extra = tmp_path / "extra.yaml"
    extra.write_text("styles:\n  haiku: Three short lines.\n  slang: Our own wording.\n")
    taxonomy = load_taxonomy(extra)
    assert len(taxonomy.styles) == 7 and taxonomy.styles["slang"] == "Our own wording."
    assert len(taxonomy.cells()) == 14 * 7 * 5


def test_replace_keeps_only_the_files_entries(tmp_path):
    extra = tmp_path / "small.yaml"
    extra.write_text("replace: true\ncategories:\n  placeholder_topic: A benign stand-in.\n")
    taxonomy = load_taxonomy(extra)
    assert list(taxonomy.categories) == ["placeholder_topic"]
    assert len(taxonomy.cells()) == 30


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("style:\n  a: b\n", "unknown key 'style'; allowed keys are categories, styles, techniques, replace"),
        ("styles:\n  haiku: ''\n", "styles.haiku needs a non-empty description"),
        ("styles: [a, b]\n", "'styles' must be a non-empty mapping"),
        ("replace: maybe\n", "'replace' must be true or false"),
        ("- a\n", "top level must be a mapping"),
        ("styles: {a: [\n", "not valid UTF-8 YAML"),
    ],
)
def test_bad_yaml_names_the_problem(tmp_path, text, needle):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InvalidRequestError) as caught:
        load_taxonomy(path)
    assert needle in caught.value.message


def test_check_cell_names_field_and_allowed_values():
    with pytest.raises(InvalidRequestError) as caught:
        default_taxonomy().check_cell(("animal_abuse", "poetry", "logical_appeal"), "plan line 4")
    assert "plan line 4: style 'poetry' is not in the taxonomy; allowed: slang" in caught.value.message
