"""The reclaim thread of the real node driver, on the host: it scans the
local volume root with the Kubernetes API stand-in and privd stays up.
(A volume directory on disk once crashed privd at the first scan: the
thread handed its callbacks the API context instead of its own.) The
erase decisions themselves are tested in tests/k8s and, on dm-crypt, in
tests/e2e/test_kube_integration.py."""
import os
import re
import shutil
import sys
import time

import pytest

from driver import ROOT

sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from fake_kube import FakeKube  # noqa: E402
from lcw_e2e import Env  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start the driver")


def test_reclaim_scans_with_volumes_on_disk_and_privd_lives():
    kube = FakeKube()
    env = Env(scratch=os.environ.get("TMPDIR", "/tmp"), tag="wire-reclaim")
    vol = "pvc-reclaim-scan"
    os.makedirs(os.path.join(env.local, vol))
    open(env.backing(vol), "wb").close()
    kube.set_pvs([])  # no PV: the volume is a candidate
    node = None
    try:
        node = env.node_driver(extra=kube.driver_args() + [
            "--reclaim-interval-seconds=1", "--reclaim-grace-seconds=3600"])
        end = time.time() + 30
        while time.time() < end and len(re.findall(r"reclaim: 1 volumes", node.output())) < 3:
            time.sleep(0.2)
        assert len(re.findall(r"reclaim: 1 volumes", node.output())) >= 3, node.output()[-3000:]
        assert node.proc.poll() is None, node.output()[-3000:]
        # within the grace period nothing is erased
        assert os.path.exists(env.backing(vol))
    finally:
        if node is not None:
            assert node.stop() == 0, node.output()[-3000:]
        kube.stop()
        shutil.rmtree(env.base, ignore_errors=True)
