"""netlab: emulated networks on one machine, for rehearsing studies against a known truth.

Topology in (hosts, the ports they serve, links with one-way delays and jitter), ready hosts and
addresses out, cleanup guaranteed:

    from loadtests.netlab import Host, Lab, Link, Topology

    topo = Topology(
        hosts=(Host("user"), Host("edge", ports=(80,)), Host("origin", ports=(8080,))),
        links=(Link("user", "edge", 5), Link("edge", "origin", 40)),
    )
    with Lab(topo) as lab:
        lab.run("origin", ["delay-echo", "--listen", "0.0.0.0:8080"])
        lab.wait_tcp("origin", 8080)
        lab.exec("user", ["curl", lab.url("edge", 80, "/")], timeout=10)

See README.md in this folder for the details and the CLI (`python -m loadtests.netlab`).
"""

from .lab import HostInfo, Lab, NetlabError, check_prerequisites, cleanup, netem_available
from .topology import Host, Link, Topology, TopologyError

__all__ = [
    "Host",
    "HostInfo",
    "Lab",
    "Link",
    "NetlabError",
    "Topology",
    "TopologyError",
    "check_prerequisites",
    "cleanup",
    "netem_available",
]
