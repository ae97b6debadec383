"""The driver's main job on a safe local default: start the real
two-process driver on a local socket and talk CSI to it over gRPC, as
kubelet would. Prints what it did."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "wire"))
from driver import Driver, csi_pb2, proc_status  # noqa: E402


def main():
    d = Driver(nodeid=os.uname().nodename)
    try:
        print(f"driver started: privd pid {d.proc.pid}, socket {d.sock}")
        info = d.identity().GetPluginInfo(csi_pb2.GetPluginInfoRequest(), timeout=5)
        print(f"GetPluginInfo: name={info.name} version={info.vendor_version}")
        caps = d.identity().GetPluginCapabilities(csi_pb2.GetPluginCapabilitiesRequest(),
                                                  timeout=5)
        names = [csi_pb2.PluginCapability.Service.Type.Name(c.service.type)
                 for c in caps.capabilities if c.HasField("service")]
        print(f"GetPluginCapabilities: {', '.join(names)}")
        probe = d.identity().Probe(csi_pb2.ProbeRequest(), timeout=5)
        print(f"Probe (round trip to privd): ready={probe.ready.value}")
        for name, pid in (("privd", d.proc.pid), ("frontend", d.frontend_pid())):
            st = proc_status(pid)
            print(f"{name:9s} uid={st['Uid'].split()[0]:>5s} CapEff={st['CapEff']} "
                  f"NoNewPrivs={st['NoNewPrivs']} Seccomp={st['Seccomp']}")
    finally:
        rc = d.stop()
        print(f"driver stopped with exit code {rc}; audit log: {d.audit}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
