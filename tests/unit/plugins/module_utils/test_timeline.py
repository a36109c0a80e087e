"""The replica-count timeline: only changes, bounded, first entry kept."""

from ansible_collections.kubedev.devloop.plugins.module_utils.timeline import Timeline


def counts(updated, total=3):
    return {"updated": updated, "ready": total, "available": total, "total": total}


def test_records_only_changes():
    timeline = Timeline()
    assert timeline.record(0.0, counts(0)) is True
    assert timeline.record(0.5, counts(0)) is False
    assert timeline.record(1.234, counts(1)) is True
    assert timeline.as_list() == [dict(t=0.0, **counts(0)), dict(t=1.23, **counts(1))]


def test_keeps_the_first_and_the_latest_entries():
    timeline = Timeline(max_entries=4)
    for step in range(10):
        timeline.record(float(step), counts(step, total=10))
    assert [e["t"] for e in timeline.as_list()] == [0.0, 7.0, 8.0, 9.0]


def test_returned_entries_are_copies():
    timeline = Timeline()
    timeline.record(0, counts(0))
    timeline.as_list()[0]["updated"] = 99
    assert timeline.as_list()[0]["updated"] == 0
