"""The metrics sampler: a curve for a short run, and no sample of a process that ended (a
zero PSS at the end halved the average and made the maximum twice it)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from hyperloop.analysis.metrics import DeviceMetrics, Sampler, metrics_summary, sample_interval


def test_a_device_whose_process_ended_gets_no_zero_memory_sample():
    # the child says when it is up (its memory no longer grows), then lives until told to end
    code = "import sys; print('up', flush=True); sys.stdin.readline()"
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout.readline().strip() == "up"
    device = DeviceMetrics("gone-task", wagon_id=1, workflow="gone-task", pid=child.pid)
    here = DeviceMetrics("internal-dpl-aod-writer", pid=os.getpid())
    sampler = Sampler([device, here], interval=0.05).start()
    deadline = time.monotonic() + 60
    while len(device.series.get("residentSetSize", [])) < 3:  # a few samples while it lives
        assert time.monotonic() < deadline, "the sampler took no sample of the child"
        time.sleep(0.05)
    child.communicate("end\n")
    time.sleep(0.2)  # samples after the end: the process is gone (reaped)
    sampler.stop()
    values = [int(v) for _, v in device.series["proportionalSetSize"]]
    assert values and min(values) > 0, values
    rss = [int(v) for _, v in device.series["residentSetSize"]]
    assert len(rss) >= 3 and min(rss) > 0, rss
    # CPU samples go on (the device's CPU is counted by its own process)
    assert len(device.series["cpuUsedAbsolute"]) > len(rss)
    summary = metrics_summary([device, here], wall=0.7, n_input_files=0)
    pss = summary["gone-task"]["proportionalSetSize_summary"]
    assert pss["max"] < 1.5 * pss["avg"], pss


def test_default_interval_is_a_tenth_of_a_second_and_configurable(monkeypatch):
    monkeypatch.delenv("HYPERLOOP_METRICS_SAMPLE_INTERVAL", raising=False)
    assert sample_interval() == 0.1
    monkeypatch.setenv("HYPERLOOP_METRICS_SAMPLE_INTERVAL", "0.25")
    assert sample_interval() == 0.25
    assert Sampler([]).interval == 0.25


def test_long_runs_are_sampled_less_often():
    sampler = Sampler([], interval=0.1)
    assert sampler.next_wait() == 0.1
    sampler._t0 -= 3600  # an hour into the run
    assert sampler.next_wait() == pytest.approx(3600 / Sampler.SPAN_SAMPLES, rel=0.01)
