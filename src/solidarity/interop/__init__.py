"""Interoperability: DCI Social Registry and IBR servers, the CRVS client.

Importing the package installs the registry-change hook that feeds DCI
notifications (see :mod:`solidarity.interop.events` and docs/interoperability.md).
"""

from solidarity.interop.events import install as _install_registry_hook

_install_registry_hook()
