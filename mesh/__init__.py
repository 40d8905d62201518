"""The estate: config, the Azure gateway, probe -> Snapshot, assessment."""

import logging

# A library logs only where its application sends it (mesh.logs); never to
# stderr by default.
logging.getLogger("tdemesh").addHandler(logging.NullHandler())
