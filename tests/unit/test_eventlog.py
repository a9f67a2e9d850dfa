from __future__ import annotations

from pathlib import Path

from vcc.runtime.eventlog import EventLog


def test_append_assigns_sequence_and_reads_back(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    assert log.append([{"kind": "contact", "n": 1}, {"kind": "agent", "n": 2}]) == 2
    assert log.append([{"n": 3}]) == 3
    assert [e["n"] for e in log.read()] == [1, 2, 3]
    assert [e["seq"] for e in log.read(from_seq=2)] == [2, 3]


def test_reopen_continues_sequence(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    log.append([{"n": i} for i in range(5)])
    log.close()
    again = EventLog(tmp_path)
    assert again.last_seq == 5
    assert again.append([{"n": 5}]) == 6
    assert [e["seq"] for e in again.read()] == [1, 2, 3, 4, 5, 6]


def test_torn_tail_is_cut_not_read(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    log.append([{"n": 1}, {"n": 2}])
    log.close()
    segment = next(tmp_path.glob("events-*.jsonl"))
    with open(segment, "ab") as f:
        f.write(b'{"n":3,"seq":3,"kind":"con')  # a crash mid-write
    again = EventLog(tmp_path)
    assert again.last_seq == 2
    assert [e["n"] for e in again.read()] == [1, 2]
    assert again.append([{"n": 3}]) == 3
    assert [e["n"] for e in again.read()] == [1, 2, 3]


def test_segments_roll_and_replay_across_them(tmp_path: Path) -> None:
    log = EventLog(tmp_path, segment_events=3)
    log.append([{"n": i} for i in range(7)])
    log.append([{"n": 7}])
    assert len(list(tmp_path.glob("events-*.jsonl"))) == 3
    assert [e["n"] for e in log.read()] == list(range(8))
    assert [e["n"] for e in log.read(from_seq=5)] == [4, 5, 6, 7]
    log.close()
    assert EventLog(tmp_path, segment_events=3).last_seq == 8
