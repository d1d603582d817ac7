from __future__ import annotations

import logging

from headwater.safety.astral.records import finished_records


def test_a_torn_last_line_is_cut_and_a_bad_middle_line_is_kept_and_reported(tmp_path, caplog):
    output = tmp_path / "results.jsonl"
    output.write_bytes(b'{"id": "a"}\n{"id": broken\n{"id": "c"}\n{"id": "d", "out')
    with caplog.at_level(logging.WARNING):
        done = finished_records(output)
    assert sorted(done) == ["a", "c"]
    assert output.read_bytes() == b'{"id": "a"}\n{"id": broken\n{"id": "c"}\n'
    assert "line 2 is unreadable" in caplog.text
