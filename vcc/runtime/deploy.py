"""The driver ``vcc up`` runs once per site: join that site's Ray cluster, create its detached
actors, start the controller, and exit (the actors live on in the cluster).

    python -m vcc.runtime.deploy SETTINGS_JSON CONFIG_YAML
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import ray

from vcc.actors.remote import NAMESPACE, deploy_site
from vcc.actors.settings import SiteSettings
from vcc.errors import VccError


def main(argv: list[str]) -> int:
    settings = SiteSettings(**json.loads(Path(argv[0]).read_text()))
    config_yaml = Path(argv[1]).read_text()
    address = settings.peers.get(settings.site, "")
    gcs = json.loads(Path(argv[0]).with_name("ray.json").read_text())["address"]
    ray.init(address=gcs, namespace=NAMESPACE, log_to_driver=False, logging_level=logging.WARNING)
    try:
        result = deploy_site(settings, config_yaml)
    except VccError as e:  # a problem the operator can fix (a port taken, ...): one line, no traceback
        print(str(e), file=sys.stderr)
        ray.shutdown()
        return 1
    print(json.dumps({"site": settings.site, "grpc": address, **result}))
    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
