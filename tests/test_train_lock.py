"""A second trainer on a run folder is refused, naming the first; the lock dies with its holder."""
import os
import signal
import subprocess
import sys

import pytest

from facegen.training.data import TrainingError
from facegen.training.lock import RunLock, hold_run_folder

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="run folders are locked with flock")

HOLDER = """
import sys, time
from facegen.training.lock import RunLock
RunLock(sys.argv[1]).acquire()
print("locked", flush=True)
time.sleep(600)
"""


def test_a_second_holder_in_the_same_process_is_refused_until_the_first_lets_go(tmp_path):
    run = tmp_path / "run"
    with hold_run_folder(run):
        with pytest.raises(TrainingError, match=rf"run: another facegen train \(pid {os.getpid()} on .*\) is "
                                                r"training in this run folder"):
            RunLock(run).acquire()
    RunLock(run).acquire().release()
    with hold_run_folder(run, enabled=False) as lock:  # the other processes of a distributed run
        assert lock is None
        RunLock(run).acquire().release()


def test_the_lock_is_released_when_its_process_is_killed(tmp_path):
    run = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"  # holds it from here on
        with pytest.raises(TrainingError, match=rf"pid {holder.pid} "):
            RunLock(run).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        holder.stdout.close()
    RunLock(run).acquire().release()
