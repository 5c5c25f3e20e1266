"""The lab side of qlab-os: QCoDeS stations (loading, checking, safe state) and calibration routines.

- :mod:`qlab_os.lab.station_config`: read and check a QCoDeS Station YAML;
- :mod:`qlab_os.lab.station`: connect it as a :class:`~qlab_os.lab.station.QlabStation` with a safe state;
- :mod:`qlab_os.lab.errors`: errors that name the failing instrument (unreachable, timeout, reply, identity);
- :mod:`qlab_os.lab.cli`: ``qlab-os station check``.

Instrument drivers are never imported here: a station file names them by their dotted path.
"""
