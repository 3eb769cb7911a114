"""The crash torture of bench/torture.py, small: kill -9 training while a checkpoint is being written and
at a random moment, prepare mid-way, and generate while it writes; everything on disk must be whole,
and the resumed run must end bit-equal to an uninterrupted one. `python bench/torture.py` runs 20 kills.
"""
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import torture  # noqa: E402


def test_killed_training_resumes_bit_equal_with_every_checkpoint_whole(tmp_path):
    # Room for the write-aimed kill to be aimed again (bench/torture.py WRITE_RETRIES) on a busy machine.
    r = torture.torture_training(tmp_path, kills=2, steps=20, rng=random.Random(1))
    assert r["kills"] >= 2 and r["kills_mid_checkpoint_write"] >= 1  # the first kill aims at a write
    assert r["every_checkpoint_loaded"] and r["resume_never_lost_more_than_one_interval"]
    assert r["final_state_bit_equal"] and r["model_file_bit_equal"] and r["tensors_compared"] > 100


def test_killed_prepare_leaves_nothing_partial_and_the_rerun_is_complete(tmp_path):
    r = torture.torture_prepare(tmp_path, kills=1, files=200, rng=random.Random(2))
    assert r["complete"] and r["final_faces"] == 200 and r["duplicates"] == 0 and not r["temp_folders_left"]


def test_killed_generate_leaves_only_whole_files(tmp_path):
    r = torture.torture_commands(tmp_path, tmp_path, kills=2, rng=random.Random(3), only=["generate"])["generate"]
    assert r["files_when_complete"] == 49 and r["partial_files_under_final_names"] == []
