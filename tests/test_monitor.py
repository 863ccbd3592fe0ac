import json

import pytest
import torch

from ganstudio.train.models import DCGANDiscriminator, DCGANGenerator
from ganstudio.artifact import rundir
from ganstudio.train import monitor


def test_layer_weights_are_the_conv_layers_first_first():
    critic = DCGANDiscriminator(8, 28, 1, norm="layer", spectral_norm=True)
    names = [n for n, _ in monitor.layer_weights(critic)]
    assert names == ["features.0", "features.2", "head"]  # no LayerNorm gains, spectral norm unwrapped
    assert [n for n, _ in monitor.layer_weights(DCGANGenerator(8, 8, 28, 1))] == ["net.0", "net.3", "net.6"]


def test_grad_norms_name_each_layer():
    g = DCGANGenerator(8, 8, 28, 1)
    g(torch.randn(2, 8)).mean().backward()
    norms = monitor.grad_norms("G", monitor.layer_weights(g))
    assert list(norms) == ["grad/G/net.0", "grad/G/net.3", "grad/G/net.6"]
    assert norms["grad/G/net.6"].item() == pytest.approx(g.net[6].weight.grad.norm().item())


def test_monitor_averages_each_interval_and_writes_once(tmp_path):
    m = monitor.Monitor(tmp_path, log_every=2, tensorboard=False)
    assert m.add(0, {"a": torch.tensor(1.0)}) is None
    assert m.add(1, {"a": torch.tensor(3.0)}) == {"a": 2.0}
    m.add(2, {"a": torch.tensor(5.0)})
    m.flush(2)  # the partial last interval
    rows = [json.loads(x) for x in (tmp_path / rundir.METRICS_FILE).read_text().splitlines()]
    assert rows == [{"step": 2, "a": 2.0}, {"step": 3, "a": 5.0}]
    rundir.keep_rows(tmp_path / rundir.METRICS_FILE, 1)
    assert rundir.last_row(tmp_path / rundir.METRICS_FILE, 10) == {"a": 2.0}


def test_diversity_is_the_spread_across_the_batch_and_zero_for_copies_of_one_image():
    real = torch.rand(64, 1, 28, 28)
    same = real[:1].expand(64, -1, -1, -1)
    d = monitor.diversity(real, same)
    assert d["diversity_fake"].item() == 0.0
    assert d["diversity_real"].item() == pytest.approx(real.std(0).mean().item())
    assert d["diversity_real"].item() == pytest.approx((1 / 12) ** 0.5, rel=0.05)  # the std of U(0, 1)


def test_the_last_step_flushes_a_partial_interval_and_a_rolled_back_one_is_never_written(tmp_path):
    m = monitor.Monitor(tmp_path, log_every=10, tensorboard=False)
    m.add(0, {"a": torch.tensor(float("nan"))})
    m.resume({"keys": None, "count": 0, "sums": None, "rows": 0}, 0, torch.device("cpu"))  # a rollback to step 0
    assert m.add(0, {"a": torch.tensor(1.0)}) is None
    assert m.add(1, {"a": torch.tensor(3.0)}, last=True) == {"a": 2.0}
    assert rundir.read_rows(tmp_path / rundir.METRICS_FILE) == [{"step": 2, "a": 2.0}]


def test_a_torn_last_line_is_dropped_with_one_warning(tmp_path, capsys):
    """A kill mid-append (or a full disk) leaves half a row at the end: readers drop it and say so once."""
    from ganstudio.errors import UserError

    path = tmp_path / rundir.METRICS_FILE
    path.write_text('{"step": 5, "a": 1.0}\n{"step": 10, "a": 2.0}\n{"step": 15, "a"')
    assert rundir.read_rows(path) == [{"step": 5, "a": 1.0}, {"step": 10, "a": 2.0}]
    assert rundir.read_rows(path) == [{"step": 5, "a": 1.0}, {"step": 10, "a": 2.0}]
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and "torn" in err and "\n" == err[-1] and err.count("\n") == 1
    path.write_text('{"step": 5, "a": 1.0}\n{"step": 10, "a" 2.0}\n{"step": 15, "a": 3.0}\n')
    with pytest.raises(UserError, match="line 2 .* not a JSON row"):
        rundir.read_rows(path)
    path.write_text('{"step": 5, "a": 1.0}\n[1, 2]\n')
    with pytest.raises(UserError, match="line 2"):
        rundir.read_rows(path)
    path.write_text('{"a": 1.0}\n')
    with pytest.raises(UserError, match="line 1"):
        rundir.read_rows(path)


def test_keeping_the_first_rows_rewrites_the_log_atomically_and_drops_a_torn_tail(tmp_path, capsys):
    path = tmp_path / rundir.ALERTS_FILE
    path.write_text('{"step": 5, "kind": "x", "message": "m"}\n{"step": 9, "kind": "y", "message": "n"}\n{"st')
    rundir.keep_rows(path, 1)
    assert path.read_text() == '{"step": 5, "kind": "x", "message": "m"}\n'
    rundir.keep_rows(path, 5)  # fewer rows than asked: all of them
    assert path.read_text() == '{"step": 5, "kind": "x", "message": "m"}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == [rundir.ALERTS_FILE]


def test_an_interval_open_at_a_checkpoint_carries_on_after_resume(tmp_path):
    """Rows of a run stopped (or ended) between two rows, then resumed, are those of one uninterrupted run."""
    values = [torch.tensor(float(v)) for v in (1, 2, 4, 8, 16, 32)]
    straight = monitor.Monitor(tmp_path / "a", log_every=4, tensorboard=False)
    (tmp_path / "a").mkdir()
    for step, v in enumerate(values):
        straight.add(step, {"x": v}, last=step == 5)
    stopped = monitor.Monitor(tmp_path / "b", log_every=4, tensorboard=False)
    (tmp_path / "b").mkdir()
    for step, v in enumerate(values[:3]):
        stopped.add(step, {"x": v}, last=step == 2)  # ends at step 3 with a partial row
    assert stopped.pending and rundir.read_rows(stopped.path) == [{"step": 3, "x": pytest.approx(7 / 3)}]
    saved = json.loads(json.dumps(stopped.state()))  # as a checkpoint's metadata carries it
    resumed = monitor.Monitor(tmp_path / "b", log_every=4, tensorboard=False)
    resumed.resume(saved, 3, torch.device("cpu"))
    for step, v in enumerate(values[3:], start=3):
        resumed.add(step, {"x": v}, last=step == 5)
    assert rundir.read_rows(resumed.path) == rundir.read_rows(straight.path)
    assert rundir.read_rows(straight.path) == [{"step": 4, "x": 15 / 4}, {"step": 6, "x": 24.0}]


def test_an_eval_measured_at_a_logged_step_goes_into_that_row(tmp_path):
    m = monitor.Monitor(tmp_path, log_every=2, tensorboard=False)
    m.add(0, {"a": torch.tensor(1.0)})
    assert m.add(1, {"a": torch.tensor(3.0)}, extra={"eval/recall": 0.5}) == {"a": 2.0, "eval/recall": 0.5}
    rows = [json.loads(x) for x in (tmp_path / rundir.METRICS_FILE).read_text().splitlines()]
    assert rows == [{"step": 2, "a": 2.0, "eval/recall": 0.5}]


def test_a_resumed_runs_event_file_sorts_after_the_one_it_resumes(tmp_path):
    """TensorBoard reads event files in name order, and a name starts with its second: a resume within the second
    the previous process began writing must not sort before it (that file's purge would hide the new events)."""
    import time

    board = tmp_path / "tensorboard"
    board.mkdir()
    older = board / f"events.out.tfevents.{int(time.time())}.~.999999.0"  # sorts after any host and pid within a second
    older.write_bytes(b"")
    m = monitor.Monitor(tmp_path, log_every=1, tensorboard=True)
    m.purge_step = 1
    m.add(0, {"x": torch.tensor(1.0)})
    m.close()
    newest = sorted(board.glob("events.out.tfevents.*"))[-1]
    assert newest != older


def test_a_resume_names_its_event_file_after_the_newest_without_waiting_for_the_clock(tmp_path, monkeypatch):
    """Resumed twice within one second, and past a file stamped ahead of the clock: no sleep, and TensorBoard
    shows every step once, the resumed values replacing the purged ones."""
    import time

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.setattr(time, "sleep", lambda s: pytest.fail(f"slept {s} s waiting for the clock"))
    board = tmp_path / "tensorboard"
    board.mkdir()
    ahead = board / f"events.out.tfevents.{int(time.time()) + 5:010d}.host.1.0"  # a clock set back since it was written
    ahead.write_bytes(b"")
    first = monitor.Monitor(tmp_path, log_every=1, tensorboard=True)
    for step in range(4):
        first.add(step, {"x": torch.tensor(float(step))})
    saved = first.state()
    first.close()
    for _ in range(2):  # each resumes at step 2 and logs steps 3 and 4 again, with new values
        again = monitor.Monitor(tmp_path, log_every=1, tensorboard=True)
        again.resume(saved, 2, torch.device("cpu"))
        for step in (2, 3):
            again.add(step, {"x": torch.tensor(10.0 * step)})
        again.close()
    names = sorted(p.name for p in board.iterdir())
    assert names[0] == ahead.name and len(names) == 4 and len(set(n.split(".")[3] for n in names)) == 4
    acc = EventAccumulator(str(board))
    acc.Reload()
    assert [(e.step, e.value) for e in acc.Scalars("x")] == [(1, 0.0), (2, 1.0), (3, 20.0), (4, 30.0)]
