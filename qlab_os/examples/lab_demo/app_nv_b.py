"""nv_b in the three-node lab demo: the far end of the NV-NV Bell pairs (app_nv_a.py). Its halves are measured
at once in the basis nv_a asks for (netqasm ``recv_measure``); it then sends its outcomes to nv_a."""

import json
from typing import Any

from netqasm.sdk import EPRSocket
from netqasm.sdk.external import NetQASMConnection, Socket


def main(app_config: Any = None, pairs: int = 100, bases: tuple[str, ...] = ("Z", "X", "Y")) -> dict[str, Any]:
    me = app_config.app_name
    epr_a = EPRSocket("nv_a")
    bell = {}
    with NetQASMConnection(me, epr_sockets=[epr_a]) as conn:
        for basis in bases:
            results = epr_a.recv_measure(number=pairs)
            conn.flush()
            bell[basis] = [int(r.measurement_outcome) for r in results]
    Socket(me, "nv_a").send(json.dumps(bell))
    return {"bell": bell}
