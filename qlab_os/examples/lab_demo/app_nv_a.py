"""nv_a, the hub of the three-node lab demo (qlab_os/demo_lab.py runs it; docs/demo.md explains it).

1. Bell pairs with nv_b over the NV-NV link, both halves measured at once (netqasm ``create_measure``), in one
   batch of ``pairs`` per basis: Z, X and Y at both ends.
2. Remote state preparation on the ion over the NV-ion link (``create_rsp``), one pair per shot: nv_a measures its
   half in X, which leaves the ion's half in |+> or |-> by the outcome; the ion uses it at once (app_ion.py).
   With ``source="local"`` (a network without the NV-ion link) this part is left out.
3. Classical messages: nv_a sends its RSP outcomes to the ion and receives nv_b's outcomes, so that each side can
   check its correlations, as a protocol would (basis reconciliation).
"""

import json
from typing import Any

from netqasm.sdk import EPRSocket
from netqasm.sdk.build_epr import EprMeasBasis
from netqasm.sdk.external import NetQASMConnection, Socket

BASES = {"Z": EprMeasBasis.Z, "X": EprMeasBasis.X, "Y": EprMeasBasis.Y}


def main(app_config: Any = None, pairs: int = 100, rsp_shots: int = 100,
         bases: tuple[str, ...] = ("Z", "X", "Y"), source: str = "rsp") -> dict[str, Any]:
    me = app_config.app_name
    epr_b = EPRSocket("nv_b")
    epr_ion = EPRSocket("ion")
    rsp_shots = rsp_shots if source == "rsp" else 0
    bell = {}
    rsp = []
    with NetQASMConnection(me, epr_sockets=[epr_b, epr_ion] if source == "rsp" else [epr_b]) as conn:
        for basis in bases:
            results = epr_b.create_measure(number=pairs, basis_local=BASES[basis], basis_remote=BASES[basis])
            conn.flush()
            bell[basis] = [int(r.measurement_outcome) for r in results]
        for _ in range(rsp_shots):
            (result,) = epr_ion.create_rsp(number=1, basis_local=EprMeasBasis.X)
            conn.flush()
            rsp.append(int(result.measurement_outcome))
    if source == "rsp":
        Socket(me, "ion").send(json.dumps(rsp))
    remote = json.loads(Socket(me, "nv_b").recv())
    agree = {basis: sum(a == b for a, b in zip(bell[basis], remote[basis], strict=True)) for basis in bell}
    return {"bell": bell, "rsp": rsp, "agree": agree}
