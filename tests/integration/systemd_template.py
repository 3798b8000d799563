# SPDX-License-Identifier: MIT
"""python3-dbusmock's systemd template, with what mamorid asks of systemd
(LoadUnit, Subscribe, SubState) and the units given as parameters, so that
they exist the moment the name is on the bus, as with the real systemd:
    python3 -m dbusmock --system -t tests/integration/systemd_template.py \\
        -p '{"units": {"clamav-daemon.service": ["active", "running", "loaded"]}}'"""

import dbus

from dbusmock import mockobject
from dbusmock.templates import systemd as base
from dbusmock.templates.systemd import *  # noqa: F401,F403  (the template's D-Bus methods)

BUS_NAME = base.BUS_NAME
MAIN_OBJ = base.MAIN_OBJ
MAIN_IFACE = base.MAIN_IFACE
SYSTEM_BUS = True


def load(mock, parameters):
    base.load(mock, parameters)
    mock.AddMethod(MAIN_IFACE, "LoadUnit", "s", "o", "ret = self.units[args[0]]")
    mock.AddMethod(MAIN_IFACE, "Subscribe", "", "", "")
    for name, (active, sub, load_state) in parameters.get("units", {}).items():
        base.AddMockUnit(mock, name)
        unit = mockobject.objects[mock.units[name]]
        unit.AddProperty(base.UNIT_IFACE, "SubState", dbus.String(sub))
        unit.UpdateProperties(base.UNIT_IFACE, {"ActiveState": dbus.String(active),
                                                "LoadState": dbus.String(load_state)})
