"""best-over-time plots: axes chosen from the data, reference lines, a PNG written."""

import json

import pytest

from gamify.plots import axis_settings, plot_best_over_time, read_best_over_time


def test_ranks_get_integer_ticks_and_fractional_values_do_not():
    assert axis_settings([5, 60], [9.0, 8.0]).integer_ticks
    assert not axis_settings([5, 60], [9.0, 8.0], lines=[7.5]).integer_ticks
    assert not axis_settings([5, 60], [-3.25, -2.5]).integer_ticks


@pytest.mark.parametrize(
    "times, log_time, unit",
    [
        ([4, 20, 110], False, "s"),  # under two decades, under two minutes
        ([4, 90, 600], True, "min"),  # 4 s to 10 min: over two decades
        ([30, 3000, 7200], True, "h"),
        ([0, 5, 300], False, "min"),  # measured from the first positive time
    ],
)
def test_long_runs_get_a_log_time_axis_in_readable_units(times, log_time, unit):
    settings = axis_settings(times, [3.0] * len(times))
    assert (settings.log_time, settings.time_unit) == (log_time, unit)
    assert settings.seconds_per_unit == {"s": 1, "min": 60, "h": 3600}[unit]


def test_nothing_to_plot_is_an_error():
    with pytest.raises(ValueError, match="no best value"):
        axis_settings([], [])


def test_plot_writes_a_png_with_title_and_reference_lines(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    records = [{"iteration": 1, "elapsed": 3.0, "best_return": None}]
    records += [{"iteration": i, "elapsed": 3.0 * 2**i, "best_return": -12.0 + i // 3} for i in range(2, 10)]
    metrics.write_text("".join(json.dumps(r) + "\n" for r in records) + '{"iterat')  # a torn last line
    assert read_best_over_time(metrics, negate=True) == (
        [3.0 * 2**i for i in range(2, 10)],
        [12 - i // 3 for i in range(2, 10)],
    )
    out = tmp_path / "best_rank.png"
    plot_best_over_time(
        metrics, out, ylabel="best rank", negate=True, title="⟨2,2,2⟩ over Z2", target=9, best_known=7, dpi=80
    )
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
