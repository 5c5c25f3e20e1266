"""The ion node in the three-node lab demo: a two-qubit gate on its two-ion chain, shot by shot.

Per shot, q0 is either the ion's half of a pair from nv_a (``source="rsp"``: ``recv_rsp``, in |+> or |-> by nv_a's
X outcome m, app_nv_a.py) or |+> made locally (``source="local"``, m = 0). A CNOT from q0 to a fresh ion q1 (the
driver makes it from the Molmer-Sorensen gate) turns that into (|00> +- |11>)/sqrt2. Even shots measure both ions
in Z (they agree), odd shots in X (their parity is m). With remote preparation, nv_a then sends its outcomes and
the ion counts the shots that agree with theory.
"""

import json
from typing import Any

from netqasm.sdk import EPRSocket, Qubit
from netqasm.sdk.external import NetQASMConnection, Socket


def main(app_config: Any = None, rsp_shots: int = 100, source: str = "rsp") -> dict[str, Any]:
    me = app_config.app_name
    epr_a = EPRSocket("nv_a")
    shots = []
    with NetQASMConnection(me, epr_sockets=[epr_a] if source == "rsp" else []) as conn:
        for shot in range(rsp_shots):
            # q1 first: initialising an ion lights the whole chain, which the driver allows only while the other
            # ions hold a basis state (q1 is |0> until the CNOT)
            q1 = Qubit(conn)
            if source == "rsp":
                (q0,) = epr_a.recv_rsp(number=1)
            else:
                q0 = Qubit(conn)
                q0.H()
            q0.cnot(q1)
            basis = "Z" if shot % 2 == 0 else "X"
            if basis == "X":
                q0.H()
                q1.H()
            m0, m1 = q0.measure(), q1.measure()
            conn.flush()
            shots.append((basis, int(m0), int(m1)))
    remote = json.loads(Socket(me, "nv_a").recv()) if source == "rsp" else [0] * rsp_shots
    agree = {"Z": 0, "X": 0}
    for (basis, m0, m1), m in zip(shots, remote, strict=True):
        agree[basis] += int(m0 == m1) if basis == "Z" else int((m0 ^ m1) == m)
    return {"shots": shots, "agree": agree}
