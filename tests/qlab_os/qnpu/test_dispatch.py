"""Every instruction of every netqasm 2.3 flavour has a handler in the executor."""

import pytest
from netqasm.lang.instr.flavour import NVFlavour, TrappedIonFlavour, VanillaFlavour

from qlab_os.qnpu.executor import HANDLERS


@pytest.mark.parametrize("flavour", [VanillaFlavour(), NVFlavour(), TrappedIonFlavour()], ids=type)
def test_every_instruction_has_a_handler(flavour):
    missing = sorted(cls.mnemonic for cls in flavour.id_map.values() if cls not in HANDLERS)
    assert missing == []
