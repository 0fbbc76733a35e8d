"""Checkpoints and masks verify themselves: a damaged or foreign file is
named with the problem and the way to recover, never used; a resume under changed conditions is
flagged and recorded. The math behind "bit-identical resume" is tested in test_train.py."""
import json
import warnings

import pytest

torch = pytest.importorskip("torch")

from sketchbound.dnn.training import ConcurrentTrainer, TrainJob  # noqa: E402
from sketchbound.dnn.training.checkpoint import MAGIC, conditions, load_verified, save_verified  # noqa: E402

from test_train import SCHED, Toy, toy_data, toy_masks  # noqa: E402  (tests/dnn is on sys.path)

ID = {"kind": "checkpoint", "name": "r", "seed": 0}


def _file(tmp_path):
    p = tmp_path / "x.pt"
    save_verified(p, {"w": torch.arange(5.0)}, identity=ID)
    return p


def test_round_trip_and_conditions(tmp_path):
    obj, cond = load_verified(_file(tmp_path), identity=ID)
    assert torch.equal(obj["w"], torch.arange(5.0)) and cond == conditions("cpu")


@pytest.mark.parametrize("damage,needle", [
    (lambda b: b"", "empty file"),
    (lambda b: b[: len(b) // 2], "truncated"),
    (lambda b: b[:-1] + bytes([b[-1] ^ 1]), "digest"),
    (lambda b: b[: len(MAGIC) + 40] + bytes([b[len(MAGIC) + 40] ^ 0x01]) + b[len(MAGIC) + 41:], "changed"),
    (lambda b: bytes(range(256)) * 4, "wrong header"),
    (lambda b: b + b"extra", "padded"),
])
def test_damaged_file_is_named_with_recovery_hint(tmp_path, damage, needle):
    p = _file(tmp_path)
    p.write_bytes(damage(p.read_bytes()))
    with pytest.raises(ValueError) as e:
        load_verified(p, identity=ID)
    msg = str(e.value)
    assert str(p) in msg and "delete this file" in msg and needle in msg


def test_file_of_another_run_is_refused(tmp_path):
    p = _file(tmp_path)
    with pytest.raises(ValueError, match="belongs to"):
        load_verified(p, identity={**ID, "seed": 1})


def _trainer(tmp_path, model=None):
    data = toy_data()
    m = model or Toy(0)
    job = TrainJob(m, toy_masks(m), seed=0, checkpoint=tmp_path / "ck.pt", name="run-a")
    return ConcurrentTrainer([job], data, SCHED, device="cpu", progress=False)


def test_trainer_refuses_a_corrupted_checkpoint(tmp_path):
    tr = _trainer(tmp_path)
    tr.run(stop_after_epochs=1)
    ck = tmp_path / "ck.pt"
    raw = bytearray(ck.read_bytes())
    raw[-100] ^= 0xFF
    ck.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="ck.pt.*digest"):
        _trainer(tmp_path)


def test_resume_under_changed_threads_is_flagged_and_recorded(tmp_path):
    tr = _trainer(tmp_path)
    tr.run(stop_after_epochs=1)
    n = torch.get_num_threads()
    try:
        torch.set_num_threads(1 if n != 1 else 2)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            tr2 = _trainer(tmp_path)
        assert any("changed conditions" in str(x.message) for x in w)
        res = tr2.run()[0]
        assert res.finished and "cpu_threads" in res.resume_note["resumed_under_changed_conditions"]
        json.dumps(res.to_dict())  # serialisable into result.json
    finally:
        torch.set_num_threads(n)


def test_same_conditions_resume_has_no_note(tmp_path):
    tr = _trainer(tmp_path)
    tr.run(stop_after_epochs=1)
    res = _trainer(tmp_path).run()[0]
    assert res.finished and res.resume_note is None and res.resumed_from_epoch == 1
