"""Scenario files: valid examples load; bad ones give one line per problem with its path; sampling
and schedules follow their distributions and seeds."""

from __future__ import annotations

import random
import statistics
from pathlib import Path

import pytest

from vcc.config import load_config
from vcc.errors import ConfigError
from vcc.load.sampling import poisson_offsets, sample, schedule
from vcc.load.scenario import Duration, check_against, load_scenario, read_offsets

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["erlang-c-small", "erlang-a-small", "three-sites-mix", "replay-burst"])
def test_shipped_scenarios_load(name: str) -> None:
    s = load_scenario(ROOT / "cluster" / "scenarios" / f"{name}.yaml")
    assert s.duration_s > 0 and s.arrivals


def test_shipped_scenarios_match_their_clusters() -> None:
    three = load_config(ROOT / "cluster" / "three-sites.yaml")
    erl = load_config(ROOT / "cluster" / "scenarios" / "erlang-cluster.yaml")
    check_against(load_scenario(ROOT / "cluster/scenarios/three-sites-mix.yaml"), three, "mix")
    check_against(load_scenario(ROOT / "cluster/scenarios/erlang-c-small.yaml"), erl, "erl")


def errors_of(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert info.value.exit_code == 2
    return info.value.lines()


def test_unknown_key_and_bad_values_name_their_path(tmp_path: Path) -> None:
    lines = errors_of(tmp_path, "duration_s: -3\narrivals:\n"
                                "  - {tenant: a, channel: chat, rate_per_s: 1, colour: red}\n")
    text = "\n".join(lines)
    assert "duration_s" in text and "arrivals[0].colour" in text
    assert all("\n" not in line for line in lines) and all(line.startswith(str(tmp_path)) for line in lines)


def test_stream_shape_rules(tmp_path: Path) -> None:
    lines = errors_of(tmp_path, "duration_s: 5\narrivals:\n  - {tenant: a, rate_per_s: 1}\n"
                                "  - {tenant: a, channel: chat}\n  - {tenant: a, channel: chat, process: replay}\n")
    text = "\n".join(lines)
    assert "arrivals[0]" in text and "exactly one of entry_point and channel" in text
    assert "arrivals[1]" in text and "rate_per_s > 0" in text
    assert "arrivals[2]" in text and "needs replay_csv" in text


def test_bad_csv_is_named_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("offset_s\n1.0\nsoon\n")
    lines = errors_of(tmp_path, "duration_s: 5\narrivals:\n  - {tenant: a, channel: chat, process: replay, "
                                "replay_csv: t.csv}\n")
    assert any("arrivals[0].replay_csv" in line and "line 3" in line and "'soon'" in line for line in lines)


def test_media_callers_need_a_web_voice_widget(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("duration_s: 5\nmedia: true\narrivals:\n"
                    "  - {tenant: acme, entry_point: '+33140000001', rate_per_s: 1}\n"
                    "  - {tenant: nimbus, channel: voice, rate_per_s: 1}\n"
                    "  - {tenant: acme, entry_point: acme-web-call, rate_per_s: 1}\n"
                    "  - {tenant: acme, channel: voice, rate_per_s: 1}\n"
                    "  - {tenant: nimbus, channel: chat, rate_per_s: 1}\n")
    scenario = load_scenario(path)  # media: true is a valid scenario
    assert scenario.media
    with pytest.raises(ConfigError) as info:
        check_against(scenario, load_config(ROOT / "cluster" / "three-sites.yaml"), str(path))
    lines = info.value.lines()
    assert len(lines) == 2, lines  # streams 2, 3 and 4 are fine (a widget, a widget by channel, chat)
    assert "arrivals[0].entry_point: media callers come through a web voice widget" in lines[0]
    assert "'+33140000001' is not one (tenant acme's: acme-web-call)" in lines[0]
    assert "arrivals[1].channel: media callers come through a web voice widget, and tenant nimbus has none" in lines[1]


def test_references_are_checked_against_the_cluster(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("duration_s: 5\narrivals:\n  - {tenant: nobody, channel: chat, rate_per_s: 1}\n"
                    "  - {tenant: nimbus, channel: email, rate_per_s: 1, sites: [Z]}\nagents: {ids: [ghost]}\n")
    with pytest.raises(ConfigError) as info:
        check_against(load_scenario(path), load_config(ROOT / "cluster" / "three-sites.yaml"), str(path))
    text = "\n".join(info.value.lines())
    assert "arrivals[0].tenant: no tenant 'nobody'" in text
    assert "arrivals[1].channel: tenant nimbus has no email entry point" in text
    assert "arrivals[1].sites: no site 'Z'" in text and "agents.ids: no agent 'ghost'" in text


def test_distributions_have_their_means() -> None:
    rng = random.Random(5)
    for d, mean in ((Duration(dist="exponential", mean_s=2.0), 2.0), (Duration(dist="uniform", min_s=1, max_s=3), 2.0),
                    (Duration(dist="lognormal", mean_s=3.0, sd_s=1.5), 3.0), (Duration(mean_s=0.7), 0.7)):
        got = statistics.fmean(sample(d, rng) for _ in range(20_000))
        assert abs(got - mean) < 0.05 * mean, (d, got)
    clipped = [sample(Duration(dist="exponential", mean_s=1.0, max_s=1.5), rng) for _ in range(2000)]
    assert max(clipped) == 1.5


def test_poisson_rate_and_seeded_schedule(tmp_path: Path) -> None:
    offsets = list(poisson_offsets(10.0, 1000.0, random.Random(1)))
    assert abs(len(offsets) / 1000.0 - 10.0) < 0.3 and offsets == sorted(offsets)
    path = tmp_path / "s.yaml"
    path.write_text("duration_s: 100\narrivals:\n  - {tenant: a, channel: chat, rate_per_s: 2, "
                    "patience_s: {dist: fixed, mean_s: 9}}\n  - {tenant: b, channel: chat, rate_per_s: 1}\n")
    streams = load_scenario(path).arrivals
    one = list(schedule(streams, 100.0, seed=4))
    assert one == list(schedule(streams, 100.0, seed=4)) and one != list(schedule(streams, 100.0, seed=5))
    assert [a.offset_s for a in one] == sorted(a.offset_s for a in one)
    assert {a.patience_s for a in one if a.stream == 0} == {9.0} and {a.patience_s for a in one if a.stream == 1} == {0}
    # adding a stream leaves the first stream's arrivals as they were
    assert [a for a in one if a.stream == 0] == list(schedule(streams[:1], 100.0, seed=4))


def test_replayed_offsets(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text("when,offset_s\nx,3\ny,1.5\n\n")
    assert read_offsets(tmp_path / "r.csv") == [1.5, 3.0]
